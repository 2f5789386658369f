/**
 * One node's share of the distributed locks (dsync's lock server, MinIO's local locker): a
 * table of granted locks, resource → one writer or any number of readers, each holder named by
 * the uid its locker drew for that acquisition. Holders refresh their grants while they hold
 * them; a grant not refreshed for `expiryMs` is dropped, so a node killed while holding a lock
 * blocks that resource only for the expiry time. Ages are measured on this node's monotonic
 * clock: no two clocks are ever compared. Served to the peers as internode service "lock";
 * the node's own locker calls it in process.
 */
import { DEFAULT_LOCK_EXPIRY_MS } from "../config.ts";
import { errorResponse, type InternodeRouter } from "./internode.ts";

export type LockOp = "lock" | "rlock" | "unlock" | "runlock" | "refresh";
const OPS: ReadonlySet<string> = new Set(["lock", "rlock", "unlock", "runlock", "refresh"]);

export interface LockServerOptions {
  /** A lock not refreshed for this long is dropped (ms; DEFAULT_LOCK_EXPIRY_MS otherwise). */
  expiryMs?: number;
  /** Monotonic milliseconds (tests of expiry may step it). */
  now?: () => number;
}

interface Entry {
  write: boolean;
  /** uid → when it was granted or last refreshed. */
  holders: Map<string, number>;
}

/** More resources locked than this and new locks are refused (callers retry, as MinIO's). */
const MAX_RESOURCES = 100_000;
const MAX_RESOURCE_CHARS = 4_096;
const UID = /^[0-9A-Za-z-]{1,64}$/;

export class LockServer {
  readonly expiryMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  #sweptAt: number;

  constructor(options: LockServerOptions = {}) {
    this.expiryMs = options.expiryMs ?? DEFAULT_LOCK_EXPIRY_MS;
    this.#now = options.now ?? (() => performance.now());
    this.#sweptAt = this.#now();
  }

  /** Applies one operation; whether it was granted (lock, rlock) or found (the others). */
  apply(op: LockOp, resource: string, uid: string): boolean {
    const now = this.#now();
    // Expired grants go in a sweep piggybacked on the calls (no timer to own or stop).
    if (now - this.#sweptAt >= this.expiryMs) this.#sweep(now);
    const entry = this.#live(resource, now);
    switch (op) {
      case "lock":
      case "rlock": {
        const write = op === "lock";
        if (!entry) {
          if (this.#entries.size >= MAX_RESOURCES) return false;
          this.#entries.set(resource, { write, holders: new Map([[uid, now]]) });
          return true;
        }
        if (entry.holders.has(uid)) return entry.write === write;
        if (write || entry.write) return false;
        entry.holders.set(uid, now);
        return true;
      }
      case "unlock":
      case "runlock": {
        if (!entry || entry.write !== (op === "unlock") || !entry.holders.delete(uid)) return false;
        if (entry.holders.size === 0) this.#entries.delete(resource);
        return true;
      }
      case "refresh": {
        if (!entry?.holders.has(uid)) return false;
        entry.holders.set(uid, now);
        return true;
      }
    }
  }

  /** Resources locked now (expired grants not yet swept count). */
  get size(): number {
    return this.#entries.size;
  }

  /** The resource's entry without its expired grants (none when no grant is left). */
  #live(resource: string, now: number): Entry | undefined {
    const entry = this.#entries.get(resource);
    if (!entry) return undefined;
    for (const [uid, refreshed] of entry.holders) {
      if (now - refreshed >= this.expiryMs) entry.holders.delete(uid);
    }
    if (entry.holders.size > 0) return entry;
    this.#entries.delete(resource);
    return undefined;
  }

  #sweep(now: number): void {
    this.#sweptAt = now;
    for (const resource of this.#entries.keys()) this.#live(resource, now);
  }
}

/** The answer of every lock operation on the wire. */
export interface LockAnswer {
  granted: boolean;
}

/**
 * Serves `server` to the peers (internode service "lock"): `POST lock/{op}?resource=…&uid=…`
 * → `{granted}`. Malformed arguments are refused with 400, unknown operations with 404.
 */
export function serveLocks(router: InternodeRouter, server: LockServer): void {
  router.register("lock", async ({ request, method, query }) => {
    await request.body?.cancel().catch(() => {});
    if (!OPS.has(method)) {
      return errorResponse(404, "UnknownLockOperation", `no lock operation "${method}"`);
    }
    if (request.method !== "POST") {
      return errorResponse(405, "MethodNotAllowed", "lock operations are POST requests");
    }
    const resource = query.get("resource");
    const uid = query.get("uid");
    if (!resource || resource.length > MAX_RESOURCE_CHARS) {
      return errorResponse(400, "InvalidLockRequest", "resource: 1 to 4096 characters");
    }
    if (!uid || !UID.test(uid)) {
      return errorResponse(400, "InvalidLockRequest", "uid: 1 to 64 letters, digits or '-'");
    }
    const answer: LockAnswer = { granted: server.apply(method as LockOp, resource, uid) };
    return Response.json(answer);
  });
}
