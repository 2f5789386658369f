/**
 * Packages sealed on a thread of their own. A PUT's request thread is its busiest: it receives
 * the body, hands it to the MD5 thread, erasure-codes and writes it; sealing there too added
 * ~1.3 s of it per GiB with OpenSSL (measured: the cipher, a new buffer per package, more
 * chunks to encode), against ~0.2 s for copying the body to this thread. A round trip to
 * another thread costs ~160 µs, so bodies go in batches of up to 16 packages (1 MiB), copied
 * into a buffer that is handed over (transferred, not copied) and comes back for reuse; bodies
 * under a MiB stay on the request thread, where a trip would cost more than the cipher.
 * (Opening needs no thread: it runs in place, object-stream.ts.)
 *
 * The thread binds its cipher itself, IPsec-MB's where it loads, else OpenSSL's, so it must
 * start while ffi is granted: the server awaits startCipherThread() before it revokes ffi.
 * Without either there is no thread, and callers use the engine of engine.ts on their own
 * thread.
 */
import { Worker } from "node:worker_threads";
import { bindLibcrypto, LIBCRYPTO_PATHS } from "./openssl-gcm.ts";
import { bindIpsecMb, IPSEC_MB_PATHS, LIBC_PATHS } from "./ipsec-mb-gcm.ts";
import { PACKAGE_OVERHEAD, PACKAGE_SIZE, packageAad } from "./packages.ts";
import { type GcmPrimitive, KEY_SIZE, NONCE_SIZE } from "./gcm.ts";

/** Packages per batch. */
export const BATCH_PACKAGES = 16;
/** Plaintext bytes of a full batch (1 MiB). */
export const BATCH_BYTES = BATCH_PACKAGES * PACKAGE_SIZE;
/** Bodies at least this large (or of unknown size) go to the thread. */
const OFFLOAD_MIN = 1 << 20;

/** The plaintext of consecutive packages of one stream (one key). */
export interface Batch {
  key: Uint8Array;
  /** The first package's sequence number. */
  sequence: number;
  /** Whether the batch's last package is its stream's final one. */
  final: boolean;
  /**
   * Every package full but the last: a view from the start of a batchBuffer(), handed over
   * (the caller must not touch it again).
   */
  bytes: Uint8Array<ArrayBuffer>;
}

export interface CipherThread {
  /** The stored packages of `batch`. */
  seal(batch: Batch): Promise<Uint8Array<ArrayBuffer>>;
}

/** A buffer to fill with a batch (up to BATCH_PACKAGES packages). */
export function batchBuffer(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(spareBuffers.pop() ?? new ArrayBuffer(BATCH_BYTES));
}

/** Whether a body of `size` bytes (-1: unknown) is worth the thread. */
export function worthOffloading(size: number): boolean {
  return size < 0 || size >= OFFLOAD_MIN;
}

/**
 * The cipher thread once it runs; undefined before (the first call starts it) or when it
 * cannot run.
 */
export function cipherThread(): CipherThread | undefined {
  if (running === undefined) void startCipherThread();
  return running ?? undefined;
}

/** A thread that has not said it runs by then is given up (sealing stays on the request thread). */
const START_TIMEOUT_MS = 30_000;

/** Starts the thread; resolves to the name of its cipher, or undefined when it cannot run. */
export function startCipherThread(): Promise<string | undefined> {
  starting ??= new Promise((resolve) => {
    try {
      const worker = new Worker(THREAD_SOURCE(), {
        eval: true,
        workerData: {
          ipsecMbPaths: IPSEC_MB_PATHS,
          libcPaths: LIBC_PATHS,
          libcryptoPaths: LIBCRYPTO_PATHS,
          packageSize: PACKAGE_SIZE,
        },
      });
      const giveUp = (reason: string) => {
        console.error(`flashstor: no cipher thread (${reason}), encrypting on the request thread`);
        running = null;
        void worker.terminate();
        resolve(undefined);
      };
      const timer = setTimeout(() => giveUp("it did not start"), START_TIMEOUT_MS);
      // Idle, it must not keep the process alive; with batches in flight it must.
      worker.unref();
      worker.once("message", (hello: { cipher?: string }) => {
        clearTimeout(timer);
        if (hello.cipher === undefined) return giveUp("no cipher library");
        running = new ThreadClient(worker);
        resolve(hello.cipher);
      });
      worker.on("error", (err: Error) => {
        clearTimeout(timer);
        console.error("flashstor: the cipher thread failed:", err);
        // Batches in flight fail; later bodies are sealed on the request thread.
        running?.failAll(err);
        running = null;
        resolve(undefined);
      });
    } catch (err) {
      console.error("flashstor: no cipher thread, encrypting on the request thread:", err);
      running = null;
      resolve(undefined);
    }
  });
  return starting;
}

