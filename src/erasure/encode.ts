/**
 * Stream → 1 MiB stripes → framed shard blocks. Source bytes are copied once, straight into
 * the data frames; ISA-L writes parity into the parity frames behind their checksum, so every
 * shard gets exactly one write per stripe. Two frame sets alternate: while one stripe is being
 * written, the next is read and encoded into the other.
 */

import { InsufficientWriteQuorum, StorageFull } from "../object/errors.ts";
import { DiskFull } from "../storage/errors.ts";
import { sealFrame } from "./bitrot.ts";
import { BLOCK_SIZE, CHECKSUM_SIZE, type ErasureCodec } from "./codec.ts";
import type { ShardSink } from "./shard.ts";

/** The k+m frames of one stripe in a single allocation, laid out for a full stripe. */
class StripeFrames {
  readonly #frames: Uint8Array[] = [];
  readonly #block: number;

  constructor(readonly codec: ErasureCodec) {
    this.#block = codec.shardBlockLength(BLOCK_SIZE);
    const frameLength = CHECKSUM_SIZE + this.#block;
    const buffer = new Uint8Array(frameLength * codec.totalShards);
    for (let i = 0; i < codec.totalShards; i++) {
      this.#frames.push(buffer.subarray(i * frameLength, (i + 1) * frameLength));
    }
  }

