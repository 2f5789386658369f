/**
 * The client side of the internode API: one PeerClient per peer node. Calls reuse keep-alive
 * connections (fetch's pool), carry the node's token, stream request and response bodies, and
 * end when the caller's signal aborts (every caller gives one: a drive handle's deadline, a
 * lock call's timeout). A peer that cannot be reached throws PeerUnreachable; an error answer
 * throws PeerCallError with the code and message the peer sent.
 */
import { INTERNODE_PREFIX, type InternodeService, type WireError } from "./internode.ts";
import type { InternodeAuth } from "./internode-auth.ts";

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
}

export class PeerClient {
  /** `url` is the peer's base URL, e.g. http://node2:9000; `node` its host:port. */
  constructor(
    readonly url: string,
    readonly node: string,
    private readonly auth: InternodeAuth,
    private readonly httpClient?: Deno.HttpClient,
  ) {}

  /** Calls `service/method` and returns the successful response (its body unread). */
  async call(
    service: InternodeService,
    method: string,
    options: PeerCallOptions = {},
  ): Promise<Response> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) params.set(name, String(value));
    }
    const query = params.size > 0 ? `?${params}` : "";
    const target = `${this.url}${INTERNODE_PREFIX}${service}/${method}${query}`;
    const init: RequestInit & { client?: Deno.HttpClient; duplex?: "half" } = {
      method: options.method ?? (options.body === undefined ? "GET" : "POST"),
      headers: { ...options.headers, authorization: await this.auth.authorization() },
      body: options.body as BodyInit | undefined,
      signal: options.signal,
      client: this.httpClient,
    };
    if (options.body instanceof ReadableStream) init.duplex = "half";
    let response: Response;
    try {
      response = await fetch(target, init);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      throw new PeerUnreachable(this.node, err instanceof Error ? err.message : String(err));
    }
    if (response.ok) return response;
    let wire: WireError;
    try {
      wire = await response.json() as WireError;
    } catch {
      wire = { code: "BadAnswer", message: `HTTP ${response.status} without an error body` };
    }
    throw new PeerCallError(this.node, response.status, wire);
  }

  /** Calls and parses a JSON answer. */
  async json<T>(service: InternodeService, method: string, options?: PeerCallOptions): Promise<T> {
    const response = await this.call(service, method, options);
    return await response.json() as T;
  }
}
