/**
 * The MD5 of an object's bytes (its ETag), computed off the request thread for large bodies.
 *
 * MD5 runs at ~550 MB/s per core here, and the request thread also receives, erasure-codes and
 * writes the body: hashing there caps a PUT stream near that figure. Bodies of a MiB or more
 * (or of unknown size) are copied in 1 MiB batches to one hash thread, with at most
 * MAX_IN_FLIGHT bytes per body queued there, so a hash thread that falls behind slows the
 * upload instead of buffering it. Smaller bodies hash in place, where a thread round trip
 * would cost more than the hash.
 */
import { createHash } from "node:crypto";
import { Worker } from "node:worker_threads";
import { IncompleteBody } from "./errors.ts";

const OFFLOAD_MIN = 1 << 20;
const BATCH = 1 << 20;
const MAX_IN_FLIGHT = 2 << 20;

export interface Md5 {
  /** Resolves once `chunk` is taken (at once, unless the hash thread is behind). */
  update(chunk: Uint8Array): Promise<void>;
  /** The hex digest of everything given to update. */
  digest(): Promise<string>;
  /** Drops the state of a body that will not be finished (idempotent, harmless after digest). */
  discard(): void;
}

export interface Measured {
  stream: ReadableStream<Uint8Array>;
  /** Byte count and hex MD5, once the stream has been read to its end. */
  result(): Promise<{ size: number; md5: string }>;
  /** Frees the hash of a body that was not read to its end (harmless after result). */
  discard(): void;
}

/** Counts and hashes `body`; errors it with IncompleteBody when `size` ≥ 0 and it differs. */
export function measure(
  body: ReadableStream<Uint8Array>,
  size: number,
  hashed = true,
): Measured {
  const hash = hashed ? md5Hasher(size) : undefined;
  let count = 0;
  let md5: Promise<string> | undefined;
  const stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        count += chunk.byteLength;
        if (size >= 0 && count > size) {
          hash?.discard();
          throw new IncompleteBody(`body longer than the announced ${size} bytes`);
        }
        await hash?.update(chunk);
        controller.enqueue(chunk);
      },
      flush() {
        if (size >= 0 && count !== size) {
          hash?.discard();
          throw new IncompleteBody(`body of ${count} bytes, ${size} announced`);
        }
        md5 = hash?.digest() ?? Promise.resolve("");
        // Awaited by result(); a write that fails first must not leave it unhandled.
        md5.catch(() => {});
      },
      // The body failed upstream or its reader gave up: the hash will not be asked for.
      cancel() {
        hash?.discard();
      },
    }),
  );
  return {
    stream,
    result: async () => {
      if (!md5) throw new IncompleteBody("the body was not read to its end");
      return { size: count, md5: await md5 };
    },
    discard: () => hash?.discard(),
  };
}

/** A hasher for a body of `size` bytes (-1: unknown). */
export function md5Hasher(size: number): Md5 {
  if (size >= 0 && size < OFFLOAD_MIN) return localMd5();
  const thread = hashThread();
  return thread ? new OffloadedMd5(thread) : localMd5();
}

function localMd5(): Md5 {
  const hash = createHash("md5");
  return {
    update: (chunk) => {
      hash.update(chunk);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest("hex")),
    discard: () => {},
  };
}

/**
 * Messages to the hash thread. It answers each batch with `taken` and hands the batch's buffer
 * back for reuse (left to the worker's garbage collector, spent batches piled up to hundreds of
 * MiB under concurrent uploads), and answers the end with `hex`.
 */
type Request = { id: number; bytes?: ArrayBuffer; end?: "digest" | "discard" };
type Reply = { id: number; taken?: number; bytes?: ArrayBuffer; hex?: string };

/** Batch buffers back from the hash thread, ready for reuse. */
const spareBatches: ArrayBuffer[] = [];
const SPARE_BATCHES_KEPT = 16;

function newBatch(): Uint8Array<ArrayBuffer> {
  return new Uint8Array(spareBatches.pop() ?? new ArrayBuffer(BATCH));
}