  /** Copies `bytes` to offset `at` of the stripe. */
  put(bytes: Uint8Array, at: number): void {
    for (let done = 0; done < bytes.byteLength;) {
      const shard = Math.floor((at + done) / this.#block);
      const within = (at + done) % this.#block;
      const n = Math.min(this.#block - within, bytes.byteLength - done);
      this.#frames[shard].set(bytes.subarray(done, done + n), CHECKSUM_SIZE + within);
      done += n;
    }
  }

  /** Pads and encodes a stripe of `length` bytes, checksums the frames of live shards. */
  seal(length: number, live: (ShardSink | undefined)[]): Uint8Array[] {
    const k = this.codec.dataShards;
    const block = this.codec.shardBlockLength(length);
    if (block === this.#block) {
      // Same layout as a full stripe: only the last data block can hold padding.
      this.#frames[k - 1].fill(0, CHECKSUM_SIZE + length - (k - 1) * block);
    } else {
      this.#relayout(length, block);
    }
    const frames = this.#frames.map((f) => f.subarray(0, CHECKSUM_SIZE + block));
    this.codec.encodeParity(frames.map((f) => f.subarray(CHECKSUM_SIZE)), block);
    frames.forEach((frame, i) => {
      if (live[i]) sealFrame(frame);
    });
    return frames;
  }

  /** A short (last) stripe has smaller blocks: move its bytes from full-stripe positions. */
  #relayout(length: number, block: number): void {
    const k = this.codec.dataShards;
    const stripe = new Uint8Array(length);
    for (let i = 0; i * this.#block < length; i++) {
      const n = Math.min(this.#block, length - i * this.#block);
      stripe.set(this.#frames[i].subarray(CHECKSUM_SIZE, CHECKSUM_SIZE + n), i * this.#block);
    }
    for (let i = 0; i < k; i++) {
      const part = stripe.subarray(Math.min(i * block, length), Math.min((i + 1) * block, length));
      this.#frames[i].set(part, CHECKSUM_SIZE);
      this.#frames[i].fill(0, CHECKSUM_SIZE + part.byteLength, CHECKSUM_SIZE + block);
    }
  }
}

/** Cuts a stream of arbitrary chunks into stripes. */
class StripeReader {
  #rest: Uint8Array = new Uint8Array(0);

  constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** Fills `frames` with up to BLOCK_SIZE bytes; fewer only at the end of the stream. */
  async fill(frames: StripeFrames): Promise<number> {
    let filled = 0;
    while (filled < BLOCK_SIZE) {
      if (this.#rest.byteLength === 0) {
        const { done, value } = await this.reader.read();
        if (done) break;
        this.#rest = value;
      }
      const n = Math.min(this.#rest.byteLength, BLOCK_SIZE - filled);
      frames.put(this.#rest.subarray(0, n), filled);
      this.#rest = this.#rest.subarray(n);
      filled += n;
    }
    return filled;
  }
}

/** Throws unless `writeQuorum` sinks are live; StorageFull when full drives made the difference. */
function requireQuorum(live: (ShardSink | undefined)[], writeQuorum: number, full: number): void {
  const count = live.filter((s) => s).length;
  if (count >= writeQuorum) return;
  const message = `${count} shard writers left, quorum is ${writeQuorum}`;
  if (count + full >= writeQuorum) throw new StorageFull(`${message}; ${full} drive(s) full`);
  throw new InsufficientWriteQuorum(message);
}

/**
 * Writes one frame to each live sink in parallel; a sink that throws is dropped (its index
 * added to `failed`, and to `full` when its drive is full).
 */
async function writeStripe(
  live: (ShardSink | undefined)[],
  frames: Uint8Array[],
  failed: number[],
  full: number[],
): Promise<void> {
  await Promise.all(live.map(async (sink, i) => {
    if (!sink) return;
    try {
      await sink.write(frames[i]);
    } catch (err) {
      live[i] = undefined;
      failed.push(i);
      if (err instanceof DiskFull) full.push(i);
    }
  }));
}

/** Idle frame sets per shape, reused across calls: zeroing a fresh 1.5 MiB set costs more than
 *  encoding a small object. */
const idleFrames = new Map<string, StripeFrames[]>();
const MAX_IDLE_FRAMES = 4;

function takeFrames(codec: ErasureCodec): StripeFrames {
  return idleFrames.get(`${codec.dataShards}+${codec.parityShards}`)?.pop() ??
    new StripeFrames(codec);
}

function releaseFrames(frames: StripeFrames): void {
  const key = `${frames.codec.dataShards}+${frames.codec.parityShards}`;
  const idle = idleFrames.get(key) ?? idleFrames.set(key, []).get(key) as StripeFrames[];
  if (idle.length < MAX_IDLE_FRAMES) idle.push(frames);
}

/**
 * Reads `source` in BLOCK_SIZE stripes, encodes, writes framed blocks to sinks[i] (index =
 * shard index, undefined = drive offline). A sink that throws is dropped (its index reported
 * in `failed`); if fewer than `writeQuorum` sinks remain, throws InsufficientWriteQuorum (its
 * subclass StorageFull when full drives made the difference) and cancels the source. Returns total bytes read. Memory: two stripes of frames.
 */
export async function encodeStream(
  codec: ErasureCodec,
  source: ReadableStream<Uint8Array>,
  sinks: (ShardSink | undefined)[],
  writeQuorum: number,
): Promise<{ size: number; failed: number[] }> {
  if (sinks.length !== codec.totalShards) {
    throw new RangeError(`expected ${codec.totalShards} sinks, got ${sinks.length}`);
  }
  const live = sinks.slice();
  const failed: number[] = [];
  const full: number[] = [];
  const reader = source.getReader();
  const stripes = new StripeReader(reader);
  const prepare = async (frames: StripeFrames) => {
    const length = await stripes.fill(frames);
    return { length, frames: length > 0 ? frames.seal(length, live) : [] };
  };
  try {
    requireQuorum(live, writeQuorum, 0);
    let current = takeFrames(codec);
    let spare: StripeFrames | undefined;
    try {
      let stripe = await prepare(current);
      let size = 0;
      while (stripe.length > 0) {
        size += stripe.length;
        const writing = writeStripe(live, stripe.frames, failed, full);
        // A short stripe ended the stream; otherwise the next one is read and encoded while
        // this one is being written.
        const next = stripe.length === BLOCK_SIZE ? spare ??= takeFrames(codec) : undefined;
        const reading = next ? prepare(next) : Promise.resolve({ length: 0, frames: [] });
        const [, read] = await Promise.allSettled([writing, reading]);
        requireQuorum(live, writeQuorum, full.length);
        if (read.status === "rejected") throw read.reason;
        stripe = read.value;
        if (next) [spare, current] = [current, next];
      }
      return { size, failed: failed.sort((a, b) => a - b) };
    } finally {
      releaseFrames(current);
      if (spare) releaseFrames(spare);
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  }
}
