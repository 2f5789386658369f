/**
 * Reads exact byte counts from a ReadableStream, or from bytes already in memory, without
 * copying when a chunk holds them.
 */

import { FileCorrupt } from "../storage/errors.ts";

export class ExactReader {
  readonly #reader?: ReadableStreamDefaultReader<Uint8Array>;
  #rest: Uint8Array = new Uint8Array(0);

  constructor(source: ReadableStream<Uint8Array> | Uint8Array) {
    if (source instanceof Uint8Array) this.#rest = source;
    else this.#reader = source.getReader();
  }

  /** The next `length` bytes; FileCorrupt if the stream ends first. */
  async read(length: number): Promise<Uint8Array> {
    if (this.#rest.byteLength === 0 && length > 0) this.#rest = await this.#next();
    if (this.#rest.byteLength >= length) return this.#take(length);
    const out = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      if (this.#rest.byteLength === 0) this.#rest = await this.#next();
      const part = this.#take(Math.min(length - filled, this.#rest.byteLength));
      out.set(part, filled);
      filled += part.byteLength;
    }
    return out;
  }

  /** Releases the underlying stream (closing its file); never throws. */
  async cancel(): Promise<void> {
    await this.#reader?.cancel().catch(() => {});
  }

  #take(length: number): Uint8Array {
    const part = this.#rest.subarray(0, length);
    this.#rest = this.#rest.subarray(length);
    return part;
  }

  async #next(): Promise<Uint8Array> {
    const chunk = await this.#reader?.read();
    if (!chunk || chunk.done) throw new FileCorrupt("shard ended before the requested range");
    return chunk.value;
  }
}
