/**
 * Encrypts a byte stream into packages (packages.ts) numbered from 0, the last flagged final.
 * Bodies of a MiB or more (or of unknown size) are sealed on the cipher thread in batches
 * (cipher-thread.ts); smaller ones, or all when there is no such thread, on this thread.
 */

import { aesGcm } from "./engine.ts";
import { checkedKey, type GcmKey, NONCE_SIZE } from "./gcm.ts";
import { InOrder, PACKAGE_SIZE, packageAad } from "./packages.ts";
import {
  BATCH_BYTES,
  BATCH_PACKAGES,
  batchBuffer,
  cipherThread,
  worthOffloading,
} from "./cipher-thread.ts";

/** Batches in flight per stream on the cipher thread: one sealed while the next fills. */
const THREAD_DEPTH = 3;

/**
 * The stream that encrypts with `key` (32 bytes; RangeError otherwise) a body of `size` bytes
 * (-1: unknown; only picks where it is sealed). Chunks may be any size; on this thread whole
 * packages inside a large chunk are sealed from it without a copy, so a chunk must not change
 * once written.
 */
export function encryptingStream(key: Uint8Array, size = -1): TransformStream<Uint8Array> {
  const keyBytes = checkedKey(key).slice();
  const thread = worthOffloading(size) ? cipherThread() : undefined;
  let out: InOrder;
  let sequence = 0;
  let gcm: GcmKey;
  const units = thread
    ? inUnits(BATCH_BYTES, batchBuffer, false, (bytes, final) => {
      // Without views every unit starts a batchBuffer() (or is the empty final one).
      const batch = bytes as Uint8Array<ArrayBuffer>;
      const sealed = thread.seal({ key: keyBytes, sequence, final, bytes: batch });
      sequence += BATCH_PACKAGES;
      return out.add(sealed);
    })
    : inUnits(PACKAGE_SIZE, () => new Uint8Array(PACKAGE_SIZE), true, (plain, final) => {
      const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
      return out.add(gcm.seal(nonce, packageAad(sequence++, final), plain));
    });
  return new TransformStream({
    async start(controller) {
      const depth = thread ? THREAD_DEPTH : aesGcm.concurrency;
      out = new InOrder(depth, (bytes) => controller.enqueue(bytes));
      if (!thread) gcm = await aesGcm.importKey(keyBytes);
    },
    transform: (chunk) => units.add(chunk),
    async flush() {
      await units.end();
      await out.drain();
    },
  });
}

/**
 * Cuts a byte stream into units of `size` bytes handed to `seal`, each full one held until
 * more bytes show it is not the last (the last is sealed as final; an empty stream is one empty
 * final unit). Units are put together in buffers from `newBuffer`, handed over with them; with
 * `views`, a unit inside one chunk is a view of it instead (a small body in one chunk is never
 * copied), which `seal` must be done with when it returns.
 */
function inUnits(
  size: number,
  newBuffer: () => Uint8Array,
  views: boolean,
  seal: (unit: Uint8Array, final: boolean) => Promise<void>,
): { add(chunk: Uint8Array): Promise<void>; end(): Promise<void> } {
  let held: Uint8Array | undefined;
  // A view of the chunk the unit's first bytes came in, until more bytes come.
  let partial: Uint8Array | undefined;
  let buffer: Uint8Array | undefined;
  let filled = 0;
  return {
    async add(chunk) {
      let at = 0;
      while (at < chunk.byteLength) {
        if (held) {
          await seal(held, false);
          held = undefined;
        }
        if (views && filled === 0 && !partial) {
          if (chunk.byteLength - at >= size) held = chunk.subarray(at, at + size);
          else partial = chunk.subarray(at);
          at += Math.min(size, chunk.byteLength - at);
          continue;
        }
        buffer ??= newBuffer();
        if (partial) {
          buffer.set(partial);
          filled = partial.byteLength;
          partial = undefined;
        }
        const take = Math.min(size - filled, chunk.byteLength - at);
        buffer.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === size) {
          held = buffer.subarray(0, size);
          buffer = undefined;
          filled = 0;
        }
      }
    },
    end: () => seal(held ?? partial ?? buffer?.subarray(0, filled) ?? new Uint8Array(0), true),
  };
}
