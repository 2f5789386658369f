/**
 * Bootstrap of a cluster node: before it serves, it checks every peer it can reach (same
 * endpoint list and erasure layout, Flashstor version, root credentials — proven by the
 * internode token, never sent — and a clock within MAX_CLOCK_SKEW_MS), waits until a majority
 * of the nodes (itself included) agree, and says in its log which peers it waits for and why
 * one is refused. It never exits over a peer: a node that disagrees never finds a majority,
 * and a late node finds the running ones and joins.
 */
import { VERSION } from "../version.ts";
import { MAX_CLOCK_SKEW_MS } from "./internode-auth.ts";
import { errorResponse, type InternodeRouter } from "./internode.ts";
import { PeerCallError, type PeerClient, PeerUnreachable } from "./internode-client.ts";
import type { Topology } from "./topology.ts";

/** What every node of a deployment must share, and its clock. */
export interface BootstrapFacts {
  version: string;
  /** Every drive, in format order. */
  endpoints: string[];
  layout: { setCount: number; setDriveCount: number; parity: number };
  /** The node's clock when it answered (ms since the epoch). */
  time: number;
}

export interface BootstrapOptions {
  topology: Topology;
  router: InternodeRouter;
  peers: readonly PeerClient[];
  /** Progress for the 503s S3 clients get meanwhile ("waiting for 2 more of 4 nodes …"). */
  onWaiting?: (reason: string) => void;
  log?: (line: string) => void;
  /** This node's clock (tests shift it to show the skew check). */
  now?: () => number;
  /** Between rounds of checks (ms). */
  retryMs?: number;
  /** Deadline of one peer check (ms). */
  callTimeoutMs?: number;
  /** Stops waiting (rejects with the signal's reason). */
  signal?: AbortSignal;
}

const RETRY_MS = 1_000;
const CALL_TIMEOUT_MS = 3_000;

/** This node's facts, as a peer is told them. */
function ownFacts(topology: Topology, now: () => number): BootstrapFacts {
  const { setCount, setDriveCount, parity } = topology.layout;
  return {
    version: VERSION,
    endpoints: topology.drives.map((d) => d.endpoint),
    layout: { setCount, setDriveCount, parity },
    time: now(),
  };
}

/** A digest of what every node must share (not the clock), sent along with each check. */
async function sharedDigest(topology: Topology): Promise<string> {
  const { version, endpoints, layout } = ownFacts(topology, () => 0);
  const bytes = new TextEncoder().encode(JSON.stringify([version, endpoints, layout]));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Serves `bootstrap/verify`: this node's facts, for the peers to compare with theirs. A caller
 * whose shared facts differ (its digest says so) is logged once here too, so that the odd node
 * shows on every node's log, not only its own.
 */
export function serveBootstrap(
  router: InternodeRouter,
  topology: Topology,
  now: () => number = Date.now,
  log: (line: string) => void = console.log,
): void {
  const digest = sharedDigest(topology);
  const refused = new Set<string>();
  router.register("bootstrap", async ({ method, caller, query }) => {
    if (method !== "verify") {
      return errorResponse(404, "UnknownMethod", `no bootstrap method "${method}"`);
    }
    const theirs = query.get("digest");
    if (theirs !== null && theirs !== await digest && !refused.has(caller)) {
      refused.add(caller);
      log(
        `flashstor: bootstrap: node ${caller} was started with another command line, version or ` +
          `erasure layout; it cannot join (its log names the difference)`,
      );
    }
    return Response.json(ownFacts(topology, now));
  });
}

/** The first difference between two command lines' drive lists, said for an operator. */
function endpointDifference(ours: string[], theirs: string[]): string | undefined {
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    if (ours[i] !== theirs[i]) {
      return `drive ${i + 1} (format order) is ${theirs[i] ?? "missing"} there, ` +
        `${ours[i] ?? "missing"} here`;
    }
  }
  return undefined;
}

/** Why a peer whose facts are `theirs` cannot join us, or undefined when it can. */
export function factsDifference(
  ours: BootstrapFacts,
  theirs: BootstrapFacts,
): string | undefined {
  if (theirs.version !== ours.version) {
    return `it runs Flashstor ${theirs.version}, this node ${ours.version}`;
  }
  const endpoints = endpointDifference(ours.endpoints, theirs.endpoints);
  if (endpoints) return `its command line differs: ${endpoints}`;
  const a = ours.layout;
  const b = theirs.layout;
  if (a.setCount !== b.setCount || a.setDriveCount !== b.setDriveCount || a.parity !== b.parity) {
    return `its erasure layout differs: ${b.setCount} set(s) of ${b.setDriveCount} with parity ` +
      `${b.parity} there, ${a.setCount} of ${a.setDriveCount} with parity ${a.parity} here`;
  }
  return undefined;
}

