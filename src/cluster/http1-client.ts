/**
 * A minimal HTTP/1.1 client for the internode API's hot calls, over a pool of keep-alive
 * connections to one peer (plain TCP, or TLS to https peers): small calls (a drive's readAll,
 * statFile, renameData; lock calls) as whole request and whole answer; streamed answers
 * (shard reads, walks) read from the socket as they come; uploads (shard writes) whose body
 * is written to the socket as it is produced. fetch costs ~100 µs per call on top of the
 * round trip (a small GET reads xl.meta from every drive) and copies what it sends.
 *
 * One request per connection at a time (no pipelining). A call's aborted signal closes its
 * connection. A reused connection that the peer had closed meanwhile (it restarted) fails
 * before any answer byte: the request is sent once more on a new connection, as Go does.
 */

export interface Http1Answer {
  status: number;
  /** By lower-case name (a repeated header: the last). */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Idle connections kept per peer; more are closed once their call ends. */
const MAX_IDLE = 32;
/** The largest answer head accepted (Deno.serve's own limit for requests). */
const MAX_HEAD = 64 * 1024;
const FIRST_READ = 16 * 1024;
/** The largest read of a streamed answer's body. */
const STREAM_READ = 1024 * 1024;
/** A connection keeps a read buffer up to this size between calls. */
const MAX_KEPT_BUFFER = 256 * 1024;

const latin1 = new TextDecoder("latin1");
const ascii = new TextEncoder();
const CRLF = ascii.encode("\r\n");
const LAST_CHUNK = ascii.encode("0\r\n\r\n");

/** The peer closed or broke the connection; `answered`: some of its answer had come. */
export class ConnectionLost extends Error {
  constructor(message: string, readonly answered: boolean) {
    super(message);
    this.name = "ConnectionLost";
  }
}

export class Http1Pool {
  /** Idle connections, each with its read buffer (reused: no allocation per call). */
  readonly #idle: Input[] = [];
  #closed = false;

  /** `host` and `port` of the peer; `tls` for an https one (trusting `caCerts` too). */
  constructor(
    readonly hostname: string,
    readonly port: number,
    readonly tls?: { caCerts?: string[] },
  ) {}

