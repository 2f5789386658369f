/**
 * Distributed namespace locks (MinIO's dsync): a lock is granted by a quorum of the nodes' lock
 * servers — this node's in process, the peers' over the internode API (their calls batched by
 * lock-client.ts). Writers need n/2+1 of n, readers ceil(n/2), so a writer and anyone else
 * always share a server that refuses one of them. Every server is asked at once; the lock is
 * held as soon as a quorum granted (later grants join it, or are given back when the attempt
 * already failed); short of quorum what was granted is given back (a writer's "retracted": the
 * servers keep new readers off while it retries) and the attempt retried after a jittered
 * backoff until the timeout. While held, the lock is refreshed every expiry/3 on the servers
 * that granted it; when a quorum of them no longer knows it, or none confirmed it for the
 * expiry time, it is lost (onLost, logged). Release never waits: the unlocks go in the
 * background, retried a few times; what they miss expires.
 */
import { LockTimeout } from "../object/errors.ts";
import { holding, type Locker, type LockOptions, type Release } from "../object/locker.ts";
import { sleep } from "../object/pacer.ts";
import type { PeerClient } from "./internode-client.ts";
import { LockClient } from "./lock-client.ts";
import type { LockOp, LockServer } from "./lock-server.ts";

export interface DistributedLockerOptions {
  /** How long read/write wait for a lock unless told otherwise (ms). */
  timeoutMs?: number;
  /** How long an attempt waits for a server's answer; slower servers are skipped a while (ms). */
  callTimeoutMs?: number;
  log?: (line: string) => void;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_CALL_TIMEOUT_MS = 2_000;
/** A server that failed or was slow is not asked again for this long (a hung node). */
const DOWN_MS = 1_000;
/** Retry backoff: full jitter over min(cap, base·2^attempt). */
const RETRY_BASE_MS = 10;
const RETRY_CAP_MS = 500;
const UNLOCK_TRIES = 3;

/** One attempt's (then one held lock's) state. */
class Grant {
  state: "pending" | "held" | "released" = "pending";
  /** Whether it reached its quorum (a write grant of a failed attempt is retracted). */
  wasHeld = false;
  /** Servers that granted it (indexes into the locker's servers). */
  readonly servers = new Set<number>();
  confirmedAt = performance.now();
  timer?: ReturnType<typeof setTimeout>;

  constructor(
    readonly key: string,
    readonly uid: string,
    readonly write: boolean,
    readonly quorum: number,
    readonly onLost?: (reason: Error) => void,
  ) {}
}

export class DistributedLocker implements Locker {
  readonly #servers: number;
  readonly #clients: LockClient[];
  readonly #timeoutMs: number;
  readonly #callTimeoutMs: number;
  readonly #refreshMs: number;
  readonly #log: (line: string) => void;
  /** Per server: not asked before this time (performance.now()). */
  readonly #downUntil: number[];
  /** Calls on their way, answered or not (drain waits for them). */
  readonly #background = new Set<Promise<unknown>>();

  constructor(
    readonly local: LockServer,
    readonly peers: readonly PeerClient[],
    options: DistributedLockerOptions = {},
  ) {
    this.#servers = peers.length + 1;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    // Answers later than this are not waited for (a hung peer); the drain stays short.
    this.#clients = peers.map((peer) => new LockClient(peer, 2 * this.#callTimeoutMs));
    this.#refreshMs = local.expiryMs / 3;
    this.#log = options.log ?? ((line) => console.log(line));
    this.#downUntil = Array(this.#servers).fill(0);
  }

  read(key: string, options?: LockOptions): Promise<Release> {
    return this.#acquire(key, false, options);
  }

  write(key: string, options?: LockOptions): Promise<Release> {
    return this.#acquire(key, true, options);
  }

  withRead<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return holding(this.read(key, options), fn);
  }

