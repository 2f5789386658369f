/**
 * Keeps IAM and bucket metadata the same on every node: a change returns only after the online
 * peers have reloaded it (bumped their epochs), and after a brief try of those last seen
 * offline; a peer that did not acknowledge is retried in the background until it does. A node that may have missed changes — a peer it could not reach is
 * back, or this process itself stalled (SIGSTOP, a frozen VM) — reloads everything before it
 * serves the next S3 request; a slow periodic reload is the backstop. Internode service "peer":
 * `reload?what=iam&kind=…&name=…`, `reload?what=bucket&bucket=…`, `reload?what=all`, `ping`.
 */
import { errorResponse, type InternodeCall, type InternodeRouter } from "./internode.ts";
import type { ServiceGate } from "../service-gate.ts";
import type { PeerClient } from "./internode-client.ts";
import type { IamStore } from "../iam/store.ts";
import type { ConfigBucketMetadataStore } from "../bucket/metadata-store.ts";
import { type EntityKind, RECORD_DIRS } from "../iam/store-records.ts";
import { isBucketName } from "../object/names.ts";

export interface SyncedStores {
  iam: IamStore;
  buckets: ConfigBucketMetadataStore;
}

/** What a peer reloads: one IAM entity, one bucket's metadata, or everything. */
export type Notice =
  | { what: "iam"; kind: EntityKind; name: string }
  | { what: "bucket"; bucket: string }
  | { what: "all" };

export interface MetadataSyncOptions {
  /** How long a change waits for one peer's acknowledgement (ms). */
  ackTimeoutMs?: number;
  /** Peers are pinged this often (ms); a ping gets twice that to answer. */
  pingIntervalMs?: number;
  /** A gap this long between two ticks of the event loop means the process stalled (ms). */
  stallMs?: number;
  /** Everything is reloaded in the background this often, whatever happened (ms). */
  backstopMs?: number;
}

interface PeerState {
  client: PeerClient;
  /** Answered its last ping (assumed until the first one). */
  online: boolean;
  /** Notices it has not acknowledged yet, by what they name. */
  unacked: Map<string, Notice>;
  retrying: boolean;
}

/** Unacknowledged notices kept per peer; beyond, they collapse into one "reload everything". */
const MAX_UNACKED = 256;
/** IAM's rule for user, group, role and policy names. */
const ENTITY_NAME = /^[\w+=,.@-]{1,128}$/;
const TICK_MS = 250;
/** How long a change waits for a peer its pings found offline (ms). */
const OFFLINE_TRY_MS = 1000;

function noticeKey(notice: Notice): string {
  if (notice.what === "iam") return `iam\n${notice.kind}\n${notice.name.toLowerCase()}`;
  return notice.what === "bucket" ? `bucket\n${notice.bucket}` : "all";
}

function noticeQuery(notice: Notice): Record<string, string> {
  return { ...notice };
}