let starting: Promise<string | undefined> | undefined;
let running: ThreadClient | null | undefined;
const spareBuffers: ArrayBuffer[] = [];
const SPARE_BUFFERS_KEPT = 16;

type Request = {
  id: number;
  key: Uint8Array;
  sequence: number;
  final: boolean;
  input: ArrayBuffer;
  length: number;
};
type Reply = {
  id: number;
  input: ArrayBuffer;
  output?: ArrayBuffer;
  error?: string;
};

class ThreadClient implements CipherThread {
  readonly #pending = new Map<
    number,
    { resolve: (sealed: Uint8Array<ArrayBuffer>) => void; reject: (err: Error) => void }
  >();
  #ids = 0;

  constructor(readonly worker: Worker) {
    worker.on("message", (reply: Reply) => this.#onReply(reply));
  }

  seal(batch: Batch): Promise<Uint8Array<ArrayBuffer>> {
    if (batch.key.byteLength !== KEY_SIZE) throw new RangeError("not an AES-256 key");
    const id = this.#ids = (this.#ids + 1) % Number.MAX_SAFE_INTEGER;
    const request: Request = {
      id,
      key: batch.key.slice(),
      sequence: batch.sequence,
      final: batch.final,
      input: batch.bytes.buffer,
      length: batch.bytes.byteLength,
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (this.#pending.size === 1) this.worker.ref();
      this.worker.postMessage(request, [request.input]);
    });
  }

  failAll(err: Error): void {
    for (const { reject } of this.#pending.values()) reject(err);
    this.#pending.clear();
    this.worker.unref();
  }

  #onReply(reply: Reply): void {
    const waiter = this.#pending.get(reply.id);
    if (!waiter) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.worker.unref();
    if (reply.input.byteLength === BATCH_BYTES && spareBuffers.length < SPARE_BUFFERS_KEPT) {
      spareBuffers.push(reply.input);
    }
    if (reply.output === undefined) {
      return waiter.reject(new Error(`the cipher thread failed: ${reply.error}`));
    }
    waiter.resolve(new Uint8Array(reply.output));
  }
}

/**
 * Seals one batch with `cipher`. Runs on the thread only, from its own source:
 * self-contained but for packageAad, whose source goes along.
 */
function sealBatch<K>(
  cipher: GcmPrimitive<K>,
  packageSize: number,
  overhead: number,
  nonceSize: number,
  request: Request,
): ArrayBuffer {
  const plain = new Uint8Array(request.input, 0, request.length);
  const count = Math.max(1, Math.ceil(plain.byteLength / packageSize));
  const stored = new Uint8Array(plain.byteLength + count * overhead);
  const key = cipher.prepare(request.key);
  for (let i = 0; i < count; i++) {
    cipher.seal(
      key,
      crypto.getRandomValues(new Uint8Array(nonceSize)),
      packageAad(request.sequence + i, request.final && i === count - 1),
      plain.subarray(i * packageSize, (i + 1) * packageSize),
      stored.subarray(i * (packageSize + overhead)),
    );
  }
  return stored.buffer;
}

// CommonJS, evaluated as the worker's source: no module file to read, to permit, or to bundle.
const THREAD_SOURCE = () => `
const { parentPort, workerData } = require("node:worker_threads");
${packageAad}
${bindIpsecMb}
${bindLibcrypto}
${sealBatch}
const ipsecMb = bindIpsecMb(workerData.ipsecMbPaths, workerData.libcPaths);
const libcrypto = ipsecMb ? undefined : bindLibcrypto(workerData.libcryptoPaths);
const cipher = ipsecMb ?? (libcrypto && { prepare: (key) => key, seal: libcrypto.seal });
parentPort.postMessage({
  cipher: ipsecMb ? "ipsec-mb/" + ipsecMb.implementation : libcrypto ? "openssl" : undefined,
});
parentPort.on("message", (request) => {
  const { id, input } = request;
  try {
    const { packageSize } = workerData;
    const output = sealBatch(cipher, packageSize, ${PACKAGE_OVERHEAD}, ${NONCE_SIZE}, request);
    parentPort.postMessage({ id, input, output }, [input, output]);
  } catch (err) {
    parentPort.postMessage({ id, input, error: String(err) }, [input]);
  }
});
`;
