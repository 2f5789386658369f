/**
 * Reads of small files that are already in memory, done on the calling thread.
 *
 * Every Deno.readFile is a round trip through the runtime's blocking thread pool: two thread
 * wake-ups that cost more than the read itself when the file is in the page cache, as
 * metadata (xl.meta, read from every drive of a set on each GET and HEAD) nearly always is.
 * Here the read is done only if the kernel can do it without waiting for a disk:
 * openat2(RESOLVE_CACHED) fails instead of reading a directory from disk, preadv2(RWF_NOWAIT)
 * fails instead of reading file pages from disk. On a memory filesystem (tmpfs), where
 * RWF_NOWAIT is not supported and no read ever waits, a plain preadv2 is used. Any failure
 * returns undefined and the caller reads the asynchronous way, which also reports the error.
 */

import { statfs } from "node:fs/promises";
import { openLibrary } from "./library.ts";
import { bufferAddress } from "./libc.ts";

const SYMBOLS = {
  // syscall is variadic; integer varargs travel in the registers of fixed arguments on the
  // supported ABIs. Used for openat2, which glibc 2.36 does not wrap.
  syscall: { parameters: ["i64", "i64", "buffer", "buffer", "u64"], result: "i64" },
  preadv2: { parameters: ["i32", "buffer", "i32", "i64", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

/** openat2 has the same number on every architecture (it postdates the split tables). */
const SYS_OPENAT2 = 437n;
const AT_FDCWD = -100n;
/** O_RDONLY | O_CLOEXEC | O_NONBLOCK: opening a FIFO must not wait for a writer either. */
const OPEN_FLAGS = 0x80000n | 0x800n;
const RESOLVE_CACHED = 0x20n;
const RWF_NOWAIT = 0x8;
const PATH_MAX = 4096;

/** Larger files are left to the asynchronous path: copying them would stall the event loop. */
export const CACHED_READ_LIMIT = 256 * 1024;
/**
 * Files are read into a shared slab and returned as views of it: a fresh ArrayBuffer for each
 * read cost more than the read itself (~1.5 µs for 4 KiB here, against ~0.1 µs for a view). A
 * view keeps its whole slab alive, hence slabs of modest size.
 */
const SLAB_BYTES = 1 << 20;

/** How a drive's files may be read here: never, only from the page cache, or always. */
export type CachedReadMode = "off" | "page-cache" | "memory";

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let symbols: Symbols | null | undefined;

/** libc, opened on first use (at startup, while ffi is granted); null where unavailable. */
function libc(): Symbols | null {
  if (symbols === undefined) {
    try {
      symbols = Deno.build.os === "linux"
        ? openLibrary("libc.so.6", SYMBOLS, (cause) => new Error(String(cause))).symbols
        : null;
    } catch {
      symbols = null;
    }
  }
  return symbols;
}

const encoder = new TextEncoder();
const how = new Uint8Array(new BigUint64Array([OPEN_FLAGS, 0n, RESOLVE_CACHED]).buffer);
// One JS thread calls these, and each call finishes before the next: shared scratch buffers.
const pathBuffer = new Uint8Array(PATH_MAX + 1);
const iovec = new BigUint64Array(2);
const iovecBytes = new Uint8Array(iovec.buffer);
let slab = new Uint8Array(0);
let slabAddress = 0n;
let slabUsed = 0;

/** The whole file at `path` if it can be read without waiting for I/O, else undefined. */
export function readCachedFile(path: string, mode: CachedReadMode): Uint8Array | undefined {
  const c = mode === "off" ? null : libc();
  if (!c) return undefined;
  // A NUL would end the C string early and name another file: Deno.readFile refuses such paths.
  if (path.includes("\0")) return undefined;
  const { read, written } = encoder.encodeInto(path, pathBuffer);
  if (read !== path.length || written > PATH_MAX) return undefined;
  pathBuffer[written] = 0;
  const fd = Number(c.syscall(SYS_OPENAT2, AT_FDCWD, pathBuffer, how, 24n));
  if (fd < 0) return undefined;
  try {
    if (slab.byteLength - slabUsed <= CACHED_READ_LIMIT) {
      slab = new Uint8Array(SLAB_BYTES);
      slabAddress = bufferAddress(slab);
      slabUsed = 0;
    }
    iovec[0] = slabAddress + BigInt(slabUsed);
    // One byte more than the limit is asked for, so a larger file shows as a full read.
    iovec[1] = BigInt(CACHED_READ_LIMIT + 1);
    const flags = mode === "page-cache" ? RWF_NOWAIT : 0;
    const size = Number(c.preadv2(fd, iovecBytes, 1, 0n, flags));
    // A directory fails (EISDIR); an empty file is left to the async path, as nothing here
    // tells it from a FIFO without a writer.
    if (size <= 0 || size > CACHED_READ_LIMIT) return undefined;
    if (flags === RWF_NOWAIT) {
      // RWF_NOWAIT stops short where pages are not cached: only a read at the end proves EOF.
      iovec[0] += BigInt(size);
      iovec[1] = 1n;
      if (Number(c.preadv2(fd, iovecBytes, 1, BigInt(size), flags)) !== 0) return undefined;
    }
    const bytes = slab.subarray(slabUsed, slabUsed + size);
    // Keeps the next read 8-byte aligned, as a fresh buffer would be.
    slabUsed += (size + 7) & ~7;
    return bytes;
  } finally {
    c.close(fd);
  }
}

/** statfs f_type of filesystems whose files live in memory: tmpfs, ramfs. */
const MEMORY_FILESYSTEMS = new Set([0x01021994, 0x858458f6]);

/**
 * The mode that works for files under `dir` (a writable directory): tried on a probe file
 * written there, so a filesystem without RWF_NOWAIT support (or a platform without these
 * calls) gets "off" rather than a failed attempt before every read.
 */
export async function cachedReadModeOf(dir: string): Promise<CachedReadMode> {
  if (!libc()) return "off";
  const mode = MEMORY_FILESYSTEMS.has((await statfs(dir)).type) ? "memory" : "page-cache";
  const probe = `${dir}/cached-read-probe`;
  const content = encoder.encode("cached read probe");
  await Deno.writeFile(probe, content);
  try {
    const read = readCachedFile(probe, mode);
    return read !== undefined && read.every((b, i) => b === content[i]) &&
        read.byteLength === content.byteLength
      ? mode
      : "off";
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}
