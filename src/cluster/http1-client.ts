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

import {
  closeQuietly,
  concatBytes,
  ConnectionLost,
  errorText,
  type Http1Answer,
  Input,
  readAnswer,
} from "./http1-read.ts";
import { Http1Stream } from "./http1-stream.ts";

export { ConnectionLost } from "./http1-read.ts";
export type { Http1Stream } from "./http1-stream.ts";

/** Idle connections kept per peer; more are closed once their call ends. */
const MAX_IDLE = 32;

const ascii = new TextEncoder();

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
