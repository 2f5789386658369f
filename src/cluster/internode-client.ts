/**
 * The client side of the internode API: one PeerClient per peer node. Calls reuse keep-alive
 * connections, carry the node's token, and end when the caller's signal aborts (every caller
 * gives one: a drive handle's deadline, a lock call's timeout). Calls of the pooled services
 * (small ones, streamed answers) and uploads (shard writes) go over our own HTTP/1.1
 * connections, TLS for https peers (http1-client.ts: a fraction of fetch's cost); the other
 * services use fetch. A peer that cannot be reached throws PeerUnreachable; an error answer
 * throws PeerCallError with the code and message the peer sent.
 */
import { INTERNODE_PREFIX, type InternodeService, type WireError } from "./internode.ts";
import type { InternodeAuth } from "./internode-auth.ts";
import { Http1Pool, type Http1Stream } from "./http1-client.ts";

const utf8 = new TextEncoder();

/** fetch says "fetch failed" and keeps what failed (refused, TLS trust) in its cause. */
function failureText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

export class PeerUnreachable extends Error {
  constructor(readonly peer: string, message: string) {
    super(`peer ${peer}: ${message}`);
    this.name = "PeerUnreachable";
  }
}

export class PeerCallError extends Error {
  constructor(readonly peer: string, readonly status: number, readonly wire: WireError) {
    super(wire.message);
    this.name = "PeerCallError";
  }
  get code(): string {
    return this.wire.code;
  }
}

export interface PeerCallOptions {
  method?: "GET" | "POST" | "PUT";
  query?: Record<string, string | number | boolean | undefined>;
  /** A whole body, or a stream (sent chunked as it is produced). */
  body?: Uint8Array | ReadableStream<Uint8Array> | string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** The answer's body is a stream, read as it comes; otherwise it is read whole. */
  stream?: boolean;
}

/** A request whose body is sent piece by piece while the answer may already come. */
export interface PeerUpload {
  /** Sends `parts` as the next piece of the body; once it resolves they may be reused. */
  send(...parts: Uint8Array[]): Promise<void>;
  /** Ends the body. */
  end(): Promise<void>;
  /** The successful answer (its body as it comes), or PeerCallError / PeerUnreachable. */
  answer: Promise<Response>;
  /** Abandons the request (the peer sees it cut). */
  abort(): void;
}

export interface PeerClientOptions {
  /**
   * Services whose small calls use the pooled HTTP/1.1 client (default: "storage", the hot
   * path). Its idle connections stay open until close(): a test that makes such calls in
   * process must close the client.
   */
  pooled?: readonly InternodeService[];
  /** CA certificates (PEM) that sign an https peer's certificate, besides the system's. */
  caCerts?: string[];
}

export class PeerClient {
  /** Connections of small calls and uploads. */
  readonly #pool: Http1Pool;
  readonly #pooled: ReadonlySet<string>;

  /** `url` is the peer's base URL, e.g. http://node2:9000; `node` its host:port. */
  constructor(
    readonly url: string,
    readonly node: string,
    private readonly auth: InternodeAuth,
    private readonly httpClient?: Deno.HttpClient,
    options: PeerClientOptions = {},
  ) {
    this.#pooled = new Set(options.pooled ?? ["storage"]);
    const parsed = new URL(url);
    const https = parsed.protocol === "https:";
    this.#pool = new Http1Pool(
      parsed.hostname.replace(/^\[|\]$/g, ""),
      Number(parsed.port || (https ? 443 : 80)),
      https ? { caCerts: options.caCerts } : undefined,
    );
  }

  /** Closes the idle connections of small calls. */
  close(): void {
    this.#pool.close();
  }

  /** Calls `service/method` and returns the successful response (its body unread). */
  async call(
    service: InternodeService,
    method: string,
    options: PeerCallOptions = {},
  ): Promise<Response> {
    const path = this.#path(service, method, options.query);
    const httpMethod = options.method ?? (options.body === undefined ? "GET" : "POST");
    const headers = { ...options.headers, authorization: await this.auth.authorization() };
    const body = typeof options.body === "string" ? utf8.encode(options.body) : options.body;
    let response: Response;
    try {
      // Our own client: pooled services, except a streamed body or a body with a streamed answer.
      const own = this.#pooled.has(service) && !(body instanceof ReadableStream) &&
        !(options.stream && body);
      response = !own
        ? await fetch(`${this.url}${path}`, {
          method: httpMethod,
          headers,
          body,
          signal: options.signal,
          client: this.httpClient,
          ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
        } as RequestInit)
        : options.stream
        ? await this.#streamed(httpMethod, path, headers, options.signal)
        : await this.#small(httpMethod, path, headers, body as Uint8Array, options.signal);
    } catch (err) {
      throw this.#failure(err, options.signal);
    }
    return await this.#checked(response);
  }

  /**
   * Starts `service/method` with a body sent piece by piece (a shard write), over its own
   * HTTP/1.1 connection (no copy of the pieces).
   */
  async upload(
    service: InternodeService,
    method: string,
    options: Omit<PeerCallOptions, "body" | "method" | "stream"> = {},
  ): Promise<PeerUpload> {
    const path = this.#path(service, method, options.query);
    const headers = { ...options.headers, authorization: await this.auth.authorization() };
    const { signal } = options;
    let upload: Http1Stream;
    try {
      upload = await this.#pool.upload("POST", path, headers, signal);
    } catch (err) {
      throw this.#failure(err, signal);
    }
    const lost = (err: unknown) => {
      throw this.#failure(err, signal);
    };
    return {
      send: (...parts) => upload.send(...parts).catch(lost),
      end: () => upload.end().catch(lost),
      answer: upload.answer.then(
        (a) => this.#checked(new Response(a.body, { status: a.status })),
        lost,
      ),
      abort: () => upload.abort(),
    };
  }

  #path(
    service: InternodeService,
    method: string,
    query: PeerCallOptions["query"],
  ): string {
    // By hand: URLSearchParams costs more than the rest of building a small call.
    let search = "";
    for (const name in query) {
      const value = query[name];
      if (value === undefined) continue;
      search += `${search ? "&" : "?"}${encodeURIComponent(name)}=${
        encodeURIComponent(String(value))
      }`;
    }
    return `${INTERNODE_PREFIX}${service}/${method}${search}`;
  }

  /** A network failure as the caller sees it: its signal's reason, or PeerUnreachable. */
  #failure(err: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof PeerCallError || err instanceof PeerUnreachable) return err;
    return new PeerUnreachable(this.node, failureText(err));
  }

  /** The response if it is a success; the peer's error otherwise. */
  async #checked(response: Response): Promise<Response> {
    if (response.ok) return response;
    let wire: WireError;
    try {
      wire = await response.json() as WireError;
    } catch {
      wire = { code: "BadAnswer", message: `HTTP ${response.status} without an error body` };
    }
    throw new PeerCallError(this.node, response.status, wire);
  }

  async #streamed(
    method: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const call = await this.#pool.stream(method, path, headers, signal);
    const answer = await call.answer;
    return new Response(answer.body, { status: answer.status });
  }

  async #small(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<Response> {
    const answer = await this.#pool.request(method, path, headers, body, signal);
    const empty = answer.status === 204 || answer.status === 304;
    // Without the answer's headers: no caller reads them, and copying them costs ~3 µs.
    return new Response(empty ? null : answer.body as BodyInit, { status: answer.status });
  }

  /** Calls and parses a JSON answer. */
  async json<T>(service: InternodeService, method: string, options?: PeerCallOptions): Promise<T> {
    const response = await this.call(service, method, options);
    return await response.json() as T;
  }
}
