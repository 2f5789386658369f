/**
 * A stored encrypted object: one package stream per part, each under its own part key,
 * concatenated in part order (a single-part object is part 1). Reading a plaintext range
 * reads the stored bytes of just the packages covering it, and authenticates each against the
 * place it must have: its part's key, its sequence number, and the final flag on the last
 * package of every part.
 */

import { aesGcm } from "./engine.ts";
import type { GcmKey } from "./gcm.ts";
import {
  encryptingStream,
  InOrder,
  openPackage,
  PACKAGE_OVERHEAD,
  PACKAGE_SIZE,
  packageCount,
  packagePlainSize,
  sealedSize,
  TamperedObject,
} from "./packages.ts";
import { partKey } from "./object-key.ts";

/** One part of an encrypted object: its number and its plaintext size, in object order. */
export interface EncryptedPart {
  number: number;
  size: number;
}

/** The packages one part contributes to a read. */
export interface PartSpan {
  number: number;
  /** The part's plaintext size: fixes each package's length and which is final. */
  size: number;
  firstPackage: number;
  /** Exclusive. */
  endPackage: number;
}

/** Which stored bytes a (plaintext) range needs, and how to turn them back. */
export interface DecryptionPlan {
  /** Inclusive range of stored bytes to read; undefined when the range is empty (0-byte object). */
  stored?: { start: number; end: number };
  parts: PartSpan[];
  /** Plaintext bytes to drop from the front of the first package read. */
  skip: number;
  /** Plaintext bytes to pass on after that. */
  length: number;
}

/** Stored size of an object made of `parts`. */
export function storedObjectSize(parts: readonly EncryptedPart[]): number {
  return parts.reduce((sum, part) => sum + sealedSize(part.size), 0);
}

/** The stream that encrypts part `partNumber` of the object with key `objectKey`. */
export function encryptingPartStream(
  objectKey: Uint8Array,
  partNumber: number,
): TransformStream<Uint8Array, Uint8Array> {
  return encryptingStream(partKey(objectKey, partNumber));
}

/**
 * `range` is an inclusive plaintext range already resolved against the object's plaintext size
 * (the sum of the part sizes); undefined: the whole object. RangeError for a range outside it.
 */
export function planDecryption(
  parts: readonly EncryptedPart[],
  range?: { start: number; end: number },
): DecryptionPlan {
  for (const part of parts) {
    if (!Number.isSafeInteger(part.size) || part.size < 0) {
      throw new RangeError(`part ${part.number}: not a size: ${part.size}`);
    }
  }
  const total = parts.reduce((sum, part) => sum + part.size, 0);
  if (range === undefined) {
    if (total === 0) return { parts: [], skip: 0, length: 0 };
    range = { start: 0, end: total - 1 };
  }
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`not a byte range: ${start}-${end}`);
  }
  if (end >= total) throw new RangeError(`range ${start}-${end} beyond ${total} bytes`);

  const spans: PartSpan[] = [];
  let storedStart = 0;
  let storedEnd = 0;
  let skip = 0;
  let plainAt = 0;
  let storedAt = 0;
  for (const part of parts) {
    const partEnd = plainAt + part.size; // exclusive
    // Parts wholly between start and end come along, empty ones included: their bytes are
    // in the stored range and must authenticate too.
    if (partEnd > start && plainAt <= end) {
      const first = spans.length === 0 ? Math.floor((start - plainAt) / PACKAGE_SIZE) : 0;
      const last = end < partEnd
        ? Math.floor((end - plainAt) / PACKAGE_SIZE)
        : packageCount(part.size) - 1;
      if (spans.length === 0) {
        storedStart = storedAt + first * (PACKAGE_SIZE + PACKAGE_OVERHEAD);
        skip = start - plainAt - first * PACKAGE_SIZE;
      }
      storedEnd = storedAt + Math.min(
        (last + 1) * (PACKAGE_SIZE + PACKAGE_OVERHEAD),
        sealedSize(part.size),
      ) - 1;
      spans.push({
        number: part.number,
        size: part.size,
        firstPackage: first,
        endPackage: last + 1,
      });
    }
    plainAt = partEnd;
    storedAt += sealedSize(part.size);
  }
  return {
    stored: { start: storedStart, end: storedEnd },
    parts: spans,
    skip,
    length: end - start + 1,
  };
}

/**
 * Turns the stored bytes of `plan.stored` into exactly the planned plaintext. Every package is
 * authenticated before any of its bytes pass; a package that does not authenticate where it
 * stands, or stored bytes ending early or running long, error the stream with TamperedObject.
 * `partKeyOf` gives each part's key, called once per part, in order.
 */
export function decryptingStream(
  plan: DecryptionPlan,
  partKeyOf: (partNumber: number) => Uint8Array | Promise<Uint8Array>,
): TransformStream<Uint8Array, Uint8Array> {
  let out: InOrder;
  let spanIndex = 0;
  let sequence = plan.parts[0]?.firstPackage ?? 0;
  let key: GcmKey | undefined;
  // The stored package being assembled when it arrives split across chunks (allocated then:
  // a small object's one package comes whole, and 64 KiB zeroed costs a small GET ~25 µs).
  let buffer: Uint8Array | undefined;
  let filled = 0;
  let skip = plan.skip;
  let remaining = plan.length;

  const pass = (plain: Uint8Array) => {
    const from = Math.min(skip, plain.byteLength);
    skip -= from;
    const to = Math.min(plain.byteLength, from + remaining);
    remaining -= to - from;
    return to > from ? plain.subarray(from, to) : undefined;
  };

  /** Stored length of the next package; undefined once the plan is complete. */
  const expected = () => {
    const span = plan.parts[spanIndex];
    return span && packagePlainSize(span.size, sequence) + PACKAGE_OVERHEAD;
  };

  const open = async (stored: Uint8Array) => {
    const span = plan.parts[spanIndex];
    key ??= await aesGcm.importKey(await partKeyOf(span.number));
    const final = sequence === packageCount(span.size) - 1;
    const where = `part ${span.number}`;
    // The engine takes its input before openPackage returns, so `buffer` may be refilled.
    const plain = openPackage(key, stored, sequence, final, where);
    sequence++;
    if (sequence === span.endPackage) {
      spanIndex++;
      sequence = plan.parts[spanIndex]?.firstPackage ?? 0;
      key = undefined;
    }
    await out.add(plain);
  };

  return new TransformStream({
    start(controller) {
      out = new InOrder(aesGcm.concurrency, (plain) => {
        const kept = pass(plain);
        if (kept) controller.enqueue(kept);
      });
    },
    async transform(chunk) {
      let at = 0;
      while (at < chunk.byteLength) {
        const need = expected();
        if (need === undefined) {
          await out.drain(); // what authenticated before the excess still passes
          throw new TamperedObject("stored object runs past its last package");
        }
        if (filled === 0 && chunk.byteLength - at >= need) {
          await open(chunk.subarray(at, at + need));
          at += need;
          continue;
        }
        const take = Math.min(need - filled, chunk.byteLength - at);
        buffer ??= new Uint8Array(PACKAGE_SIZE + PACKAGE_OVERHEAD);
        buffer.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === need) {
          filled = 0;
          await open(buffer.subarray(0, need));
        }
      }
    },
    async flush() {
      await out.drain();
      if (expected() !== undefined) throw new TamperedObject("stored object ends early");
    },
  });
}
