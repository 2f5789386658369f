/**
 * The internode API: how the nodes of a deployment talk to each other (peer drives, locks,
 * bootstrap checks, metadata notifications). It lives under its own path prefix and version,
 * in the path-style space where the bucket name "flashstor" is reserved, and is served only to
 * callers holding an internode token (internode-auth.ts): never with S3 credentials, never
 * anonymously. Requests are `POST|GET|PUT {PREFIX}{service}/{method}?{args}`; failures answer
 * a JSON `{code, message}` with a status, which the client turns back into typed errors.
 */
import { InternodeAuth, InternodeAuthError } from "./internode-auth.ts";
import { rawTarget } from "../http/raw-target.ts";
import { allowIdleBody } from "../http/connection.ts";

export const INTERNODE_PREFIX = "/flashstor/internode/v1/";

/**
 * A peer's body (a shard stream) pauses between stripes for as long as the client upload that
 * feeds it: at the front door's minimum client rate (1 KiB/s) a 1 MiB stripe takes ~17 min.
 * Longer silence means the peer is gone; its temp file is then left to garbage collection.
 */
const PEER_BODY_IDLE_MS = 30 * 60_000;

/** The services behind the prefix, one per concern. */
export type InternodeService = "bootstrap" | "storage" | "lock" | "peer";
const SERVICES: ReadonlySet<string> = new Set(["bootstrap", "storage", "lock", "peer"]);

/** One authenticated internode request, as its service's handler gets it. */
export interface InternodeCall {
  request: Request;
  /** The calling node (host:port), proven by its token. */
  caller: string;
  /** The path after the service, e.g. "readAll" or "3/readFileStream". */
  method: string;
  query: URLSearchParams;
}

export type InternodeHandler = (call: InternodeCall) => Promise<Response>;

/** A failure as the internode API answers it. */
export interface WireError {
  code: string;
  message: string;
}

export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ code, message } satisfies WireError, { status });
}

/** Whether a raw request target belongs to the internode API. */
export function isInternodeTarget(target: string): boolean {
  return target.startsWith(INTERNODE_PREFIX);
}

/** The server side: authenticates, then dispatches to the service's handler. */
export class InternodeRouter {
  readonly #handlers = new Map<string, InternodeHandler>();

  constructor(readonly auth: InternodeAuth) {}

  /** Serves `service` with `handler` (one handler per service; later ones replace). */
  register(service: InternodeService, handler: InternodeHandler): void {
    this.#handlers.set(service, handler);
  }

  async handle(request: Request): Promise<Response> {
    let caller: string;
    try {
      caller = await this.auth.verify(request.headers.get("authorization"));
    } catch (err) {
      if (!(err instanceof InternodeAuthError)) throw err;
      await request.body?.cancel().catch(() => {});
      return errorResponse(403, "InternodeAccessDenied", err.message);
    }
    allowIdleBody(request, PEER_BODY_IDLE_MS);
    const target = rawTarget(request);
    const queryAt = target.indexOf("?");
    const path = target.slice(INTERNODE_PREFIX.length, queryAt < 0 ? undefined : queryAt);
    const slash = path.indexOf("/");
    const service = slash < 0 ? path : path.slice(0, slash);
    const handler = SERVICES.has(service) ? this.#handlers.get(service) : undefined;
    if (!handler) {
      await request.body?.cancel().catch(() => {});
      return errorResponse(404, "UnknownService", `no internode service "${service}" here`);
    }
    let method: string;
    try {
      method = decodeURIComponent(slash < 0 ? "" : path.slice(slash + 1));
    } catch {
      return errorResponse(400, "BadRequest", "malformed internode path");
    }
    const query = new URLSearchParams(queryAt < 0 ? "" : target.slice(queryAt + 1));
    try {
      return await handler({ request, caller, method, query });
    } catch (err) {
      // A handler's unexpected failure: the caller gets its name and message, not a stack.
      const message = err instanceof Error ? err.message : String(err);
      const code = err instanceof Error ? err.name : "InternalError";
      return errorResponse(500, code, message);
    }
  }
}
