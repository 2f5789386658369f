/**
 * Reading HTTP/1.1 answers from a connection for the internode client (http1-client.ts): a
 * buffer per connection, the head, and bodies delimited by length, chunks or the connection's
 * end. Malformed or cut answers throw ConnectionLost.
 */

export interface Http1Answer {
  status: number;
  /** By lower-case name (a repeated header: the last). */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** The largest answer head accepted (Deno.serve's own limit for requests). */
export const MAX_HEAD = 64 * 1024;
const FIRST_READ = 16 * 1024;
/** A connection keeps a read buffer up to this size between calls. */
const MAX_KEPT_BUFFER = 256 * 1024;

const latin1 = new TextDecoder("latin1");

/** The peer closed or broke the connection; `answered`: some of its answer had come. */
export class ConnectionLost extends Error {
  constructor(message: string, readonly answered: boolean) {
    super(message);
    this.name = "ConnectionLost";
  }
}

/** The bytes read from a connection, consumed by the parser from `at`. */
export class Input {
  buffer: Uint8Array;
  end = 0;
  at = 0;
  /** Some of the answer has come. */
  answered = false;

  constructor(readonly conn: Deno.Conn) {
    this.buffer = new Uint8Array(FIRST_READ);
  }

  get pending(): number {
    return this.end - this.at;
  }

  /** Ready for the next answer on this connection (a buffer grown large is dropped). */
  reset(): void {
    this.at = this.end = 0;
    this.answered = false;
    if (this.buffer.byteLength > MAX_KEPT_BUFFER) this.buffer = new Uint8Array(FIRST_READ);
  }

  /** Reads more; ConnectionLost at the end of the stream. */
  async more(): Promise<void> {
    if (this.end === this.buffer.byteLength) this.#room(FIRST_READ);
    let n: number | null;
    try {
      n = await this.conn.read(this.buffer.subarray(this.end));
    } catch (err) {
      throw new ConnectionLost(`read failed: ${errorText(err)}`, this.answered);
    }
    if (n === null) throw new ConnectionLost("connection closed by the peer", this.answered);
    this.end += n;
    this.answered = true;
  }

  /** Makes room for `n` more bytes after `end`, dropping what was consumed. */
  #room(n: number): void {
    const kept = this.end - this.at;
    const grown = new Uint8Array(Math.max(this.buffer.byteLength, kept + n));
    grown.set(this.buffer.subarray(this.at, this.end));
    this.buffer = grown;
    this.at = 0;
    this.end = kept;
  }

  /** The next `n` bytes (read as needed). */
  async take(n: number): Promise<Uint8Array> {
    if (this.buffer.byteLength - this.at < n) this.#room(n);
    while (this.pending < n) await this.more();
    const out = this.buffer.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** Index just past the next blank line (read as needed, at most `limit` bytes on). */
  async headEnd(limit: number): Promise<number> {
    for (let scanned = 0;;) {
      const { buffer, end } = this;
      for (let i = this.at + Math.max(0, scanned - 3); i + 3 < end; i++) {
        if (
          buffer[i] === 13 && buffer[i + 1] === 10 && buffer[i + 2] === 13 && buffer[i + 3] === 10
        ) {
          return i + 4;
        }
      }
      if (this.pending > limit) throw new ConnectionLost("answer head too long", true);
      scanned = this.pending;
      await this.more();
    }
  }

  /** What has come, at most `max` bytes (at least one: read as needed). */
  async some(max: number): Promise<Uint8Array> {
    if (this.pending === 0) await this.more();
    const n = Math.min(max, this.pending);
    const out = this.buffer.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /** The next line without its CRLF (chunked bodies). */
  async line(limit: number): Promise<string> {
    for (let scanned = 0;;) {
      const lf = this.buffer.subarray(this.at + scanned, this.end).indexOf(10);
      if (lf >= 0) {
        const end = this.at + scanned + lf;
        const text = latin1.decode(this.buffer.subarray(this.at, end));
        this.at = end + 1;
        return text.endsWith("\r") ? text.slice(0, -1) : text;
      }
      if (this.pending > limit) throw new ConnectionLost("answer line too long", true);
      scanned = this.pending;
      await this.more();
    }
  }
}

export async function readAnswer(input: Input): Promise<Http1Answer & { keepAlive: boolean }> {
  const { status, headers } = await readHead(input);
  const keepAlive = !/\bclose\b/i.test(headers["connection"] ?? "");
  if (status < 200 || status === 204 || status === 304) {
    return { status, headers, body: new Uint8Array(0), keepAlive };
  }
  if (/\bchunked\b/i.test(headers["transfer-encoding"] ?? "")) {
    return { status, headers, body: await readChunked(input), keepAlive };
  }
  const length = headers["content-length"];
  if (length === undefined) {
    // Delimited by the end of the connection.
    return { status, headers, body: await readToEnd(input), keepAlive: false };
  }
  if (!/^\d{1,15}$/.test(length)) throw new ConnectionLost("malformed content-length", true);
  return { status, headers, body: await input.take(Number(length)), keepAlive };
}

export async function readHead(
  input: Input,
): Promise<{ status: number; headers: Record<string, string> }> {
  const end = await input.headEnd(MAX_HEAD);
  const lines = latin1.decode(input.buffer.subarray(input.at, end - 4)).split("\r\n");
  input.at = end;
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!match) throw new ConnectionLost(`malformed status line ${JSON.stringify(lines[0])}`, true);
  const status = Number(match[1]);
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon <= 0) throw new ConnectionLost("malformed answer header", true);
    headers[lines[i].slice(0, colon).trim().toLowerCase()] = lines[i].slice(colon + 1).trim();
  }
  return { status, headers };
}

async function readChunked(input: Input): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const sizeLine = (await input.line(1024)).split(";")[0].trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeLine)) {
      throw new ConnectionLost("malformed chunk size", true);
    }
    const size = parseInt(sizeLine, 16);
    if (size === 0) break;
    chunks.push(await input.take(size));
    total += size;
    if (await input.line(2) !== "") throw new ConnectionLost("malformed chunk end", true);
  }
  // Trailers, up to the empty line.
  while (await input.line(MAX_HEAD) !== "");
  return concat(chunks, total);
}

async function readToEnd(input: Input): Promise<Uint8Array> {
  for (;;) {
    try {
      await input.more();
    } catch (err) {
      if (err instanceof ConnectionLost) break;
      throw err;
    }
  }
  return input.buffer.slice(input.at, input.end);
}

export function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already (by an abort, or the peer).
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
