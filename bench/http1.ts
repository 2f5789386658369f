/**
 * A keep-alive HTTP/1.1 connection that sends requests whose head is already rendered (and
 * signed) and reads each response to its end. It is the small-object load's transport: fetch
 * costs the client a few hundred µs of CPU per request, and on a 2-core machine that CPU is
 * taken from the server being measured, which flattens every ratio towards 1.
 */

const CRLF_CRLF = [13, 10, 13, 10];
const decoder = new TextDecoder();

export interface Reply {
  status: number;
  /** Body bytes received (a HEAD reply has none, whatever its Content-Length says). */
  bytes: number;
  /** The body as text, kept only for failed requests (to report them). */
  error?: string;
}

export class KeepAliveConnection {
  #conn?: Deno.TcpConn;
  #buffer = new Uint8Array(1 << 16);
  /** Bytes of #buffer received but not consumed yet: [#start, #end). */
  #start = 0;
  #end = 0;

  constructor(readonly hostname: string, readonly port: number) {}

  /** Sends `head` (+ `body`) and reads the reply; reconnects once if the server had closed. */
  async request(head: Uint8Array, body?: Uint8Array, isHead = false): Promise<Reply> {
    const fresh = this.#conn === undefined;
    try {
      return await this.#exchange(head, body, isHead);
    } catch (err) {
      this.close();
      if (fresh) throw err;
      return await this.#exchange(head, body, isHead);
    }
  }

  close(): void {
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    this.#conn = undefined;
    this.#start = this.#end = 0;
  }

  async #exchange(head: Uint8Array, body: Uint8Array | undefined, isHead: boolean) {
    if (!this.#conn) {
      this.#conn = await Deno.connect({ hostname: this.hostname, port: this.port });
      this.#conn.setNoDelay(true);
    }
    // One write: a body sent after its head waits for the server's delayed ACK (Nagle).
    await this.#writeAll(body ? concat(head, body) : head);
    const headEnd = await this.#fill(() => this.#indexOf(CRLF_CRLF));
    const text = decoder.decode(this.#buffer.subarray(this.#start, headEnd));
    this.#start = headEnd + 4;
    const status = Number(text.slice(9, 12));
    const lower = text.toLowerCase();
    const close = /\r\nconnection: *close/.test(lower);
    let reply: Reply;
    if (isHead || status === 204 || status === 304) reply = { status, bytes: 0 };
    else if (/\r\ntransfer-encoding: *chunked/.test(lower)) reply = await this.#chunked(status);
    else {
      const length = /\r\ncontent-length: *(\d+)/.exec(lower);
      if (!length) throw new Error(`reply without a length: ${text.split("\r\n", 1)[0]}`);
      reply = await this.#sized(status, Number(length[1]));
    }
    if (close) this.close();
    return reply;
  }

  async #sized(status: number, length: number): Promise<Reply> {
    const failed = status >= 300;
    let error = "";
    for (let left = length; left > 0;) {
      await this.#fill(() => this.#end > this.#start ? this.#start : -1);
      const n = Math.min(left, this.#end - this.#start);
      if (failed) error += decoder.decode(this.#buffer.subarray(this.#start, this.#start + n));
      this.#start += n;
      left -= n;
    }
    return failed ? { status, bytes: length, error } : { status, bytes: length };
  }

  async #chunked(status: number): Promise<Reply> {
    let bytes = 0;
    let error = "";
    for (;;) {
      const lineEnd = await this.#fill(() => this.#indexOf([13, 10]));
      const size = parseInt(decoder.decode(this.#buffer.subarray(this.#start, lineEnd)), 16);
      this.#start = lineEnd + 2;
      if (size === 0) {
        await this.#fill(() => this.#indexOf([13, 10]));
        this.#start += 2;
        return status >= 300 ? { status, bytes, error } : { status, bytes };
      }
      const sized = await this.#sized(status, size);
      bytes += size;
      error += sized.error ?? "";
      await this.#fill(() => this.#end - this.#start >= 2 ? this.#start : -1);
      this.#start += 2;
    }
  }

  #indexOf(pattern: number[]): number {
    const last = this.#end - pattern.length;
    outer: for (let i = this.#start; i <= last; i++) {
      for (let j = 0; j < pattern.length; j++) {
        if (this.#buffer[i + j] !== pattern[j]) continue outer;
      }
      return i;
    }
    return -1;
  }

  /** Reads until `found()` returns a position (not -1), and returns it. */
  async #fill(found: () => number): Promise<number> {
    for (;;) {
      const at = found();
      if (at >= 0) return at;
      if (this.#start > 0) {
        this.#buffer.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buffer.byteLength) {
        const grown = new Uint8Array(this.#buffer.byteLength * 2);
        grown.set(this.#buffer);
        this.#buffer = grown;
      }
      const n = await this.#conn!.read(this.#buffer.subarray(this.#end));
      if (n === null) throw new Error("connection closed by the server");
      this.#end += n;
    }
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let done = 0; done < bytes.byteLength;) {
      done += await this.#conn!.write(bytes.subarray(done));
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
