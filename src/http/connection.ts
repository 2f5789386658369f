/**
 * One client connection: reads request heads under a deadline, hands each request to the
 * handler, writes its response, and decides whether the connection carries another one.
 * Requests on a connection are served one at a time, in order (pipelined requests wait).
 */

import { RequestBody } from "./body.ts";
import { HttpError } from "./errors.ts";
import { latin1, parseRequestHead, type RequestHead } from "./head.ts";
import { setRawTarget } from "./raw-target.ts";
import { ConnReader } from "./reader.ts";
import { ConnWriter, errorResponseHead, writeResponse } from "./response.ts";

export type Handler = (
  request: Request,
  info: { remoteAddr: string },
) => Response | Promise<Response>;

export interface ConnectionOptions {
  handler: Handler;
  scheme: "http" | "https";
  /** Host used for HTTP/1.0 requests without a Host header. */
  defaultHost: string;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  minBodyRate: number;
  bodyRateWindowMs: number;
  maxHeaderBytes: number;
  maxHeaders: number;
  /** Unread request body bytes skipped to keep a connection alive; more closes it. */
  drainLimit: number;
}

/** What the deadline sweeper looks at: "busy" has no deadline but a body-rate check. */
type Phase = "idle" | "head" | "busy" | "drain" | "closed";

/**
 * Requests whose body may pause for up to the given ms instead of keeping the minimum rate:
 * an authenticated peer's shard stream idles between stripes as long as the client upload
 * feeding it does.
 */
const idleBodies = new WeakMap<Request, number>();

/** Lets `request`'s body pause for up to `ms` at a time (no minimum rate). */
export function allowIdleBody(request: Request, ms: number): void {
  idleBodies.set(request, ms);
}

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");
/**
 * After refusing a request, unread bytes are discarded for this long before closing. Time is
 * the bound that matters; the byte cap is high enough that a client still uploading a
 * multi-MiB body at loopback or LAN speed gets to read the refusal instead of a reset.
 */
const LINGER_MS = 2000;
const LINGER_BYTES = 64 * 1024 * 1024;

export class Connection {
  private phase: Phase = "head";
  private deadline: number;
  /** Shutdown: finish the current request, then close. */
  private closing = false;
  /** The body-rate check already answered 408. */
  private cut = false;
  private readonly reader: ConnReader;
  private readonly writer: ConnWriter;
  private readonly info: { remoteAddr: string };
  /** The request being served (its body-rate rule). */
  private request?: Request;
  private markClosed!: () => void;
  /** Resolves when the socket is closed, even while a cut-off handler is still running. */
  readonly closedSignal = new Promise<void>((resolve) => this.markClosed = resolve);

  constructor(private readonly conn: Deno.Conn, private readonly options: ConnectionOptions) {
    this.deadline = Date.now() + options.headerTimeoutMs;
    this.reader = new ConnReader(conn, options.maxHeaderBytes);
    this.writer = new ConnWriter(conn);
    // The client's IP address, as the Deno.serve engine reports it.
    this.info = { remoteAddr: (conn.remoteAddr as Deno.NetAddr).hostname };
  }

  /** Serves requests until the connection ends; never throws. */
  async run(): Promise<void> {
    try {
      for (let first = true; !this.closing; first = false) {
        if (!first) {
          this.phase = "idle";
          this.deadline = Date.now() + this.options.idleTimeoutMs;
        }
        if (!await this.serveOne()) break;
      }
    } catch {
      // The peer went away or broke the protocol mid-stream: nothing more to say to it.
    } finally {
      this.close();
    }
  }

  /** Called by the server's sweeper: enforces deadlines and the minimum body rate. */
  tick(now: number): void {
    const writingSince = this.writer.writingSince;
    if (writingSince !== 0 && now - writingSince > this.options.idleTimeoutMs) {
      // The client stopped reading what we send (a slow-read attack or a dead peer).
      this.close();
    } else if (this.phase === "busy") {
      const { minBodyRate, bodyRateWindowMs } = this.options;
      const idleMs = this.request && idleBodies.get(this.request);
      const slow = idleMs !== undefined
        ? this.reader.stalled(now, idleMs)
        : minBodyRate > 0 && this.reader.tooSlow(now, minBodyRate, bodyRateWindowMs);
      if (slow) this.cutSlowBody();
    } else if (this.phase !== "closed" && now >= this.deadline) {
      this.close();
    }
  }

