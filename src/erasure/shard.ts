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
  /** Raw framed bytes [offset, offset + length) of the shard file. */
  open(offset: number, length: number): Promise<ReadableStream<Uint8Array>>;
}

/** Size of the chunks MemoryShard streams, like a file read. */
const READ_CHUNK = 64 * 1024;

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

  /** Streams the bytes that exist in the range: past the end it reads short, as a truncated file. */
  open(offset: number, length: number): Promise<ReadableStream<Uint8Array>> {
    if (!(offset >= 0 && length >= 0)) {
      return Promise.reject(new RangeError(`invalid shard range ${offset}+${length}`));
    }
    const bytes = this.bytes();
    const end = Math.min(offset + length, bytes.byteLength);
    let position = offset;
    return Promise.resolve(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          if (position >= end) return controller.close();
          const next = Math.min(position + READ_CHUNK, end);
          controller.enqueue(bytes.subarray(position, next));
          position = next;
        },
      }),
    );
  }
}