  async request(
    method: string,
    target: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<Http1Answer> {
    signal?.throwIfAborted();
    const message = this.#message(method, target, headers, body);
    for (;;) {
      const reused = this.#idle.pop();
      const input = reused ?? new Input(await this.#connect(signal));
      try {
        const answer = await exchange(input, message, signal);
        this.#release(input, answer.keepAlive);
        return answer;
      } catch (err) {
        closeQuietly(input.conn);
        if (signal?.aborted) throw signal.reason;
        if (reused && err instanceof ConnectionLost && !err.answered) continue;
        throw err;
      }
    }
  }

  /**
   * A request whose body is sent in pieces (chunked) while its answer is read as it comes: a
   * shard write. Always on a new connection (a stale pooled one could not be retried once
   * the body started); the connection joins the pool if both ends finished cleanly.
   */
  async upload(
    method: string,
    target: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Http1Stream> {
    signal?.throwIfAborted();
    const conn = await this.#connect(signal);
    const head = this.#head(method, target, headers, "transfer-encoding: chunked");
    const upload = new Http1Stream(new Input(conn), (input, reusable) => {
      this.#release(input, reusable);
    }, signal);
    await upload.start(head);
    return upload;
  }

  /**
   * A request without a body whose answer is read as it comes (a shard read, a walk). A
   * pooled connection the peer had closed is replaced as for small calls; the connection
   * returns to the pool once the answer was read to its end.
   */
  async stream(
    method: string,
    target: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Http1Stream> {
    signal?.throwIfAborted();
    const head = this.#head(method, target, headers, "content-length: 0");
    for (;;) {
      const reused = this.#idle.pop();
      const input = reused ?? new Input(await this.#connect(signal));
      const call = new Http1Stream(input, (i, reusable) => this.#release(i, reusable), signal);
      try {
        await call.start(head, true);
        await call.answer;
        return call;
      } catch (err) {
        call.abort();
        if (signal?.aborted) throw signal.reason;
        if (reused && err instanceof ConnectionLost && !err.answered) continue;
        throw err;
      }
    }
  }

  /** Closes the idle connections (calls in flight finish on theirs). */
  close(): void {
    this.#closed = true;
    for (const input of this.#idle.splice(0)) closeQuietly(input.conn);
  }

  /** Back to the pool when it may carry another call, closed otherwise. */
  #release(input: Input, reusable: boolean): void {
    if (reusable && input.pending === 0 && !this.#closed && this.#idle.length < MAX_IDLE) {
      input.reset();
      this.#idle.push(input);
    } else closeQuietly(input.conn);
  }

  async #connect(signal?: AbortSignal): Promise<Deno.Conn> {
    const { hostname, port } = this;
    if (this.tls) {
      // Deno.connectTls takes no signal: a peer that hangs in the handshake is cut by it.
      const conn = await Deno.connectTls({ hostname, port, caCerts: this.tls.caCerts });
      const cut = () => closeQuietly(conn);
      signal?.addEventListener("abort", cut, { once: true });
      try {
        await conn.handshake();
      } finally {
        signal?.removeEventListener("abort", cut);
      }
      signal?.throwIfAborted();
      return conn;
    }
    const conn = await Deno.connect({ hostname, port, signal });
    conn.setNoDelay(true);
    return conn;
  }

  #message(
    method: string,
    target: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
  ): Uint8Array {
    const head = this.#head(method, target, headers, `content-length: ${body?.byteLength ?? 0}`);
    return body?.byteLength ? concatBytes(head, body) : head;
  }

  /** A request head; `framing` says how its body is delimited. */
  #head(
    method: string,
    target: string,
    headers: Record<string, string>,
    framing: string,
  ): Uint8Array {
    let head = `${method} ${target} HTTP/1.1\r\nhost: ${this.hostname}:${this.port}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n]/.test(name + value)) throw new TypeError(`header ${name} has a line break`);
      head += `${name}: ${value}\r\n`;
    }
    return ascii.encode(`${head}${framing}\r\n\r\n`);
  }
}

/** The answer of an upload: status, headers, and the body as it comes. */
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

/** Sends `message` and reads one whole answer (1xx interim answers skipped). */
async function exchange(
  input: Input,
  message: Uint8Array,
  signal?: AbortSignal,
): Promise<Http1Answer & { keepAlive: boolean }> {
  const { conn } = input;
  const call = signal && { conn, signal };
  if (call) watch(call);
  try {
    try {
      for (let sent = 0; sent < message.byteLength;) {
        sent += await conn.write(message.subarray(sent));
      }
    } catch (err) {
      throw new ConnectionLost(`send failed: ${errorText(err)}`, false);
    }
    for (;;) {
      const answer = await readAnswer(input);
      if (answer.status >= 200) {
        if (input.pending > 0) answer.keepAlive = false;
        return answer;
      }
    }
  } finally {
    if (call) inFlight.delete(call);
  }
}

/**
 * Calls with a signal, checked every ABORT_CHECK_MS: an aborted one has its connection closed,
 * which ends its read. Cheaper than a listener on each signal (this is the hot path), and as
 * precise as the drive deadlines that abort them (deadlines.ts).
 */
const ABORT_CHECK_MS = 50;
const inFlight = new Set<{ conn: Deno.Conn; signal: AbortSignal }>();
let watchdog: ReturnType<typeof setInterval> | undefined;

function watch(call: { conn: Deno.Conn; signal: AbortSignal }): void {
  inFlight.add(call);
  if (watchdog === undefined) {
    watchdog = setInterval(() => {
      for (const c of inFlight) {
        if (!c.signal.aborted) continue;
        inFlight.delete(c);
        closeQuietly(c.conn);
      }
      if (inFlight.size === 0) Deno.unrefTimer(watchdog as unknown as number);
    }, ABORT_CHECK_MS);
  } else if (inFlight.size === 1) Deno.refTimer(watchdog as unknown as number);
}

/** The bytes read from a connection, consumed by the parser from `at`. */
class Input {
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

async function readAnswer(input: Input): Promise<Http1Answer & { keepAlive: boolean }> {
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

async function readHead(
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

function concatBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
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

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed already (by an abort, or the peer).
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
