/**
 * Distributed locks in process: real LockServers behind real InternodeRouters on Deno.serve
 * (127.0.0.1), one DistributedLocker per node over its own server and its peers' — quorum,
 * exclusion, shared readers, writers not starved by readers, batched calls, refresh and
 * expiry, dead and hung servers, release on every path, the lock service's answers to bad
 * requests; the scanner's leader lock; and the in-process NamespaceLocks' timeouts.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { DistributedLocker } from "../src/cluster/dsync.ts";
import { InternodeAuth } from "../src/cluster/internode-auth.ts";
import { INTERNODE_PREFIX, InternodeRouter } from "../src/cluster/internode.ts";
import { PeerClient } from "../src/cluster/internode-client.ts";
import { LockClient } from "../src/cluster/lock-client.ts";
import { LockServer, serveLocks } from "../src/cluster/lock-server.ts";
import { LockTimeout } from "../src/object/errors.ts";
import { NamespaceLocks } from "../src/object/ns-lock.ts";
import type { Release } from "../src/object/locker.ts";
import { Scanner } from "../src/object/scanner.ts";
import { BUCKET, deployment, put, testBytes } from "./fixtures/object_env.ts";

const ROOT = { accessKey: "lockadmin", secretKey: "lock-secret-key-1" };

interface LockNode {
  name: string;
  url: string;
  server: LockServer;
  http: Deno.HttpServer<Deno.NetAddr>;
  locker: DistributedLocker;
  log: string[];
  /** HTTP requests this node's lock server was sent. */
  counted: { requests: number };
  /** Moves this node's lock-server clock on (ms). */
  skip(ms: number): void;
}

interface LockCluster {
  nodes: LockNode[];
  /** Stops node i's HTTP server (its lock server is then unreachable to the others). */
  stop(i: number): Promise<void>;
  close(): Promise<void>;
}

interface ClusterOptions {
  expiryMs?: number;
  callTimeoutMs?: number;
  /** Nodes whose address accepts connections but never answers. */
  hung?: number[];
}

/** `count` lock nodes on loopback, each locker asking its own server and every peer's. */
function lockCluster(count: number, options: ClusterOptions = {}): LockCluster {
  const served = Array.from({ length: count }, () => {
    let offset = 0;
    const server = new LockServer({
      expiryMs: options.expiryMs ?? 30_000,
      now: () => performance.now() + offset,
    });
    const routers: InternodeRouter[] = [];
    const counted = { requests: 0 };
    const http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => {
        counted.requests++;
        return routers[0].handle(request);
      },
    );
    const name = `127.0.0.1:${http.addr.port}`;
    routers.push(new InternodeRouter(new InternodeAuth(ROOT, name)));
    serveLocks(routers[0], server);
    return {
      name,
      url: `http://${name}`,
      server,
      http,
      counted,
      skip: (ms: number) => offset += ms,
    };
  });
  const urls = served.map((n) => n.url);
  const hungListeners = (options.hung ?? []).map((i) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    urls[i] = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    return listener;
  });
  const hungConns: Deno.Conn[] = [];
  for (const listener of hungListeners) {
    void (async () => {
      for await (const conn of listener) hungConns.push(conn);
    })().catch(() => {});
  }
  const clients: Deno.HttpClient[] = [];
  const peerClients: PeerClient[] = [];
  const nodes: LockNode[] = served.map((node) => {
    const client = Deno.createHttpClient({});
    clients.push(client);
    const auth = new InternodeAuth(ROOT, node.name);
    // The pooled HTTP/1.1 client for lock calls, as node.ts wires it.
    const peers = served.flatMap((n, i) =>
      n === node ? [] : [new PeerClient(urls[i], n.name, auth, client, { pooled: ["lock"] })]
    );
    peerClients.push(...peers);
    const log: string[] = [];
    const locker = new DistributedLocker(node.server, peers, {
      callTimeoutMs: options.callTimeoutMs,
      log: (line) => log.push(line),
    });
    return { ...node, locker, log };
  });
  const stopped = new Set<number>();
  return {
    nodes,
    async stop(i) {
      stopped.add(i);
      await nodes[i].http.shutdown();
    },
    async close() {
      for (const l of hungListeners) l.close();
      for (const c of hungConns) c.close();
      await Promise.all(nodes.map((n) => n.locker.drain()));
      for (const p of peerClients) p.close();
      await Promise.all(nodes.map((n, i) => stopped.has(i) ? undefined : n.http.shutdown()));
      for (const c of clients) c.close();
    },
  };
}