  withWrite<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return holding(this.write(key, options), fn);
  }

  /** Resolves once every call sent so far (unlocks above all) is answered or given up. */
  async drain(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  async #acquire(key: string, write: boolean, options: LockOptions = {}): Promise<Release> {
    const { signal } = options;
    const n = this.#servers;
    const quorum = write ? Math.floor(n / 2) + 1 : Math.ceil(n / 2);
    const deadline = performance.now() + (options.timeoutMs ?? this.#timeoutMs);
    for (let attempt = 0;; attempt++) {
      const grant = new Grant(key, crypto.randomUUID(), write, quorum, options.onLost);
      if (!signal?.aborted && await this.#attempt(grant, signal)) {
        return () => this.#release(grant);
      }
      const wait = Math.random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attempt);
      const left = deadline - performance.now();
      if (signal?.aborted || left <= 0) break;
      try {
        await sleep(Math.min(wait, left), signal);
      } catch {
        break;
      }
    }
    const held = signal?.aborted ? "the request was cancelled" : "held elsewhere, or too few " +
      `of the ${n} lock servers answer (${quorum} needed)`;
    throw new LockTimeout(`${write ? "write" : "read"} lock on ${key} not granted: ${held}`);
  }

  /** Asks every server once; true when a quorum granted (the grant is then held). */
  #attempt(grant: Grant, signal?: AbortSignal): Promise<boolean> {
    const n = this.#servers;
    return new Promise((resolve) => {
      let granted = 0;
      let refused = 0;
      const decide = (held: boolean) => {
        if (grant.state !== "pending") return;
        clearTimeout(timer);
        signal?.removeEventListener("abort", giveUp);
        if (held) {
          grant.state = "held";
          grant.wasHeld = true;
          grant.confirmedAt = performance.now();
          this.#scheduleRefresh(grant);
        } else {
          this.#release(grant);
        }
        resolve(held);
      };
      const giveUp = () => decide(false);
      const timer = setTimeout(giveUp, this.#callTimeoutMs);
      signal?.addEventListener("abort", giveUp, { once: true });
      for (let i = 0; i < n; i++) {
        this.#track(
          this.#call(i, grant.write ? "lock" : "rlock", grant).then((ok) => {
            if (ok && grant.state === "released") {
              this.#unlock(i, grant); // a straggler's grant, after the attempt failed or let go
              return;
            }
            if (ok) grant.servers.add(i);
            if (ok) granted++;
            else refused++;
            if (granted >= grant.quorum) decide(true);
            else if (refused > n - grant.quorum) decide(false);
          }),
        );
      }
    });
  }

  #release(grant: Grant): void {
    if (grant.state === "released") return;
    grant.state = "released";
    clearTimeout(grant.timer);
    for (const i of grant.servers) this.#unlock(i, grant);
    grant.servers.clear();
  }

  /** Sends one unlock in the background, retried when the server does not answer. */
  #unlock(server: number, grant: Grant): void {
    const op = !grant.write ? "runlock" : grant.wasHeld ? "unlock" : "retract";
    this.#track((async () => {
      for (let tries = 1; await this.#call(server, op, grant, true) === undefined; tries++) {
        if (tries === UNLOCK_TRIES) return;
        await sleep(Math.random() * RETRY_CAP_MS);
      }
    })());
  }

  #scheduleRefresh(grant: Grant): void {
    grant.timer = setTimeout(() => this.#track(this.#refresh(grant)), this.#refreshMs);
  }

  async #refresh(grant: Grant): Promise<void> {
    const servers = [...grant.servers];
    const answers = await Promise.all(servers.map((i) => this.#call(i, "refresh", grant)));
    if (grant.state !== "held") return;
    // A server that no longer knows the grant (expired, restarted) is out of it for good.
    servers.forEach((i, j) => answers[j] === false && grant.servers.delete(i));
    const now = performance.now();
    if (answers.filter((a) => a === true).length >= grant.quorum) grant.confirmedAt = now;
    const gone = grant.servers.size < grant.quorum;
    if (!gone && now - grant.confirmedAt < this.local.expiryMs) {
      this.#scheduleRefresh(grant);
      return;
    }
    const why = gone
      ? `only ${grant.servers.size} of ${this.#servers} lock servers still hold it`
      : `not confirmed by ${grant.quorum} lock servers for ${this.local.expiryMs} ms`;
    const lost = new Error(`${grant.write ? "write" : "read"} lock on ${grant.key} lost: ${why}`);
    this.#log(`flashstor: locks: ${lost.message}`);
    this.#release(grant);
    grant.onLost?.(lost);
  }

  /**
   * One operation on server i: true/false as it answered, undefined when it did not (down,
   * unreachable, an error answer, or slower than the call timeout for a refresh or unlock; a
   * server that slow is skipped a while). A lock call is waited for to the end, twice the call
   * timeout at most (the attempt stops waiting at the call timeout itself, and a late grant is
   * kept or given back).
   */
  async #call(i: number, op: LockOp, grant: Grant, always = false): Promise<boolean | undefined> {
    if (i === this.#servers - 1) return this.local.apply(op, grant.key, grant.uid);
    if (!always && performance.now() < this.#downUntil[i]) return undefined;
    const down = () => this.#downUntil[i] = performance.now() + DOWN_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const slow = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        down();
        resolve(undefined);
      }, this.#callTimeoutMs);
    });
    const answer = this.#clients[i].apply(op, grant.key, grant.uid);
    const acquiring = op === "lock" || op === "rlock";
    try {
      const result = await (acquiring ? answer : Promise.race([answer, slow]));
      if (result === undefined) down();
      return result;
    } finally {
      clearTimeout(timer);
    }
  }

  #track(work: Promise<unknown>): void {
    this.#background.add(work);
    void work.finally(() => this.#background.delete(work));
  }
}
