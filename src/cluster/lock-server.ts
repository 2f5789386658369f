/**
 * One node's share of the distributed locks (dsync's lock server, MinIO's local locker): a
 * table of granted locks, resource → one writer or any number of readers, each holder named by
 * the uid its locker drew for that acquisition. Holders refresh their grants while they hold
 * them; a grant not refreshed for `expiryMs` is dropped, so a node killed while holding a lock
 * blocks that resource only for the expiry time. Ages are measured on this node's monotonic
 * clock: no two clocks are ever compared. A writer kept out by readers makes new readers wait
 * while it retries, so a stream of readers cannot starve it. Served to the peers as internode
 * service "lock"; the node's own locker calls it in process.
 */
import { DEFAULT_LOCK_EXPIRY_MS } from "../config.ts";
import { errorResponse, type InternodeRouter } from "./internode.ts";

/**
 * lock/rlock: grant a write/read lock; unlock/runlock: give it back; refresh: the holder is
 * alive; retract: give back a write grant of an attempt that missed its quorum, the writer
 * retrying (it keeps new readers off, as a refusal does).
 */
export type LockOp = "lock" | "rlock" | "unlock" | "runlock" | "refresh" | "retract";
const OPS: ReadonlySet<string> = new Set<LockOp>(
  ["lock", "rlock", "unlock", "runlock", "refresh", "retract"],
);

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
/**
 * New readers are refused this long after a writer was refused or retracted (it retries within
 * the lockers' backoff cap of 0.5 s, which keeps the mark fresh; a writer that gave up frees
 * them after this). Retracts mark too: otherwise the servers that granted a writer's failed
 * attempt would be free for readers, who need only half of the servers, and could keep the
 * writer below its quorum for good.
 */
const WRITER_WAIT_MS = 1_000;

export class LockServer {
  readonly expiryMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Resource → when a writer was last refused it (or retracted). */
  readonly #writerWaits = new Map<string, number>();
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
      case "lock": {
        if (entry) {
          // A writer kept out: new readers wait for it (below), so a stream of them cannot
          // starve it, as the in-process locks serve waiters in arrival order.
          if (!entry.holders.has(uid)) this.#waiting(resource, now);
          return entry.write && entry.holders.has(uid);
        }
        if (this.#entries.size >= MAX_RESOURCES) return false;
        this.#writerWaits.delete(resource);
        this.#entries.set(resource, { write: true, holders: new Map([[uid, now]]) });
        return true;
      }
      case "rlock": {
        if (entry?.holders.has(uid)) return !entry.write;
        if (entry?.write || this.#writerWaiting(resource, now)) return false;
        if (entry) {
          entry.holders.set(uid, now);
          return true;
        }
        if (this.#entries.size >= MAX_RESOURCES) return false;
        this.#entries.set(resource, { write: false, holders: new Map([[uid, now]]) });
        return true;
      }
      case "unlock":
      case "runlock":
      case "retract": {
        if (!entry || entry.write !== (op !== "runlock") || !entry.holders.delete(uid)) {
          return false;
        }
        if (entry.holders.size === 0) this.#entries.delete(resource);
        if (op === "retract") this.#waiting(resource, now);
        return true;
      }
      case "refresh": {
        if (!entry?.holders.has(uid)) return false;
        entry.holders.set(uid, now);
        return true;
      }
    }
  }

  #waiting(resource: string, now: number): void {
    if (this.#writerWaits.size < MAX_RESOURCES) this.#writerWaits.set(resource, now);
  }

  /** Whether a writer was refused `resource` (or retracted) within WRITER_WAIT_MS. */
  #writerWaiting(resource: string, now: number): boolean {
    const since = this.#writerWaits.get(resource);
    if (since === undefined) return false;
    if (now - since < WRITER_WAIT_MS) return true;
    this.#writerWaits.delete(resource);
    return false;
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
    for (const resource of this.#writerWaits.keys()) this.#writerWaiting(resource, now);
  }
}

/** One operation on the wire: [op, resource, uid]. */
export type LockRequest = [LockOp, string, string];

/** The answer to a batch: each operation's result, in order. */
export interface LockAnswer {
  granted: boolean[];
}

/** Operations in one request at most. */
export const MAX_LOCK_BATCH = 256;
const MAX_BODY_BYTES = MAX_LOCK_BATCH * (MAX_RESOURCE_CHARS * 4 + 128);

class InvalidLockRequest extends Error {}

/**
 * Serves `server` to the peers (internode service "lock"): `POST lock/apply` with a JSON
 * array of up to MAX_LOCK_BATCH `[op, resource, uid]` → `{granted: [...]}`, applied in order.
 * A malformed batch is refused whole with 400 `InvalidLockRequest`; other methods 404.
 */
export function serveLocks(router: InternodeRouter, server: LockServer): void {
  router.register("lock", async ({ request, method }) => {
    if (method !== "apply" || request.method !== "POST") {
      await request.body?.cancel().catch(() => {});
      return errorResponse(404, "UnknownLockOperation", `no lock operation "${method}" here`);
    }
    let requests: LockRequest[];
    try {
      requests = parseBatch(await boundedText(request, MAX_BODY_BYTES));
    } catch (err) {
      if (!(err instanceof InvalidLockRequest)) throw err;
      await request.body?.cancel().catch(() => {});
      return errorResponse(400, "InvalidLockRequest", err.message);
    }
    const answer: LockAnswer = {
      granted: requests.map(([op, resource, uid]) => server.apply(op, resource, uid)),
    };
    return Response.json(answer);
  });
}

function parseBatch(text: string): LockRequest[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InvalidLockRequest("the body is not JSON");
  }
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_LOCK_BATCH) {
    throw new InvalidLockRequest(`expected 1 to ${MAX_LOCK_BATCH} [op, resource, uid] entries`);
  }
  return value.map((entry, i) => {
    const [op, resource, uid] = Array.isArray(entry) ? entry : [];
    if (typeof op !== "string" || !OPS.has(op)) {
      throw new InvalidLockRequest(`entry ${i}: unknown operation`);
    }
    if (
      typeof resource !== "string" || resource.length === 0 ||
      resource.length > MAX_RESOURCE_CHARS
    ) {
      throw new InvalidLockRequest(`entry ${i}: resource of 1 to ${MAX_RESOURCE_CHARS} characters`);
    }
    if (typeof uid !== "string" || !UID.test(uid)) {
      throw new InvalidLockRequest(`entry ${i}: uid of 1 to 64 letters, digits or '-'`);
    }
    return [op as LockOp, resource, uid];
  });
}

/** The body as text, refused (InvalidLockRequest) beyond `limit` bytes without reading it all. */
async function boundedText(request: Request, limit: number): Promise<string> {
  const declared = request.headers.get("content-length");
  if (Number(declared ?? 0) > limit) throw new InvalidLockRequest(`body over ${limit} bytes`);
  // A declared length is what the HTTP layer delivers at most: read it whole (faster).
  if (declared !== null) return await request.text();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body ?? []) {
    size += chunk.byteLength;
    if (size > limit) throw new InvalidLockRequest(`body over ${limit} bytes`);
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}