/** Polls `check` every 20 ms until it holds, at most `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; !check();) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("dsync: a writer excludes writers and readers on every node; readers share", async () => {
  const c = lockCluster(4);
  const [a, b, d, e] = c.nodes.map((n) => n.locker);
  try {
    const releaseA = await a.write("bucket/key");
    await assertRejects(() => b.write("bucket/key", { timeoutMs: 200 }), LockTimeout);
    await assertRejects(() => d.read("bucket/key", { timeoutMs: 200 }), LockTimeout);
    (await b.write("bucket/other"))();
    releaseA();
    const releaseB = await b.write("bucket/key");
    releaseB();

    const readers = await Promise.all([a, b, d].map((l) => l.read("bucket/key")));
    await assertRejects(() => e.write("bucket/key", { timeoutMs: 200 }), LockTimeout);
    const readers2 = await e.read("bucket/key");
    for (const release of [...readers, readers2]) release();
    (await e.write("bucket/key"))();
  } finally {
    await c.close();
  }
  for (const node of c.nodes) assertEquals(node.server.size, 0, `${node.name} holds nothing`);
});

Deno.test("dsync: writers on four nodes contending for one key never overlap", async () => {
  const c = lockCluster(4);
  let inside = 0;
  let entered = 0;
  try {
    await Promise.all(c.nodes.map(async (node) => {
      for (let round = 0; round < 8; round++) {
        await node.locker.withWrite("bucket/hot", async () => {
          inside++;
          entered++;
          assertEquals(inside, 1, "two writers inside at once");
          await delay(2);
          inside--;
        });
      }
    }));
  } finally {
    await c.close();
  }
  assertEquals(entered, 32);
});

Deno.test("dsync: readers looping on three nodes do not starve a writer", async () => {
  const c = lockCluster(4);
  let reading = true;
  let reads = 0;
  const readers = c.nodes.slice(1).flatMap((node) =>
    [0, 1].map(async () => {
      while (reading) {
        await node.locker.withRead("bucket/popular", () => delay(15));
        reads++;
      }
    })
  );
  try {
    await eventually(() => reads >= 6, 5_000, "the readers read");
    for (let i = 0; i < 3; i++) (await c.nodes[0].locker.write("bucket/popular"))();
  } finally {
    reading = false;
    await Promise.all(readers);
    await c.close();
  }
});

Deno.test("dsync: many locks at once from one node share requests to each peer", async () => {
  const c = lockCluster(3);
  const [a, b] = c.nodes.map((n) => n.locker);
  try {
    const keys = Array.from({ length: 64 }, (_, i) => `bucket/many/${i}`);
    const releases = await Promise.all(keys.map((key) => a.write(key)));
    await assertRejects(() => b.read(keys[63], { timeoutMs: 0 }), LockTimeout);
    for (const release of releases) release();
    // b's refused attempt may have been granted by one server: its retraction is b's to send.
    await Promise.all([a.drain(), b.drain()]);
    for (const node of c.nodes) assertEquals(node.server.size, 0, `${node.name} holds nothing`);
    // 64 locks and 64 unlocks to each peer, in far fewer requests.
    for (const node of c.nodes.slice(1)) {
      assert(node.counted.requests < 64, `${node.counted.requests} requests to ${node.name}`);
    }
  } finally {
    await c.close();
  }
});

Deno.test("dsync: a held lock outlives the expiry while refreshed; an abandoned one expires", async () => {
  const c = lockCluster(4, { expiryMs: 600 });
  const [a, b] = c.nodes.map((n) => n.locker);
  try {
    const release = await a.write("bucket/held");
    await delay(1_500); // several expiry times: only the refreshes keep it
    await assertRejects(() => b.write("bucket/held", { timeoutMs: 0 }), LockTimeout);
    release();

    // A holder that dies leaves its grants behind: made here as its lock calls would be.
    const auth = new InternodeAuth(ROOT, "127.0.0.1:1");
    for (const node of c.nodes.slice(1)) {
      const client = new LockClient(new PeerClient(node.url, node.name, auth), 10_000);
      assert(await client.apply("lock", "bucket/orphan", "dead-holder"));
    }
    await assertRejects(() => b.write("bucket/orphan", { timeoutMs: 0 }), LockTimeout);
    (await b.write("bucket/orphan", { timeoutMs: 10_000 }))();
  } finally {
    await c.close();
  }
});

Deno.test("dsync: a lock its servers forgot is lost, and its holder told", async () => {
  const c = lockCluster(4, { expiryMs: 600 });
  const [a, b] = c.nodes.map((n) => n.locker);
  try {
    let lost: Error | undefined;
    const release = await a.write("bucket/lost", { onLost: (err) => lost = err });
    for (const node of c.nodes.slice(1)) node.skip(600);
    await eventually(() => lost !== undefined, 5_000, "the holder learns its lock is lost");
    assert(/lost/.test(lost!.message), lost!.message);
    assert(c.nodes[0].log.some((line) => line.includes("bucket/lost")), "the loss is logged");
    (await b.write("bucket/lost", { timeoutMs: 10_000 }))();
    release();
  } finally {
    await c.close();
  }
});

Deno.test("dsync: one dead lock server of four costs nothing; two stop writers, not readers", async () => {
  const c = lockCluster(4);
  const a = c.nodes[0].locker;
  try {
    await c.stop(3);
    (await a.write("bucket/k"))();
    (await a.read("bucket/k"))();
    await c.stop(2);
    await assertRejects(() => a.write("bucket/k", { timeoutMs: 300 }), LockTimeout);
    const reader = await a.read("bucket/k");
    await assertRejects(() => c.nodes[1].locker.write("bucket/k", { timeoutMs: 300 }), LockTimeout);
    reader();
  } finally {
    await c.close();
  }
});

Deno.test("dsync: a hung lock server does not hold up a quorum, and fails one within the timeout", async () => {
  const c = lockCluster(4, { hung: [3], callTimeoutMs: 300 });
  try {
    const a = c.nodes[0].locker;
    // Three answering servers make the write quorum: granted without waiting for the hung one.
    const release = await a.write("bucket/k", { timeoutMs: 0 });
    release();
    // With one of the three down too, no write quorum: LockTimeout, not a hang.
    await c.stop(2);
    await assertRejects(() => a.write("bucket/k2", { timeoutMs: 1_000 }), LockTimeout);
  } finally {
    await c.close();
  }
});

Deno.test("dsync: released on errors and on cancelled waits", async () => {
  const c = lockCluster(3);
  const [a, b] = c.nodes.map((n) => n.locker);
  try {
    await assertRejects(
      () => a.withWrite("bucket/k", () => Promise.reject(new RangeError("commit failed"))),
      RangeError,
      "commit failed",
    );
    await a.drain();
    (await b.write("bucket/k", { timeoutMs: 0 }))();

    const holder = await a.write("bucket/k");
    const gone = new AbortController();
    const waiting = assertRejects(() => b.read("bucket/k", { signal: gone.signal }), LockTimeout);
    await delay(50);
    gone.abort();
    await waiting;
    holder();
    await Promise.all(c.nodes.map((n) => n.locker.drain()));
    for (const node of c.nodes) assertEquals(node.server.size, 0, `${node.name} holds nothing`);
  } finally {
    await c.close();
  }
});

Deno.test("lock service: bad requests get 4xx answers, never a grant", async () => {
  const c = lockCluster(1);
  const node = c.nodes[0];
  const auth = new InternodeAuth(ROOT, "127.0.0.1:2");
  const send = async (body: unknown, init: RequestInit = {}, path = "lock/apply") => {
    const response = await fetch(`${node.url}${INTERNODE_PREFIX}${path}`, {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
      ...init,
      headers: { authorization: await auth.authorization(), ...init.headers },
    });
    const answer = await response.json() as { code?: string; granted?: boolean[] };
    return { status: response.status, answer };
  };
  try {
    assertEquals((await send([["lock", "b/k", "u-1"]])).answer, { granted: [true] });
    const refused: [unknown, RequestInit, number, string][] = [
      [[["steal", "b/k", "u-2"]], {}, 400, "InvalidLockRequest"],
      [[["lock", "", "u-2"]], {}, 400, "InvalidLockRequest"],
      [[["lock", "x".repeat(5000), "u-2"]], {}, 400, "InvalidLockRequest"],
      [[["lock", "b/k", "../../x"]], {}, 400, "InvalidLockRequest"],
      [[["lock", "b/k"]], {}, 400, "InvalidLockRequest"],
      [[["unlock", "b/k", "u-1"], ["lock", "b/k", 7]], {}, 400, "InvalidLockRequest"],
      [[], {}, 400, "InvalidLockRequest"],
      [Array(300).fill(["lock", "b/k", "u-2"]), {}, 400, "InvalidLockRequest"],
      ["{not json", {}, 400, "InvalidLockRequest"],
      [{ op: "lock" }, {}, 400, "InvalidLockRequest"],
      ["x".repeat(2_000_000), {}, 400, "InvalidLockRequest"],
      [[["lock", "b/k", "u-2"]], { method: "PUT" }, 404, "UnknownLockOperation"],
      [[["lock", "b/k", "u-3"]], { headers: { authorization: "" } }, 403, "InternodeAccessDenied"],
    ];
    for (const [body, init, status, code] of refused) {
      const { status: got, answer } = await send(body, init);
      assertEquals([got, answer.code], [status, code], JSON.stringify(body).slice(0, 80));
    }
    const other = await send([["lock", "b/k", "u-2"]], {}, "lock/lock");
    assertEquals([other.status, other.answer.code], [404, "UnknownLockOperation"]);
    // The grant survived all that; another holder's uid cannot unlock it, nor a read unlock.
    assertEquals((await send([["unlock", "b/k", "u-2"], ["runlock", "b/k", "u-1"]])).answer, {
      granted: [false, false],
    });
    assertEquals((await send([["rlock", "b/k", "u-4"], ["unlock", "b/k", "u-1"]])).answer, {
      granted: [false, true],
    });
    assertEquals(node.server.size, 0);
  } finally {
    await c.close();
  }
});

Deno.test("lock server: expiry on its own clock, refresh, readers and writers", () => {
  let now = 0;
  const server = new LockServer({ expiryMs: 1_000, now: () => now });
  assert(server.apply("rlock", "k", "r1"));
  assert(server.apply("rlock", "k", "r2"));
  assert(!server.apply("lock", "k", "w1"));
  now = 900;
  assert(server.apply("refresh", "k", "r1"));
  now = 1_500; // r2 expired, r1 refreshed at 900
  assert(!server.apply("refresh", "k", "r2"));
  assert(!server.apply("lock", "k", "w1"));
  now = 1_900;
  assert(server.apply("lock", "k", "w1"), "every reader expired");
  assert(!server.apply("rlock", "k", "r3"));
  assert(!server.apply("runlock", "k", "w1"), "a read unlock does not free a write lock");
  assert(server.apply("unlock", "k", "w1"));
  assert(!server.apply("unlock", "k", "w1"), "unlocked once");
  assert(server.apply("lock", "other", "w2"));
  // A writer refused for readers holds new readers off while it retries, not for good.
  assert(server.apply("rlock", "r", "r1"));
  assert(!server.apply("lock", "r", "w4"));
  assert(!server.apply("rlock", "r", "r2"), "a writer waits");
  assert(server.apply("runlock", "r", "r1"));
  assert(server.apply("lock", "r", "w4"));
  assert(server.apply("unlock", "r", "w4"));
  assert(server.apply("rlock", "r", "r2"), "the writer came and went");
  assert(!server.apply("lock", "r", "w5"));
  assert(server.apply("runlock", "r", "r2"));
  now += 999;
  assert(!server.apply("rlock", "r", "r3"), "w5 may still be retrying");
  now += 1;
  assert(server.apply("rlock", "r", "r3"), "w5 gave up");
  assert(server.apply("runlock", "r", "r3"));
  // A write grant given back by an attempt short of quorum keeps readers off as a refusal does.
  assert(server.apply("lock", "r", "w6"));
  assert(!server.apply("retract", "r", "w7"), "only the holder's uid retracts");
  assert(server.apply("retract", "r", "w6"));
  assert(!server.apply("rlock", "r", "r4"), "w6 is retrying");
  assert(server.apply("lock", "r", "w6"));
  assert(server.apply("unlock", "r", "w6"));
  assert(server.apply("rlock", "r", "r4"), "w6 got it and let go");
  assert(server.apply("runlock", "r", "r4"));
  now = 5_000; // a sweep drops what nobody asks about again
  assert(server.apply("lock", "third", "w3"));
  assertEquals(server.size, 1);
});

Deno.test("namespace locks: a waiter's timeout or signal ends its wait, and those behind go on", async () => {
  const locks = new NamespaceLocks();
  const reader = await locks.read("k");
  await assertRejects(() => locks.write("k", { timeoutMs: 0 }), LockTimeout);
  const writer = locks.write("k", { timeoutMs: 30 });
  // A reader queued behind the waiting writer is let in once the writer gives up.
  const queued = locks.read("k");
  await assertRejects(() => writer, LockTimeout);
  (await queued)();
  const gone = new AbortController();
  const cancelled = assertRejects(() => locks.write("k", { signal: gone.signal }), LockTimeout);
  gone.abort();
  await cancelled;
  reader();
  const release: Release = await locks.write("k", { timeoutMs: 0 });
  release();
});

Deno.test("scanner: only the leader lock's holder runs cycles; another node takes over", async () => {
  const c = lockCluster(3);
  const d = await deployment(1, 4, 2);
  const scanners: Scanner[] = [];
  try {
    await put(d.layer, "photos/a.jpg", testBytes(1000));
    // Two nodes' object layers over the same drives, each with its own node's locker.
    for (const [i, layer] of [d.layer, await d.open()].entries()) {
      scanners.push(
        new Scanner(layer.sets, {
          intervalMs: 30,
          deepEvery: 0,
          garbageAgeMs: 60_000,
          uploadExpiryMs: 0,
          busy: () => false,
          sleepFactor: 0,
          log: () => {},
          leader: c.nodes[i].locker,
        }),
      );
    }
    await Promise.all(scanners.map((s) => s.start()));
    await eventually(() => scanners.some((s) => s.status().cycles >= 3), 10_000, "cycles run");
    const [leader, follower] = scanners[0].status().cycles >= 3 ? scanners : scanners.toReversed();
    assertEquals(follower.status().cycles, 0, "the follower ran no cycle");
    await eventually(
      () => follower.usage().some((u) => u.bucket === BUCKET && u.objects === 1),
      10_000,
      "the follower serves the usage the leader saved",
    );
    await leader.close();
    await eventually(() => follower.status().cycles >= 1, 10_000, "the follower takes over");
  } finally {
    await Promise.all(scanners.map((s) => s.close()));
    await d.close();
    await c.close();
  }
});
