/**
 * Health endpoints: /flashstor/health/live (the process serves HTTP) and
 * /flashstor/health/ready (every erasure set can reach write quorum).
 */

import type { StorageInfo } from "../object/layer.ts";

export const HEALTH_LIVE_PATH = "/flashstor/health/live";
export const HEALTH_READY_PATH = "/flashstor/health/ready";

/** A readiness check slower than this counts as not ready (a hung drive must not hang probes). */
const READY_TIMEOUT_MS = 5000;

/**
 * True when every set has at least its write quorum of drives online: data shards, plus one
 * when data equals parity. `info.drives` lists the drives set by set, in `info.sets` order.
 */
export function writeQuorumAvailable(info: StorageInfo): boolean {
  if (info.sets.length === 0) return false;
  let first = 0;
  for (const set of info.sets) {
    const drives = info.drives.slice(first, first + set.drives);
    first += set.drives;
    const quorum = set.dataShards + (set.dataShards === set.parityShards ? 1 : 0);
    if (drives.filter((d) => d.online).length < quorum) return false;
  }
  return true;
}

/**
 * Answers a health request; undefined when `request` is for another path. `ready` decides the
 * readiness answer, e.g. `async () => writeQuorumAvailable(await layer.storageInfo())`.
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
