/**
 * The few libc calls needed to drop root (ids, setgroups/setgid/setuid, prctl) and to lock a
 * drive without blocking (open, flock: Deno's FsFile.lock waits for the holder).
 *
 * glibc's set*id wrappers apply the change to every thread of the process (its "setxid"
 * broadcast), which matters because Deno runs tokio worker threads beside the JS thread; the raw
 * syscalls would only change the calling thread.
 */

import { openLibrary } from "./library.ts";

const SYMBOLS = {
  getuid: { parameters: [], result: "u32" },
  geteuid: { parameters: [], result: "u32" },
  getgid: { parameters: [], result: "u32" },
  getegid: { parameters: [], result: "u32" },
  getresuid: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  getresgid: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  getgroups: { parameters: ["i32", "buffer"], result: "i32" },
  setgroups: { parameters: ["usize", "buffer"], result: "i32" },
  setgid: { parameters: ["u32"], result: "i32" },
  setuid: { parameters: ["u32"], result: "i32" },
  // prctl is variadic; on the supported ABIs (x86-64, aarch64) integer varargs travel in the
  // same registers as fixed ones, so a fixed five-argument declaration is sound.
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  // syscall is variadic too; used for seccomp(2), which glibc 2.36 does not wrap.
  syscall: { parameters: ["i64", "u64", "u64", "buffer"], result: "i64" },
  // open is variadic (mode); an integer vararg travels like a fixed one on x86-64 and aarch64.
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  // Reads errno into a buffer: Deno.UnsafePointerView needs an unscoped --allow-ffi, a call
  // into an already opened library needs no permission at all.
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  // memcpy(dst, dst, 0) returns dst: a buffer's address as a number, which the UnsafePointer
  // API would also give but only under an unscoped, unrevoked --allow-ffi.
  buffer_address: { name: "memcpy", parameters: ["buffer", "buffer", "usize"], result: "u64" },
} as const;

export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  5: "EIO",
  11: "EWOULDBLOCK",
  12: "ENOMEM",
  14: "EFAULT",
  13: "EACCES",
  20: "ENOTDIR",
  22: "EINVAL",
  30: "EROFS",
};

export class LibcMissingError extends Error {
  constructor(cause: unknown) {
    super(`libc.so.6 could not be loaded: ${String(cause)}`);
    this.name = "LibcMissingError";
  }
}