function isFacts(v: unknown): v is BootstrapFacts {
  const f = v as BootstrapFacts;
  return typeof f === "object" && f !== null && typeof f.version === "string" &&
    Array.isArray(f.endpoints) && f.endpoints.every((e) => typeof e === "string") &&
    typeof f.layout === "object" && f.layout !== null && Number.isFinite(f.time);
}

/** Checks one peer; undefined when it agrees, else why not (for the log). */
export async function verifyPeer(
  peer: PeerClient,
  topology: Topology,
  now: () => number = Date.now,
  timeoutMs = CALL_TIMEOUT_MS,
): Promise<string | undefined> {
  const digest = await sharedDigest(topology);
  const sent = now();
  let theirs: unknown;
  try {
    theirs = await peer.json<unknown>("bootstrap", "verify", {
      query: { digest },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    if (err instanceof PeerUnreachable) {
      return `unreachable (${err.message.replace(`peer ${peer.node}: `, "")})`;
    }
    if (err instanceof PeerCallError) {
      return err.code === "InternodeAccessDenied"
        ? `it refused this node's token: ${err.wire.message} (other root credentials, or clocks apart)`
        : `it answered HTTP ${err.status} ${err.code}: not ready yet`;
    }
    if (err instanceof DOMException && err.name === "TimeoutError") {
      return `no answer within ${timeoutMs} ms`;
    }
    return `bad answer (${err instanceof Error ? err.message : String(err)})`;
  }
  const received = now();
  if (!isFacts(theirs)) return "bad answer to the bootstrap check";
  const ours = ownFacts(topology, now);
  const difference = factsDifference(ours, theirs);
  if (difference) return difference;
  // Its clock read somewhere within the round trip: only skew beyond that uncertainty counts.
  const skew = theirs.time - (sent + received) / 2;
  if (Math.abs(skew) - (received - sent) / 2 > MAX_CLOCK_SKEW_MS) {
    return `its clock is ${Math.round(skew / 1000)} s ${skew > 0 ? "ahead of" : "behind"} ` +
      `this node's (at most ${MAX_CLOCK_SKEW_MS / 1000} s allowed: locks, STS expiry and ` +
      `retention compare clocks); synchronize the clocks (NTP)`;
  }
  return undefined;
}

/** Serves this node's bootstrap facts, then waits until a majority of the nodes agree. */
export async function bootstrap(options: BootstrapOptions): Promise<void> {
  const { topology, peers } = options;
  const now = options.now ?? Date.now;
  const log = options.log ?? console.log;
  serveBootstrap(options.router, topology, now, log);
  const total = topology.nodes.length;
  const needed = Math.floor(total / 2) + 1;
  const agreed = new Set<string>();
  const said = new Map<string, string>();
  for (;;) {
    options.signal?.throwIfAborted();
    const pending = peers.filter((p) => !agreed.has(p.node));
    const answers = await Promise.all(
      pending.map((p) => verifyPeer(p, topology, now, options.callTimeoutMs)),
    );
    answers.forEach((reason, i) => {
      const peer = pending[i].node;
      if (reason === undefined) {
        agreed.add(peer);
        log(`flashstor: bootstrap: node ${peer} agrees`);
      } else if (said.get(peer) !== reason) {
        said.set(peer, reason);
        log(`flashstor: bootstrap: waiting for node ${peer}: ${reason}`);
      }
    });
    const waiting = peers.filter((p) => !agreed.has(p.node)).map((p) =>
      `${p.node} (${said.get(p.node)})`
    );
    if (agreed.size + 1 >= needed) {
      log(
        `flashstor: bootstrap: ${agreed.size + 1} of ${total} nodes agree` +
          (waiting.length ? `; the others join when they come: ${waiting.join("; ")}` : ""),
      );
      return;
    }
    // Anyone may read the 503s: the count only; which peers and why is in the log.
    options.onWaiting?.(`waiting for ${needed - agreed.size - 1} more of ${total} nodes to agree`);
    await sleep(options.retryMs ?? RETRY_MS, options.signal);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", abort);
      resolve();
    }
    function abort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", abort, { once: true });
  });
}
