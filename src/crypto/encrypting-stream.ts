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
  type CipherThread,
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
  return thread ? sealedOnThread(thread, keyBytes) : sealedHere(keyBytes);
}

function sealedOnThread(thread: CipherThread, key: Uint8Array): TransformStream<Uint8Array> {
  let out: InOrder;
  let sequence = 0;
  let batch = batchBuffer();
  let filled = 0;
  // A full batch waits here until more bytes show its last package is not the final one.
  let held: Uint8Array<ArrayBuffer> | undefined;

  const send = (bytes: Uint8Array<ArrayBuffer>, final: boolean) => {
    const sealed = thread.seal({ key, sequence, final, bytes });
    sequence += BATCH_PACKAGES;
    return out.add(sealed);
  };

  return new TransformStream({
    start(controller) {
      out = new InOrder(THREAD_DEPTH, (bytes) => controller.enqueue(bytes));
    },
    async transform(chunk) {
      let at = 0;
      while (at < chunk.byteLength) {
        if (held) {
          await send(held, false);
          held = undefined;
        }
        const take = Math.min(BATCH_BYTES - filled, chunk.byteLength - at);
        batch.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === BATCH_BYTES) {
          held = batch.subarray(0, BATCH_BYTES);
          batch = batchBuffer();
          filled = 0;
        }
      }
    },
    async flush() {
      await send(held ?? batch.subarray(0, filled), true);
      await out.drain();
    },
  });
}

function sealedHere(key: Uint8Array): TransformStream<Uint8Array> {
  let gcm: GcmKey;
  let out: InOrder;
  let sequence = 0;
  // Bytes of the package being filled: first a view of the chunk they came in (a small body
  // in one chunk is never copied, nor is 64 KiB allocated for it), copied into `buffer` once
  // more bytes arrive.
  let partial: Uint8Array | undefined;
  let buffer: Uint8Array | undefined;
  let filled = 0;
  // A full package waits here until more bytes show it is not the final one.
  let held: Uint8Array | undefined;

  const seal = (plain: Uint8Array, final: boolean) => {
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
    // The engine takes its input before seal returns, so `buffer` may be refilled after.
    return out.add(gcm.seal(nonce, packageAad(sequence++, final), plain));
  };

  return new TransformStream({
    async start(controller) {
      gcm = await aesGcm.importKey(key);
      out = new InOrder(aesGcm.concurrency, (bytes) => controller.enqueue(bytes));
    },
    async transform(chunk) {
      let at = 0;
      while (at < chunk.byteLength) {
        if (held) {
          await seal(held, false);
          held = undefined;
        }
        if (filled === 0 && !partial) {
          if (chunk.byteLength - at >= PACKAGE_SIZE) {
            held = chunk.subarray(at, at + PACKAGE_SIZE);
            at += PACKAGE_SIZE;
          } else {
            partial = chunk.subarray(at);
            at = chunk.byteLength;
          }
          continue;
        }
        buffer ??= new Uint8Array(PACKAGE_SIZE);
        if (partial) {
          buffer.set(partial);
          filled = partial.byteLength;
          partial = undefined;
        }
        const take = Math.min(PACKAGE_SIZE - filled, chunk.byteLength - at);
        buffer.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === PACKAGE_SIZE) {
          held = buffer;
          filled = 0;
        }
      }
    },
    async flush() {
      await seal(held ?? partial ?? buffer?.subarray(0, filled) ?? new Uint8Array(0), true);
      await out.drain();
    },
  });
}