/** The notice a reload request names, or undefined when it names none properly. */
export function parseNotice(query: URLSearchParams): Notice | undefined {
  const what = query.get("what");
  if (what === "all") return { what };
  if (what === "bucket") {
    const bucket = query.get("bucket") ?? "";
    return isBucketName(bucket) ? { what, bucket } : undefined;
  }
  if (what === "iam") {
    const kind = query.get("kind") ?? "";
    const name = query.get("name") ?? "";
    if (!Object.hasOwn(RECORD_DIRS, kind) || !ENTITY_NAME.test(name)) return undefined;
    return { what, kind: kind as EntityKind, name };
  }
  return undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class MetadataSync {
  readonly #peers: PeerState[];
  readonly #ackTimeoutMs: number;
  readonly #pingIntervalMs: number;
  readonly #stallMs: number;
  readonly #backstopMs: number;
  #stores?: SyncedStores;
  /** This node may have missed a change: reload before serving. */
  #stale = false;
  #tick = performance.now();
  /** The reload S3 requests wait for, while one runs. */
  #catchingUp?: Promise<void>;
  #timers: ReturnType<typeof setInterval>[] = [];
  #pinger?: ReturnType<typeof setTimeout>;
  #closed = false;

  /** `gate` lets every request wait for a reload this node needs before it is served. */
  constructor(
    readonly router: InternodeRouter,
    peers: readonly PeerClient[],
    readonly gate: ServiceGate,
    options: MetadataSyncOptions = {},
  ) {
    this.#peers = peers.map((client) => ({
      client,
      online: true,
      unacked: new Map(),
      retrying: false,
    }));
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.#pingIntervalMs = options.pingIntervalMs ?? 1_000;
    this.#stallMs = options.stallMs ?? 1_000;
    this.#backstopMs = options.backstopMs ?? 10 * 60_000;
    router.register("peer", this.#serve);
  }

  /** Starts keeping `stores` in step with the peers. */
  attach(stores: SyncedStores): void {
    this.#stores = stores;
    stores.iam.announceWith((kind, names) =>
      this.announce(names.map((name) => ({ what: "iam", kind, name })))
    );
    stores.buckets.announceWith((bucket) => this.announce([{ what: "bucket", bucket }]));
    this.gate.holdFor(this.#hold);
    this.#tick = performance.now();
    this.#timers.push(
      setInterval(() => this.#heartbeat(), TICK_MS),
      setInterval(() => {
        this.#reloadAll().catch((err) =>
          console.error(
            `flashstor: periodic IAM and bucket metadata reload failed: ${message(err)}`,
          )
        );
      }, this.#backstopMs),
    );
    this.#schedulePing();
  }

  /** Tells every online peer to reload what `notices` name and waits for their answers. */
  async announce(notices: readonly Notice[]): Promise<void> {
    await Promise.all(this.#peers.map(async (peer) => {
      for (const notice of notices) await this.#deliver(peer, notice);
    }));
  }

  /** Stops the timers (pings, stall detection, backstop). */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#pinger);
  }

  readonly #serve = async (call: InternodeCall): Promise<Response> => {
    await call.request.body?.cancel().catch(() => {});
    if (call.method === "ping") return new Response(null, { status: 204 });
    if (call.method !== "reload") {
      return errorResponse(404, "UnknownMethod", `no peer method "${call.method.slice(0, 64)}"`);
    }
    if (call.request.method !== "POST") {
      return errorResponse(405, "MethodNotAllowed", "peer/reload takes POST");
    }
    const notice = parseNotice(call.query);
    if (!notice) {
      return errorResponse(
        400,
        "InvalidNotice",
        "peer/reload needs what=all, what=bucket&bucket=<name> or what=iam&kind=<kind>&name=<name>",
      );
    }
    await this.#apply(notice);
    return new Response(null, { status: 204 });
  };

  async #apply(notice: Notice): Promise<void> {
    const stores = this.#stores;
    // Still loading: what was read may predate this change, so everything is read again first.
    if (!stores) this.#stale = true;
    else if (notice.what === "iam") await stores.iam.reload(notice.kind, notice.name);
    else if (notice.what === "bucket") stores.buckets.forget(notice.bucket);
    else await this.#reloadAll();
  }

  async #reloadAll(): Promise<void> {
    const stores = this.#stores;
    if (!stores) return;
    stores.buckets.forget();
    await stores.iam.reload();
  }

  /** The gate's check before each S3 request: cheap unless this node must catch up. */
  readonly #hold = (): Promise<void> | undefined => {
    if (this.#stale || performance.now() - this.#tick > this.#stallMs) return this.#catchUp();
    return this.#catchingUp;
  };

  /** Reloads everything; requests wait for it. Runs after a reload already under way. */
  #catchUp(): Promise<void> {
    this.#stale = false;
    this.#tick = performance.now();
    const run = (this.#catchingUp ?? Promise.resolve()).catch(() => {}).then(() =>
      this.#reloadAll()
    );
    const settled: Promise<void> = run.then(
      () => {
        if (this.#catchingUp === settled) this.#catchingUp = undefined;
      },
      (err) => {
        if (this.#catchingUp === settled) this.#catchingUp = undefined;
        this.#stale = true;
        throw new Error(
          `This node is reloading IAM and bucket metadata (${message(err)}). Please retry.`,
        );
      },
    );
    this.#catchingUp = settled;
    return settled;
  }

  #heartbeat(): void {
    const now = performance.now();
    const gap = now - this.#tick;
    if (gap > this.#stallMs) {
      this.#stale = true;
      console.log(
        `flashstor: this process stalled for ${Math.round(gap / 1000)} s: ` +
          "reloading IAM and bucket metadata before serving",
      );
    }
    this.#tick = now;
  }

  async #deliver(peer: PeerState, notice: Notice): Promise<void> {
    if (peer.online) {
      try {
        await this.#send(peer, notice);
        return;
      } catch (err) {
        console.log(
          `flashstor: peer ${peer.client.node} did not acknowledge a metadata change ` +
            `(${message(err)}): retrying in the background`,
        );
        peer.online = false;
      }
    } else {
      // Offline only as far as our last ping knows: one that is back (a SIGCONT, a network
      // blip) would otherwise serve the old state until the next ping. Briefly, so that a dead
      // or hung peer does not hold up every change.
      try {
        await this.#send(peer, notice, Math.min(this.#ackTimeoutMs, OFFLINE_TRY_MS));
        return;
      } catch {
        // Still away: queued below, sent when it answers a ping.
      }
    }
    let queued = notice;
    if (peer.unacked.size >= MAX_UNACKED) {
      peer.unacked.clear();
      queued = { what: "all" };
    }
    peer.unacked.set(noticeKey(queued), queued);
  }

  async #send(peer: PeerState, notice: Notice, timeoutMs = this.#ackTimeoutMs): Promise<void> {
    const response = await peer.client.call("peer", "reload", {
      method: "POST",
      query: noticeQuery(notice),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
  }

  /** Sends a peer what it has not acknowledged, oldest first, until one fails. */
  async #retry(peer: PeerState): Promise<void> {
    if (peer.retrying) return;
    peer.retrying = true;
    try {
      for (const [key, notice] of [...peer.unacked]) {
        await this.#send(peer, notice);
        // A notice queued again meanwhile names a later change: it stays.
        if (peer.unacked.get(key) === notice) peer.unacked.delete(key);
      }
    } catch {
      // Still unreachable: the next ping that it answers tries again.
    } finally {
      peer.retrying = false;
    }
  }

  #schedulePing(): void {
    if (this.#closed) return;
    this.#pinger = setTimeout(async () => {
      await Promise.all(this.#peers.map((peer) => this.#ping(peer)));
      this.#schedulePing();
    }, this.#pingIntervalMs);
  }

  async #ping(peer: PeerState): Promise<void> {
    let answered = true;
    try {
      const response = await peer.client.call("peer", "ping", {
        signal: AbortSignal.timeout(2 * this.#pingIntervalMs),
      });
      await response.body?.cancel();
    } catch {
      answered = false;
    }
    if (this.#closed) return;
    if (answered && !peer.online) {
      // It may have changed something while we could not hear it.
      console.log(
        `flashstor: peer ${peer.client.node} is reachable again: ` +
          "reloading IAM and bucket metadata before serving",
      );
      this.#stale = true;
    } else if (!answered && peer.online) {
      console.log(`flashstor: peer ${peer.client.node} does not answer`);
    }
    peer.online = answered;
    if (answered && peer.unacked.size > 0) void this.#retry(peer);
  }
}
