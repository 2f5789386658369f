/**
 * Framed shard files → a byte range of the object. Each needed shard file is opened once, at
 * the first needed stripe, and read sequentially. Healthy data shards are emitted as they are
 * (no decode); a shard that fails is dropped and a parity shard, opened at the failing stripe,
 * takes its place; once none is left, dropped shards are tried again from the stripe at hand.
 * No block leaves before its checksum passed.
 */

import { InsufficientReadQuorum } from "../object/errors.ts";
import { openFrame } from "./bitrot.ts";
import { BLOCK_SIZE, CHECKSUM_SIZE, type ErasureCodec } from "./codec.ts";
import { ExactReader } from "./exact-reader.ts";
import type { ShardSource } from "./shard.ts";

export type ShardErrorHandler = (index: number, err: Error) => void;

/** One shard file read from a given stripe to the last stripe of the range. */
class ShardReader {
  #reader?: Promise<ExactReader>;
  #inMemory = false;

  constructor(
    readonly index: number,
    readonly source: ShardSource,
    readonly offset: number,
    readonly length: number,
    readonly chunkSize: number,
  ) {}

  /**
   * The next verified block of `blockLength` bytes; opens the source on first use. A block of
   * a shard in memory (inline data, part of the version's metadata) is a copy: blocks go to
   * the reader, who may change them.
   */
  async readBlock(blockLength: number): Promise<Uint8Array> {
    this.#reader ??= this.source.open(this.offset, this.length, this.chunkSize).then((s) => {
      this.#inMemory = s instanceof Uint8Array;
      return new ExactReader(s);
    });
    const reader = await this.#reader;
    const block = openFrame(await reader.read(CHECKSUM_SIZE + blockLength));
    return this.#inMemory ? block.slice() : block;
  }

  async close(): Promise<void> {
    const reader = await this.#reader?.catch(() => undefined);
    await reader?.cancel();
  }
}

class RangeDecoder {
  readonly #k: number;
  #stripe: number;
  readonly #lastStripe: number;
  /** Readers currently trusted, at most k. */
  #active: ShardReader[] = [];
  /** Healthy shard indices not yet opened, data shards first. */
  readonly #spare: number[] = [];
  /** Shards dropped so far, with the stripe they failed at. */
  #failed: { index: number; stripe: number }[] = [];
  /** Set once the consumer cancelled or the read ended: late failures are not shard errors. */
  #closed = false;

