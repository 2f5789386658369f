/**
 * What the listener serves, from the moment it binds: the internode API (peers need it while
 * the deployment bootstraps), then the S3 app once the object layer is built. Until then S3
 * requests get a 503 ServiceUnavailable saying what the node waits for (clients retry it), the
 * liveness probe answers and readiness does not. A cluster node that may have missed metadata
 * changes holds S3 requests until it has reloaded (`holdFor`).
 */
import type { App } from "./s3/app.ts";
import type { InternodeRouter } from "./cluster/internode.ts";
import { isInternodeTarget } from "./cluster/internode.ts";
import { rawTarget } from "./http/raw-target.ts";
import { hostBucket } from "./s3/router.ts";
import { errorResponse, S3Error } from "./s3/errors.ts";
import { HEALTH_LIVE_PATH } from "./observe/health.ts";

export type RequestHandler = (
  request: Request,
  info?: { remoteAddr?: string },
) => Promise<Response>;

/**
 * What an S3 request must wait for before it is served: undefined when nothing (the hot path:
 * a cheap check), else a promise that settles when the node may serve; a rejection answers 503.
 */
export type RequestHold = () => Promise<void> | undefined;

export class ServiceGate {
  #app?: App;
  #waiting = "the server is starting";
  #internode?: InternodeRouter;
  #hold?: RequestHold;

  constructor(private readonly domains: readonly string[]) {}

  /** Serves the internode API (a cluster node) from now on. */
  serveInternode(router: InternodeRouter): void {
    this.#internode = router;
  }

  /** What the node waits for, said in the 503s until it serves (e.g. "waiting for peers"). */
  set waiting(reason: string) {
    this.#waiting = reason;
  }

  /** Serves S3 from now on. */
  open(app: App): void {
    this.#app = app;
  }

  /** Asks `hold` before serving each S3 request (the internode API and liveness never wait). */
  holdFor(hold: RequestHold): void {
    this.#hold = hold;
  }

  readonly fetch: RequestHandler = (request, info) => {
    const target = rawTarget(request);
    if (
      this.#internode && isInternodeTarget(target) &&
      hostBucket(request.headers.get("host"), this.domains) === undefined
    ) return this.#internode.handle(request);
    const app = this.#app;
    if (!app) {
      if (target === HEALTH_LIVE_PATH) return Promise.resolve(new Response(null, { status: 200 }));
      return Promise.resolve(
        unavailable(request, target, `Server not initialized: ${this.#waiting}. Please retry.`),
      );
    }
    const held = target === HEALTH_LIVE_PATH ? undefined : this.#hold?.();
    if (!held) return app.fetch(request, info);
    return held.then(
      () => app.fetch(request, info),
      (err) => unavailable(request, target, err instanceof Error ? err.message : String(err)),
    );
  };
}

function unavailable(request: Request, target: string, message: string): Response {
  request.body?.cancel().catch(() => {});
  return errorResponse(
    new S3Error("ServiceUnavailable", message),
    { resource: target, requestId: crypto.randomUUID(), method: request.method },
  );
}
