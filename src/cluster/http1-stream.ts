/**
 * One internode request whose answer is read as it comes (a shard read, a walk) and whose
 * body, if any, is sent in pieces (a shard write): the streamed half of the internode HTTP/1.1
 * client (http1-client.ts).
 */
import {
  closeQuietly,
  concatBytes,
  ConnectionLost,
  errorText,
  Input,
  MAX_HEAD,
  readHead,
} from "./http1-read.ts";

/** The largest read of a streamed answer's body. */
const STREAM_READ = 1024 * 1024;

const ascii = new TextEncoder();
const CRLF = ascii.encode("\r\n");
const LAST_CHUNK = ascii.encode("0\r\n\r\n");

/** The answer of a streamed call: status, headers, and the body as it comes. */
export interface Http1StreamedAnswer {
  status: number;
  headers: Record<string, string>;
  body: ReadableStream<Uint8Array>;
}

/**
 * One request on its connection whose answer is read as it comes, and whose body, if any, is
 * sent in pieces: `send` resolves once the kernel took the bytes, so the caller may reuse its
 * buffers (no copy) and a peer that stops reading holds it back.
 */
export class Http1Stream {
  /** The answer's head, once it came (the body follows as it is read). */
  readonly answer: Promise<Http1StreamedAnswer>;
  #input: Input;
  #sent = false;
  #received = false;
  #finished = false;
  readonly #onAbort = () => this.abort();

  private readonly conn: Deno.Conn;

  constructor(
    input: Input,
    private readonly release: (input: Input, reusable: boolean) => void,
    private readonly signal?: AbortSignal,
  ) {
    this.#input = input;
    this.conn = input.conn;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.answer = this.#readAnswer();
    // Read by the caller or not, a failed answer must not go unhandled.
    this.answer.catch(() => {});
  }

  /** Sends the request head; `whole`: it is the whole request (no body follows). */
  async start(head: Uint8Array, whole = false): Promise<void> {
    await this.#write(head);
    this.#sent = whole;
  }

  /** Sends `parts` as one chunk of the body. */
  async send(...parts: Uint8Array[]): Promise<void> {
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    if (size === 0) return;
    const prefix = ascii.encode(`${size.toString(16)}\r\n`);
    // Small parts travel with the chunk's size line: one write instead of several.
    const first = parts[0].byteLength <= 64 ? concatBytes(prefix, parts.shift()!) : prefix;
    await this.#write(first);
    for (const part of parts) await this.#write(part);
    await this.#write(CRLF);
  }

  /** Ends the body. */
  async end(): Promise<void> {
    await this.#write(LAST_CHUNK);
    this.#sent = true;
    this.#settle();
  }

  /** Closes the connection: the request is abandoned (the peer sees it cut). */
  abort(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.signal?.removeEventListener("abort", this.#onAbort);
    closeQuietly(this.conn);
    this.release(this.#input, false);
  }

  async #write(data: Uint8Array): Promise<void> {
    try {
      for (let sent = 0; sent < data.byteLength;) {
        sent += await this.conn.write(data.subarray(sent));
      }
    } catch (err) {
      this.abort();
      throw new ConnectionLost(`send failed: ${errorText(err)}`, this.#input.answered);
    }
  }

  async #readAnswer(): Promise<Http1StreamedAnswer> {
    const input = this.#input;
    let head: { status: number; headers: Record<string, string> };
    try {
      do head = await readHead(input); while (head.status < 200);
    } catch (err) {
      this.abort();
      throw err;
    }
    const { headers } = head;
    const chunked = /\bchunked\b/i.test(headers["transfer-encoding"] ?? "");
    const length = headers["content-length"];
    let left = chunked ? 0 : Number(length ?? NaN);
    if (!chunked && !(Number.isSafeInteger(left) && left >= 0)) {
      this.abort();
      throw new ConnectionLost("streamed answer without a length or chunks", true);
    }
    const done = (controller: ReadableStreamDefaultController<Uint8Array>) => {
      this.#received = true;
      this.#settle();
      controller.close();
    };
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (!chunked) {
            if (left === 0) return done(controller);
            const piece = await this.#piece(left);
            left -= piece.byteLength;
            controller.enqueue(piece);
            return;
          }
          if (left === 0) {
            const sizeLine = (await input.line(1024)).split(";")[0].trim();
            if (!/^[0-9a-fA-F]{1,12}$/.test(sizeLine)) {
              throw new ConnectionLost("malformed chunk size", true);
            }
            left = parseInt(sizeLine, 16);
            if (left === 0) {
              while (await input.line(MAX_HEAD) !== "");
              return done(controller);
            }
          }
          const piece = await this.#piece(left);
          left -= piece.byteLength;
          if (left === 0 && await input.line(2) !== "") {
            throw new ConnectionLost("malformed chunk end", true);
          }
          controller.enqueue(piece);
        } catch (err) {
          this.abort();
          throw err;
        }
      },
      cancel: () => this.abort(),
    });
    return { status: head.status, headers, body };
  }

  /**
   * Up to `max` bytes of the body: what is buffered, else read straight from the socket into
   * a buffer of its own (no copy; large reads for large chunks of a shard).
   */
  async #piece(max: number): Promise<Uint8Array> {
    if (this.#input.pending > 0) return await this.#input.some(max);
    const buffer = new Uint8Array(Math.min(max, STREAM_READ));
    let n: number | null;
    try {
      n = await this.conn.read(buffer);
    } catch (err) {
      throw new ConnectionLost(`read failed: ${errorText(err)}`, true);
    }
    if (n === null) throw new ConnectionLost("connection closed by the peer", true);
    return buffer.subarray(0, n);
  }

  /** Both ends done cleanly: the connection may serve another request. */
  #settle(): void {
    if (!this.#sent || !this.#received || this.#finished) return;
    this.#finished = true;
    this.signal?.removeEventListener("abort", this.#onAbort);
    this.release(this.#input, true);
  }
}
