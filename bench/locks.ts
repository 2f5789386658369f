/**
 * What a namespace lock costs: an uncontended key, in process (NamespaceLocks, a single node)
 * vs distributed (DistributedLocker over 4 lock servers: this node's in process and three
 * peers' over loopback HTTP — the pooled HTTP/1.1 client, as node.ts wires it — each a real
 * LockServer behind a real InternodeRouter with token auth on Deno.serve). The peers run in
 * this process too, so their work shares its event loop (and this machine's cores), as a
 * node's own lock service shares it with its requests. Figures, one at a time: µs to acquire
 * (what a request waits) and per round (acquire, release, and the unlocks answered: release
 * itself never waits for them); and write acquire+release per second at concurrency 16 on
 * distinct keys (where the calls to a peer share requests).
 * Run alone: `.deno/bin/deno run -A bench/locks.ts [--quick]`.
 */
import { DistributedLocker } from "../src/cluster/dsync.ts";
import { InternodeAuth } from "../src/cluster/internode-auth.ts";
import { InternodeRouter } from "../src/cluster/internode.ts";
import { PeerClient } from "../src/cluster/internode-client.ts";
import { LockServer, serveLocks } from "../src/cluster/lock-server.ts";
import type { Locker } from "../src/object/locker.ts";
import { NamespaceLocks } from "../src/object/ns-lock.ts";

export interface Timing {
  acquireUs: number;
  roundUs: number;
}

export interface LockCostResult {
  servers: number;
  local: { write: Timing; read: Timing };
  distributed: { write: Timing; read: Timing };
  /** Write acquire+release per second at concurrency 16, distinct keys. */
  localRate: number;
  distributedRate: number;
}

const ROOT = { accessKey: "benchadmin", secretKey: "bench-secret-key" };
const CONCURRENCY = 16;

/** µs to acquire and per round (acquire, release, `settle`), one at a time. */
async function sequential(
  rounds: number,
  acquire: () => Promise<() => void>,
  settle: () => Promise<void>,
): Promise<Timing> {
  let acquiring = 0;
  let total = 0;
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    const release = await acquire();
    acquiring += performance.now() - t;
    release();
    await settle();
    total += performance.now() - t;
  }
  return { acquireUs: acquiring * 1000 / rounds, roundUs: total * 1000 / rounds };
}

/** Write acquire+release per second with CONCURRENCY workers on distinct keys, for `ms`. */
async function rate(locker: Locker, ms: number): Promise<number> {
  let done = 0;
  const end = performance.now() + ms;
  const t = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let n = 0; performance.now() < end; n++) {
      (await locker.write(`bench/w${w}/${n}`))();
      done++;
    }
  }));
  return done / ((performance.now() - t) / 1000);
}

/** `servers` lock servers on loopback and the first one's locker over them. */
function lockCluster(servers: number) {
  const nodes = Array.from({ length: servers }, () => {
    const lockServer = new LockServer();
    const routers: InternodeRouter[] = [];
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => routers[0].handle(request),
    );
    const name = `127.0.0.1:${http.addr.port}`;
    routers.push(new InternodeRouter(new InternodeAuth(ROOT, name)));
    serveLocks(routers[0], lockServer);
    return { name, lockServer, http };
  });
  const auth = new InternodeAuth(ROOT, nodes[0].name);
  const client = Deno.createHttpClient({});
  const peers = nodes.slice(1).map((n) =>
    new PeerClient(`http://${n.name}`, n.name, auth, client, { pooled: ["lock"] })
  );
  const locker = new DistributedLocker(nodes[0].lockServer, peers);
  const close = async () => {
    await locker.drain();
    for (const peer of peers) peer.close();
    await Promise.all(nodes.map((n) => n.http.shutdown()));
    client.close();
  };
  return { locker, close };
}

export async function lockCost(options: { quick?: boolean } = {}): Promise<LockCostResult> {
  const rounds = options.quick ? 300 : 2_000;
  const rateMs = options.quick ? 1_000 : 3_000;
  const local = new NamespaceLocks();
  const noop = () => Promise.resolve();
  // Warm up first: the in-process figures are a microsecond or less.
  await sequential(rounds, () => local.write("warm/up"), noop);
  const localTimings = {
    write: await sequential(rounds * 20, () => local.write("b/k"), noop),
    read: await sequential(rounds * 20, () => local.read("b/k"), noop),
  };
  const localRate = await rate(local, rateMs);

  const servers = 4;
  const { locker, close } = lockCluster(servers);
  try {
    const drain = () => locker.drain();
    await sequential(rounds, () => locker.write("warm/up"), drain);
    const distributed = {
      write: await sequential(rounds, () => locker.write("b/k"), drain),
      read: await sequential(rounds, () => locker.read("b/k"), drain),
    };
    const distributedRate = await rate(locker, rateMs);
    return {
      servers,
      local: localTimings,
      distributed,
      localRate,
      distributedRate,
    };
  } finally {
    await close();
  }
}

if (import.meta.main) {
  const r = await lockCost({ quick: Deno.args.includes("--quick") });
  const us = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(0)).padStart(9);
  const row = (name: string, t: { write: Timing; read: Timing }, perSecond: number) =>
    `${name.padEnd(22)}${us(t.write.acquireUs)}${us(t.write.roundUs)}${us(t.read.acquireUs)}${
      us(t.read.roundUs)
    }${Math.round(perSecond).toString().padStart(12)}`;
  console.log("namespace lock, uncontended key: µs to acquire / per acquire+release round");
  console.log(`${"".padEnd(22)}   W acq. W round   R acq.  R round  W/s at c${CONCURRENCY}`);
  console.log(row("in process (1 node)", r.local, r.localRate));
  console.log(row(`dsync, ${r.servers} lock servers`, r.distributed, r.distributedRate));
}
