/**
 * Packages sealed on a thread of their own. A PUT's request thread is its busiest: it receives
 * the body, hands it to the MD5 thread, erasure-codes and writes it; sealing there too added
 * ~1.3 s of it per GiB (measured: the cipher, a new buffer per package, more chunks to encode),
 * against ~0.2 s for copying the body to this thread. A round trip to another thread costs
 * ~160 µs, so bodies go in batches of up to 16 packages (1 MiB), copied into a buffer that is
 * handed over (transferred, not copied) and comes back for reuse; bodies under a MiB stay on
 * the request thread, where a trip would cost more than the cipher. (Opening needs no thread:
 * it runs in place, object-stream.ts.)
 *
 * The thread binds libcrypto itself, so it must start while ffi is granted: the server awaits
 * startCipherThread() before it revokes ffi. Without libcrypto there is no thread, and callers
 * use the engine of engine.ts on their own thread.
 */
import { Worker } from "node:worker_threads";
import { bindLibcrypto, type Libcrypto, LIBCRYPTO_PATHS } from "./openssl-gcm.ts";
import { PACKAGE_OVERHEAD, PACKAGE_SIZE, packageAad } from "./packages.ts";
import { KEY_SIZE, NONCE_SIZE } from "./gcm.ts";

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

/** Starts the thread; resolves to whether it runs (bound libcrypto). */
export function startCipherThread(): Promise<boolean> {
  starting ??= new Promise((resolve) => {
    try {
      const worker = new Worker(THREAD_SOURCE(), {
        eval: true,
        workerData: { paths: LIBCRYPTO_PATHS, packageSize: PACKAGE_SIZE },
      });
      // Idle, it must not keep the process alive; with batches in flight it must.
      worker.unref();
      worker.once("message", (hello: { ready: boolean }) => {
        if (hello.ready) running = new ThreadClient(worker);
        else {
          running = null;
          void worker.terminate();
        }
        resolve(hello.ready);
      });
      worker.on("error", (err: Error) => {
        console.error("flashstor: the cipher thread failed:", err);
        // Batches in flight fail; later bodies are sealed on the request thread.
        running?.failAll(err);
        running = null;
        resolve(false);
      });
    } catch (err) {
      console.error("flashstor: no cipher thread, encrypting on the request thread:", err);
      running = null;
      resolve(false);
    }
  });
  return starting;
}

let starting: Promise<boolean> | undefined;
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
 * Seals one batch with `libcrypto`. Runs on the thread only, from its own source:
 * self-contained but for packageAad, whose source goes along.
 */
function sealBatch(
  libcrypto: Libcrypto,
  packageSize: number,
  overhead: number,
  nonceSize: number,
  request: Request,
): ArrayBuffer {
  const plain = new Uint8Array(request.input, 0, request.length);
  const count = Math.max(1, Math.ceil(plain.byteLength / packageSize));
  const stored = new Uint8Array(plain.byteLength + count * overhead);
  for (let i = 0; i < count; i++) {
    libcrypto.seal(
      request.key,
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
${bindLibcrypto}
${sealBatch}
const libcrypto = bindLibcrypto(workerData.paths);
parentPort.postMessage({ ready: libcrypto !== undefined });
parentPort.on("message", (request) => {
  const { id, input } = request;
  try {
    const output = sealBatch(libcrypto, workerData.packageSize, ${PACKAGE_OVERHEAD}, ${NONCE_SIZE}, request);
    parentPort.postMessage({ id, input, output }, [input, output]);
  } catch (err) {
    parentPort.postMessage({ id, input, error: String(err) }, [input]);
  }
});
`;
