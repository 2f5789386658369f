/** Shared fixtures of the erasure tests: seeded data, chunked sources, encoded shard sets. */

import { AssertionError } from "./helpers/assert.ts";
import type { ErasureCodec } from "../src/erasure/codec.ts";
import { encodeStream, MemoryShard, type ShardSource } from "../src/erasure/stream.ts";

/** Deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(size: number, seed: number): Uint8Array {
  const random = prng(seed);
  const words = new Uint32Array(Math.ceil(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = random() * 4294967296;
  return new Uint8Array(words.buffer, 0, size);
}

/** Streams `bytes` in chunks of random sizes: tiny ones, medium ones and multi-MiB ones. */
export function chunkedStream(bytes: Uint8Array, seed: number): ReadableStream<Uint8Array> {
  const random = prng(seed);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      const kind = random();
      const limit = kind < 0.3 ? 16 : kind < 0.7 ? 64 * 1024 : 3 * 1024 * 1024;
      const next = Math.min(bytes.byteLength, at + 1 + Math.floor(random() * limit));
      controller.enqueue(bytes.slice(at, next));
      at = next;
    },
  });
}

export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Encodes `data` with random chunking into one MemoryShard per shard. */
export async function encodeToMemory(
  codec: ErasureCodec,
  data: Uint8Array,
  seed = 1,
): Promise<MemoryShard[]> {
  const shards = Array.from({ length: codec.totalShards }, () => new MemoryShard());
  const result = await encodeStream(codec, chunkedStream(data, seed), shards, codec.totalShards);
  if (result.size !== data.byteLength || result.failed.length > 0) {
    throw new Error(`encode wrote ${result.size} bytes, failed ${result.failed}`);
  }
  return shards;
}

/** Every subset of {0..n-1} with at most `max` members, smallest first. */
export function subsets(n: number, max: number): number[][] {
  const all: number[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    const members = [...Array(n).keys()].filter((i) => mask & (1 << i));
    if (members.length <= max) all.push(members);
  }
  return all.sort((a, b) => a.length - b.length);
}

/** A stream of `bytes` in 64 KiB chunks, as a file read would deliver them. */
function fileLike(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let position = 0;
  return new ReadableStream({
    pull(controller) {
      if (position >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(position, position += 64 * 1024));
    },
  });
}

/** A source that records how it is opened and whether its stream was cancelled. */
export class RecordingSource implements ShardSource {
  readonly opens: { offset: number; length: number }[] = [];
  /** The chunk size each open asked for. */
  readonly chunkSizes: (number | undefined)[] = [];
  cancelled = 0;

  constructor(readonly inner: ShardSource) {}

  /** Always a stream, as a file's, even over bytes in memory. */
  async open(
    offset: number,
    length: number,
    chunkSize?: number,
  ): Promise<ReadableStream<Uint8Array>> {
    this.opens.push({ offset, length });
    this.chunkSizes.push(chunkSize);
    const opened = await this.inner.open(offset, length);
    const stream = opened instanceof Uint8Array ? fileLike(opened) : opened;
    const reader = stream.getReader();
    return new ReadableStream({
      pull: async (controller) => {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => {
        this.cancelled++;
        return reader.cancel(reason);
      },
    });
  }
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (actual.byteLength !== expected.byteLength) {
    throw new AssertionError({
      message: `${what}: length ${actual.byteLength}, expected ${expected.byteLength}`,
    });
  }
  for (let i = 0; i < actual.byteLength; i++) {
    if (actual[i] !== expected[i]) {
      throw new AssertionError({ message: `${what}: first difference at byte ${i}` });
    }
  }
}