// CommonJS, evaluated as the worker's source: no module file to read, to permit, or to bundle.
const HASH_THREAD_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const hashes = new Map();
parentPort.on("message", ({ id, bytes, end }) => {
  let hash = hashes.get(id);
  if (!hash) hashes.set(id, hash = createHash("md5"));
  if (bytes) {
    hash.update(new Uint8Array(bytes));
    parentPort.postMessage({ id, taken: bytes.byteLength, bytes }, [bytes]);
  }
  if (end) {
    hashes.delete(id);
    if (end === "digest") parentPort.postMessage({ id, hex: hash.digest("hex") });
  }
});
`;

interface HashThread {
  post(request: Request, transfer?: ArrayBuffer[]): void;
  /** Routes replies of body `id` to `onReply` until `forget(id)`. */
  listen(id: number, onReply: (reply: Reply) => void): void;
  forget(id: number): void;
  nextId(): number;
}

let thread: HashThread | null | undefined;

/** The process's hash thread, started on first use; null if it cannot start. */
function hashThread(): HashThread | null {
  if (thread !== undefined) return thread;
  try {
    const worker = new Worker(HASH_THREAD_SOURCE, { eval: true });
    // Idle, it must not keep the process alive (tests, shutdown); with a body in flight, the
    // replies awaited must.
    worker.unref();
    const listeners = new Map<number, (reply: Reply) => void>();
    let ids = 0;
    worker.on("message", (reply: Reply) => listeners.get(reply.id)?.(reply));
    worker.on("error", (err: Error) => {
      console.error("flashstor: the MD5 hash thread failed:", err);
      // Bodies in flight fail; later ones hash in place.
      thread = null;
      for (const listener of listeners.values()) listener({ id: -1 });
      listeners.clear();
      worker.unref();
    });
    thread = {
      post: (request, transfer) => worker.postMessage(request, transfer),
      listen: (id, onReply) => {
        listeners.set(id, onReply);
        if (listeners.size === 1) worker.ref();
      },
      forget: (id) => {
        if (listeners.delete(id) && listeners.size === 0) worker.unref();
      },
      nextId: () => ids = (ids + 1) % Number.MAX_SAFE_INTEGER,
    };
  } catch (err) {
    console.error("flashstor: no MD5 hash thread, hashing on the request thread:", err);
    thread = null;
  }
  return thread;
}

class OffloadedMd5 implements Md5 {
  readonly #thread: HashThread;
  readonly #id: number;
  #batch: Uint8Array<ArrayBuffer> = newBatch();
  #filled = 0;
  #inFlight = 0;
  #ended = false;
  #failed = false;
  /** Waiters for room in flight, and for the digest. */
  #room: (() => void) | undefined;
  #digest: { resolve: (hex: string) => void; reject: (err: Error) => void } | undefined;

  constructor(thread: HashThread) {
    this.#thread = thread;
    this.#id = thread.nextId();
    thread.listen(this.#id, (reply) => this.#onReply(reply));
  }

  async update(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.byteLength;) {
      const n = Math.min(chunk.byteLength - at, BATCH - this.#filled);
      this.#batch.set(chunk.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === BATCH) await this.#send();
    }
  }

  async digest(): Promise<string> {
    if (this.#filled > 0) await this.#send();
    this.#ended = true;
    const hex = new Promise<string>((resolve, reject) => this.#digest = { resolve, reject });
    if (this.#failed) this.#fail();
    else this.#thread.post({ id: this.#id, end: "digest" });
    return await hex;
  }

  discard(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#thread.forget(this.#id);
    this.#thread.post({ id: this.#id, end: "discard" });
  }

  async #send(): Promise<void> {
    while (this.#inFlight >= MAX_IN_FLIGHT && !this.#failed) {
      await new Promise<void>((resolve) => this.#room = resolve);
    }
    if (this.#failed) throw new Error("the MD5 hash thread failed");
    // A full batch is handed over as it is (transferred, not copied) and replaced.
    const bytes = this.#filled === BATCH
      ? this.#batch.buffer
      : this.#batch.buffer.slice(0, this.#filled);
    if (this.#filled === BATCH) this.#batch = newBatch();
    this.#inFlight += bytes.byteLength;
    this.#thread.post({ id: this.#id, bytes }, [bytes]);
    this.#filled = 0;
  }

  #onReply(reply: Reply): void {
    if (reply.id === -1) {
      this.#failed = true;
      return this.#fail();
    }
    if (reply.taken !== undefined) {
      this.#inFlight -= reply.taken;
      if (reply.bytes?.byteLength === BATCH && spareBatches.length < SPARE_BATCHES_KEPT) {
        spareBatches.push(reply.bytes);
      }
      const room = this.#room;
      this.#room = undefined;
      room?.();
    }
    if (reply.hex !== undefined) {
      this.#thread.forget(this.#id);
      this.#digest?.resolve(reply.hex);
    }
  }

  #fail(): void {
    const room = this.#room;
    this.#room = undefined;
    room?.();
    this.#digest?.reject(new Error("the MD5 hash thread failed"));
  }
}
