/**
 * Health endpoints: /flashstor/health/live (the process serves HTTP) and
 * /flashstor/health/ready (every erasure set can reach write quorum).
 */

export const HEALTH_LIVE_PATH = "/flashstor/health/live";
export const HEALTH_READY_PATH = "/flashstor/health/ready";

/** A readiness check slower than this counts as not ready (a hung drive must not hang probes). */
const READY_TIMEOUT_MS = 5000;

/**
 * Answers a health request; undefined when `request` is for another path. `ready` decides the
 * readiness answer: the object layer's isWritable(), which knows each set's write quorum.
 */
export async function healthResponse(
  request: Request,
  ready: () => Promise<boolean>,
): Promise<Response | undefined> {
  const path = new URL(request.url).pathname;
  if (path !== HEALTH_LIVE_PATH && path !== HEALTH_READY_PATH) return undefined;
  if (request.method !== "GET" && request.method !== "HEAD") {
    return new Response(null, { status: 405, headers: { allow: "GET, HEAD" } });
  }
  const ok = path === HEALTH_LIVE_PATH || await withTimeout(ready(), READY_TIMEOUT_MS);
  return new Response(request.method === "HEAD" ? null : ok ? "ok\n" : "not ready\n", {
    status: ok ? 200 : 503,
    headers: { "content-type": "text/plain", "cache-control": "no-store" },
  });
}

async function withTimeout(check: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([check.catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
