/**
 * Where shard files go and come from. A drive's FileWriter is a ShardSink; a source wraps a
 * drive's readFileStream. MemoryShard serves inline data (small objects kept in xl.meta) and
 * tests.
 */

import { concatBytes } from "../bytes.ts";

export interface ShardSink {
  /**
   * Appends `data`. encodeStream reuses the buffer once the promise settles, so a sink that
   * holds on to the bytes must copy them.
   */
  write(data: Uint8Array): Promise<void>;
}

export interface ShardSource {
  /**
   * Raw framed bytes [offset, offset + length) of the shard file: a stream, or the bytes
   * themselves when they are in memory already (inline data), which spares a small GET a stream
   * per shard. `chunkSize`: how many bytes a stream's chunks should hold, where it reads in
   * chunks (a multiple of the frame size, so that frames come whole).
   */
  open(
    offset: number,
    length: number,
    chunkSize?: number,
  ): Promise<ReadableStream<Uint8Array> | Uint8Array>;
}

/** In-memory sink/source used for inline data (small objects stored in xl.meta) and tests. */
export class MemoryShard implements ShardSink, ShardSource {
  #chunks: Uint8Array[] = [];

  static of(bytes: Uint8Array): MemoryShard {
    const shard = new MemoryShard();
    shard.#chunks.push(bytes);
    return shard;
  }

  write(data: Uint8Array): Promise<void> {
    this.#chunks.push(data.slice());
    return Promise.resolve();
  }

  bytes(): Uint8Array {
    if (this.#chunks.length !== 1) this.#chunks = [concatBytes(this.#chunks)];
    return this.#chunks[0];
  }

  /** The bytes that exist in the range: past the end it reads short, as a truncated file. */
  open(offset: number, length: number): Promise<Uint8Array> {
    if (!(offset >= 0 && length >= 0)) {
      return Promise.reject(new RangeError(`invalid shard range ${offset}+${length}`));
    }
    return Promise.resolve(this.bytes().subarray(offset, offset + length));
  }
}