/** A failed libc call, with `errno` as read right after it. */
export class LibcCallError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call} failed: ${ERRNO_NAMES[errno] ?? `errno ${errno}`}`);
    this.name = "LibcCallError";
  }
}

type LibcLibrary = Deno.DynamicLibrary<typeof SYMBOLS>;
let library: LibcLibrary | undefined;

function open(): LibcLibrary["symbols"] {
  library ??= openLibrary("libc.so.6", SYMBOLS, (cause) => new LibcMissingError(cause));
  return library.symbols;
}

/** Opens libc now, while `ffi` is still granted; later calls keep working after it is revoked. */
export function loadLibc(): void {
  open();
}

/** Address of a buffer's first byte (byteOffset included), e.g. for `unsigned char **`. */
export function bufferAddress(buffer: Uint8Array): bigint {
  return open().buffer_address(buffer, buffer, 0n);
}

/** errno of the JS thread (libc keeps it per thread; FFI calls run on that thread). */
function errno(): number {
  const symbols = open();
  const value = new Int32Array(1);
  symbols.memcpy(value, symbols.__errno_location(), 4n);
  return value[0];
}

function check(call: string, result: number): void {
  if (result !== 0) throw new LibcCallError(call, errno());
}

export interface ResIds {
  real: number;
  effective: number;
  saved: number;
}

function resIds(call: "getresuid" | "getresgid"): ResIds {
  const real = new Uint32Array(1), effective = new Uint32Array(1), saved = new Uint32Array(1);
  check(call, open()[call](real, effective, saved));
  return { real: real[0], effective: effective[0], saved: saved[0] };
}

export const getuid = (): number => open().getuid();
export const geteuid = (): number => open().geteuid();
export const getgid = (): number => open().getgid();
export const getegid = (): number => open().getegid();
export const getresuid = (): ResIds => resIds("getresuid");
export const getresgid = (): ResIds => resIds("getresgid");

/** Supplementary group ids of the process. */
export function getgroups(): number[] {
  const count = open().getgroups(0, null);
  if (count < 0) throw new LibcCallError("getgroups", errno());
  const list = new Uint32Array(Math.max(count, 1));
  const filled = open().getgroups(count, list);
  if (filled < 0) throw new LibcCallError("getgroups", errno());
  return Array.from(list.subarray(0, filled));
}

export function setgroups(gids: number[]): void {
  const list = Uint32Array.from(gids);
  check("setgroups", open().setgroups(BigInt(list.length), list));
}

export function setgid(gid: number): void {
  check("setgid", open().setgid(gid));
}

export function setuid(uid: number): void {
  check("setuid", open().setuid(uid));
}

const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_CLOEXEC = 0o2000000;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = 11;

/**
 * Opens (creating it, mode 0644) `path` and takes an exclusive flock on it without waiting.
 * Returns the descriptor, which holds the lock until it is closed or the process ends, or
 * undefined when another open file holds the lock. Other failures throw LibcCallError.
 */
export function lockFileExclusive(path: string): number | undefined {
  const symbols = open();
  const fd = symbols.open(
    new TextEncoder().encode(path + "\0"),
    O_RDWR | O_CREAT | O_CLOEXEC,
    0o644,
  );
  if (fd < 0) throw new LibcCallError(`open(${path})`, errno());
  if (symbols.flock(fd, LOCK_EX | LOCK_NB) === 0) return fd;
  const code = errno();
  symbols.close(fd);
  if (code === EWOULDBLOCK) return undefined;
  throw new LibcCallError(`flock(${path})`, code);
}

const SYS_SECCOMP: Record<string, bigint> = { x86_64: 317n, aarch64: 277n };
const SECCOMP_SET_MODE_FILTER = 1n;
const SECCOMP_FILTER_FLAG_TSYNC = 1n;

/**
 * Installs a seccomp filter that allows every call, on all threads at once (TSYNC). Its effect
 * is the side effect the kernel applies while syncing: PR_SET_NO_NEW_PRIVS, which is per
 * thread, is copied from the calling thread to every other thread of the process.
 */
export function seccompAllowAllOnAllThreads(): void {
  const number = SYS_SECCOMP[Deno.build.arch];
  if (number === undefined) throw new LibcCallError("seccomp (unknown architecture)", 38);
  // struct sock_filter { u16 code; u8 jt, jf; u32 k } = BPF_RET|BPF_K, SECCOMP_RET_ALLOW.
  const filter = new Uint8Array(8);
  const view = new DataView(filter.buffer);
  view.setUint16(0, 0x06, true);
  view.setUint32(4, 0x7fff0000, true);
  // struct sock_fprog { u16 len; (padding) struct sock_filter *filter }.
  const program = new Uint8Array(16);
  const programView = new DataView(program.buffer);
  programView.setUint16(0, 1, true);
  programView.setBigUint64(8, bufferAddress(filter), true);
  const result = open().syscall(
    number,
    SECCOMP_SET_MODE_FILTER,
    SECCOMP_FILTER_FLAG_TSYNC,
    program,
  );
  if (result !== 0n) throw new LibcCallError("seccomp(TSYNC)", result < 0n ? errno() : 0);
}

/** prctl(option, arg2, 0, 0, 0); returns the call's result (≥ 0) or throws. */
export function prctl(option: number, arg2 = 0): number {
  const result = open().prctl(option, BigInt(arg2), 0n, 0n, 0n);
  if (result < 0) throw new LibcCallError(`prctl(${option})`, errno());
  return result;
}