  /** Shutdown: idle connections close now, busy ones after their current response. */
  shutdown(): void {
    this.closing = true;
    if (this.phase === "idle" || (this.phase === "head" && this.reader.buffered === 0)) {
      this.close();
    }
  }

  close(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.markClosed();
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }

  get closed(): boolean {
    return this.phase === "closed";
  }

  private cutSlowBody(): void {
    this.cut = true;
    if (this.writer.headSent) return this.close();
    this.writer.writeHead(errorResponseHead(408, "request body too slow"), new Uint8Array(0))
      .catch(() => {})
      .finally(() => this.close());
  }

  /** Reads and serves one request; returns whether the connection stays open. */
  private async serveOne(): Promise<boolean> {
    let head: RequestHead;
    try {
      const bounds = await this.reader.readHead(this.options.maxHeaders, () => {
        if (this.phase !== "idle") return;
        this.phase = "head";
        this.deadline = Date.now() + this.options.headerTimeoutMs;
      });
      if (bounds === null) return false;
      head = parseRequestHead(latin1(this.reader.buf.subarray(bounds[0], bounds[1])));
    } catch (err) {
      if (err instanceof HttpError) await this.refuse(err);
      return false;
    }
    this.phase = "busy";
    this.reader.resetMeter();

    const body = new RequestBody(
      this.reader,
      head.chunked ? { chunked: true } : { length: head.contentLength },
      () => this.sendContinue(head),
    );
    const request = this.buildRequest(head, body);
    this.request = request;
    if (request === undefined) {
      await this.refuse(new HttpError(400, "invalid request target or Host"));
      return false;
    }
    let response: Response;
    try {
      response = await this.options.handler(request, this.info);
    } catch {
      response = new Response("internal server error\n", { status: 500 });
    }
    if (this.cut) return false;
    if (body.failure) {
      await response.body?.cancel().catch(() => {});
      await this.refuse(body.failure);
      return false;
    }
    let keepAlive: boolean;
    try {
      keepAlive = await writeResponse(this.writer, response, {
        method: head.method,
        minor: head.minor,
        keepAlive: head.keepAlive && !this.closing,
      });
    } catch (err) {
      // A response that cannot be sent as declared: say so if nothing went out yet.
      if (!this.writer.headSent && !this.closed) {
        await this.refuse(new HttpError(500, "the response could not be sent"));
      }
      throw err;
    }
    if (!body.finished) {
      // A client told to wait for 100 Continue that got a final answer instead may or may
      // not send its body: the connection cannot be reused either way.
      if (!keepAlive || (head.expectContinue && !body.started)) {
        await this.linger();
        return false;
      }
      this.phase = "drain";
      this.deadline = Date.now() + this.options.headerTimeoutMs;
      keepAlive = await body.drain(this.options.drainLimit);
      if (!keepAlive) await this.linger();
    }
    body.detach();
    this.writer.headSent = false;
    return keepAlive && !this.closing;
  }

  private buildRequest(head: RequestHead, body: RequestBody): Request | undefined {
    const hasBody = !body.finished && head.method !== "GET" && head.method !== "HEAD";
    try {
      const request = new Request(
        `${this.options.scheme}://${head.host ?? this.options.defaultHost}${head.target}`,
        {
          method: head.method,
          headers: head.headers,
          body: hasBody ? body.stream() : null,
          duplex: "half",
        } as RequestInit,
      );
      setRawTarget(request, head.target);
      return request;
    } catch {
      return undefined;
    }
  }

  private async sendContinue(head: RequestHead): Promise<void> {
    if (head.expectContinue && !this.writer.headSent) await this.writer.write(CONTINUE);
  }

  /** Answers a request refused before the handler, then closes. */
  private async refuse(err: HttpError): Promise<void> {
    if (this.writer.headSent) return;
    await this.writer.writeHead(errorResponseHead(err.status, err.message), new Uint8Array(0));
    await this.linger();
  }

  /**
   * Closes our side for writing and discards what the client still sends, for a bounded
   * time and amount, so that closing with unread data (a TCP reset) cannot destroy the
   * response before the client has read it.
   */
  private async linger(): Promise<void> {
    this.phase = "drain";
    this.deadline = Date.now() + LINGER_MS;
    try {
      await this.conn.closeWrite();
      let discarded = 0;
      while (discarded < LINGER_BYTES) {
        const chunk = await this.reader.readBody(LINGER_BYTES);
        if (chunk === null) break;
        discarded += chunk.length;
      }
    } catch {
      // reset or closed by the deadline: either way the connection is done
    }
  }
}