  constructor(
    readonly codec: ErasureCodec,
    readonly size: number,
    readonly offset: number,
    readonly length: number,
    readonly sources: (ShardSource | undefined)[],
    readonly onShardError?: ShardErrorHandler,
  ) {
    this.#k = codec.dataShards;
    this.#stripe = Math.floor(offset / BLOCK_SIZE);
    this.#lastStripe = Math.floor((offset + length - 1) / BLOCK_SIZE);
    sources.forEach((source, i) => source && this.#spare.push(i));
    this.#active = this.#spare.splice(0, this.#k).map((i) => this.#reader(i, this.#stripe));
  }

  async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    try {
      const stripe = this.#stripe++;
      const stripeStart = stripe * BLOCK_SIZE;
      const stripeLength = Math.min(BLOCK_SIZE, this.size - stripeStart);
      const block = this.codec.shardBlockLength(stripeLength);
      const shards = await this.#readStripe(stripe, block);
      if (this.#closed) return;
      if (shards.slice(0, this.#k).some((s) => !s)) this.codec.reconstruct(shards, block, true);
      const from = Math.max(this.offset, stripeStart) - stripeStart;
      const to = Math.min(this.offset + this.length, stripeStart + stripeLength) - stripeStart;
      for (let i = Math.floor(from / block); i < this.#k && i * block < to; i++) {
        const lo = Math.max(from, i * block) - i * block;
        const hi = Math.min(to, (i + 1) * block) - i * block;
        controller.enqueue((shards[i] as Uint8Array).subarray(lo, hi));
      }
      if (this.#stripe > this.#lastStripe) {
        await this.close();
        controller.close();
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const readers = this.#active;
    this.#active = [];
    await Promise.all(readers.map((r) => r.close()));
  }

  /** k verified blocks of one stripe (undefined elsewhere), replacing shards that fail. */
  async #readStripe(stripe: number, block: number): Promise<(Uint8Array | undefined)[]> {
    const shards = new Array<Uint8Array | undefined>(this.codec.totalShards).fill(undefined);
    let pending = this.#active;
    let good = 0;
    while (pending.length > 0 && !this.#closed) {
      const results = await Promise.all(pending.map((r) =>
        r.readBlock(block).then(
          (data) => ({ r, data, err: undefined }),
          (err: unknown) => ({ r, data: undefined, err }),
        )
      ));
      for (const { r, data, err } of results) {
        if (data) {
          shards[r.index] = data;
          good++;
        } else {
          await this.#drop(r, err, stripe);
        }
      }
      pending = this.#spare.splice(0, this.#k - good).map((i) => this.#reader(i, stripe));
      if (pending.length === 0) pending = this.#retry(stripe, this.#k - good);
      this.#active.push(...pending);
    }
    if (good < this.#k && !this.#closed) {
      throw new InsufficientReadQuorum(`only ${good} of ${this.#k} needed shards readable`);
    }
    return shards;
  }

  /**
   * Reopens up to `n` shards that failed at an earlier stripe, once no untried shard is left:
   * damage is often a single block, so a stripe that is otherwise decodable stays readable.
   */
  #retry(stripe: number, n: number): ShardReader[] {
    const again = this.#failed.filter((f) => f.stripe < stripe).slice(0, n);
    this.#failed = this.#failed.filter((f) => !again.includes(f));
    return again.map((f) => this.#reader(f.index, stripe));
  }

  async #drop(reader: ShardReader, err: unknown, stripe: number): Promise<void> {
    this.#active = this.#active.filter((r) => r !== reader);
    this.#failed.push({ index: reader.index, stripe });
    await reader.close();
    if (!this.#closed) {
      this.onShardError?.(reader.index, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A reader for shard `index` from `stripe` to the end of the range. */
  #reader(index: number, stripe: number): ShardReader {
    const start = this.codec.frameOffset(stripe);
    const lastLength = Math.min(BLOCK_SIZE, this.size - this.#lastStripe * BLOCK_SIZE);
    const end = this.codec.frameOffset(this.#lastStripe) + CHECKSUM_SIZE +
      this.codec.shardBlockLength(lastLength);
    const source = this.sources[index] as ShardSource;
    return new ShardReader(index, source, start, end - start, this.codec.readChunkSize());
  }
}

/**
 * Streams bytes [offset, offset+length) of an erasure-coded part of `size` bytes from any k
 * healthy sources (index = shard index; undefined = missing). Prefers data shards; on read
 * error, short read or checksum mismatch it drops that source, calls onShardError(index, err)
 * and reconstructs from parity. Fails with InsufficientReadQuorum when fewer than k sources are
 * healthy: at once (thrown) if fewer than k are given, else as the stream's error.
 */
export function decodeStream(
  codec: ErasureCodec,
  size: number,
  offset: number,
  length: number,
  sources: (ShardSource | undefined)[],
  onShardError?: ShardErrorHandler,
): ReadableStream<Uint8Array> {
  if (sources.length !== codec.totalShards) {
    throw new RangeError(`expected ${codec.totalShards} sources, got ${sources.length}`);
  }
  const integers = [size, offset, length].every(Number.isSafeInteger);
  if (!integers || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`range ${offset}+${length} outside part of ${size} bytes`);
  }
  const healthy = sources.filter((s) => s).length;
  if (healthy < codec.dataShards) {
    throw new InsufficientReadQuorum(`${healthy} shards available, ${codec.dataShards} needed`);
  }
  if (length === 0) return new ReadableStream({ start: (controller) => controller.close() });
  const decoder = new RangeDecoder(codec, size, offset, length, sources, onShardError);
  return new ReadableStream<Uint8Array>({
    pull: (controller) => decoder.pull(controller),
    cancel: () => decoder.close(),
  });
}
