/**
 * The request body as a lazy ReadableStream: each read pulls at most one socket read of
 * bytes, so memory per connection is bounded and a slow consumer slows the client down
 * (TCP backpressure). Decodes Content-Length and chunked framing; nothing else.
 */

import { HttpError } from "./errors.ts";
import { latin1, parseFieldLine } from "./head.ts";
import type { ConnReader } from "./reader.ts";

/** Hex digits of a chunk size: 13 keep the value below 2^53. */
const CHUNK_SIZE = /^([0-9a-fA-F]{1,13})(.*)$/s;
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const CHUNK_EXT = new RegExp(
  `^(?:[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|"(?:[^"\\\\]|\\\\.)*"))?)*$`,
);
/** Chunk extensions are never used by us; this only bounds what a client may send. */
export const MAX_CHUNK_EXT = 1024;
const MAX_TRAILER_LINE = 8 * 1024;
const MAX_TRAILERS = 32;

export type Framing = { length: number } | { chunked: true };

export class RequestBody {
  /** Every byte of the body (and its framing) has been consumed from the connection. */
  finished: boolean;
  /** The body was read at least once (so 100 Continue, if expected, was sent). */
  started = false;
  /** Malformed framing: the connection answers with this instead of the handler's response. */
  failure?: HttpError;
  /** Set when the request is over: later reads must not steal the next request's bytes. */
  private detached = false;
  private left: number;
  private readonly chunked: boolean;
  private needCrlf = false;
  private pending?: Promise<Uint8Array | null>;

  constructor(
    private readonly reader: ConnReader,
    framing: Framing,
    private readonly beforeFirstRead: () => Promise<void>,
  ) {
    this.chunked = "chunked" in framing;
    this.left = "length" in framing ? framing.length : 0;
    this.finished = !this.chunked && this.left === 0;
  }

  /** The body for the Request; made on demand because a stream costs more than parsing. */
  stream(): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await this.read();
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
  }

  /** Next piece of body data; null at its end. One read at a time. */
  read(): Promise<Uint8Array | null> {
    if (this.pending) throw new Error("concurrent body reads");
    this.pending = this.next().finally(() => this.pending = undefined);
    return this.pending;
  }

  private async next(): Promise<Uint8Array | null> {
    if (this.detached) throw new Error("request body read after the response was sent");
    if (this.failure) throw this.failure;
    if (this.finished) return null;
    if (!this.started) {
      this.started = true;
      await this.beforeFirstRead();
    }
    this.reader.meter = true;
    try {
      return this.chunked ? await this.nextChunkData() : await this.nextFixed();
    } catch (err) {
      if (err instanceof HttpError) this.failure = err;
      throw err;
    } finally {
      this.reader.meter = false;
    }
  }

  private async nextFixed(): Promise<Uint8Array> {
    const data = await this.reader.readBody(this.left);
    if (data === null) throw new HttpError(400, "connection closed inside the body");
    this.left -= data.length;
    if (this.left === 0) this.finished = true;
    return data;
  }

  private async nextChunkData(): Promise<Uint8Array | null> {
    if (this.left === 0) {
      if (this.needCrlf) {
        const end = await this.reader.readLine(0);
        if (end.length !== 0) throw new HttpError(400, "chunk data longer than its size");
        this.needCrlf = false;
      }
      const size = parseChunkSize(await this.reader.readLine(13 + MAX_CHUNK_EXT));
      if (size === 0) {
        await this.readTrailers();
        this.finished = true;
        return null;
      }
      this.left = size;
    }
    const data = await this.reader.readBody(this.left);
    if (data === null) throw new HttpError(400, "connection closed inside a chunk");
    this.left -= data.length;
    if (this.left === 0) this.needCrlf = true;
    return data;
  }

  /** Trailer fields are checked for syntax and discarded. */
  private async readTrailers(): Promise<void> {
    for (let count = 0;; count++) {
      const line = await this.reader.readLine(MAX_TRAILER_LINE);
      if (line.length === 0) return;
      if (count === MAX_TRAILERS) throw new HttpError(400, "too many trailer fields");
      parseFieldLine(latin1(line));
    }
  }

  /**
   * After the response: consumes what is left of the body, up to `limit` bytes, so the
   * connection can be reused. False if the body is longer, malformed or cut off.
   */
  async drain(limit: number): Promise<boolean> {
    try {
      await this.pending;
    } catch {
      return false;
    }
    this.started = true; // no 100 Continue any more: the final response is out
    let drained = 0;
    try {
      while (!this.finished && drained <= limit) {
        const chunk = await this.next();
        if (chunk === null) break;
        drained += chunk.length;
      }
    } catch {
      return false;
    }
    return this.finished;
  }

  detach(): void {
    this.detached = true;
  }
}

function parseChunkSize(line: Uint8Array): number {
  const match = CHUNK_SIZE.exec(latin1(line));
  if (!match) throw new HttpError(400, "invalid chunk size");
  if (match[2] !== "" && !CHUNK_EXT.test(match[2])) {
    throw new HttpError(400, "invalid chunk extension");
  }
  return parseInt(match[1], 16);
}
