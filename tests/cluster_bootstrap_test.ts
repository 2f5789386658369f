/**
 * Bootstrap between nodes in this process: each a real InternodeRouter on a real Deno.serve,
 * with its own topology, credentials and clock.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { bootstrap, factsDifference, serveBootstrap } from "../src/cluster/bootstrap.ts";
import { resolveDrives, resolveTopology, setLayout } from "../src/cluster/endpoints.ts";
import { InternodeAuth, type RootCredentials } from "../src/cluster/internode-auth.ts";
import { InternodeRouter } from "../src/cluster/internode.ts";
import { PeerClient } from "../src/cluster/internode-client.ts";
import type { Topology } from "../src/cluster/topology.ts";
import { freePorts } from "./helpers/cluster.ts";

const ROOT: RootCredentials = { accessKey: "rootuser", secretKey: "rootsecret-123" };

interface TestNode {
  topology: Topology;
  router: InternodeRouter;
  peers: PeerClient[];
  lines: string[];
  waiting: string;
}

/** A node at `ports[index]`; its peers' clients; its router served on its port. */
async function node(
  ports: number[],
  index: number,
  options: { paths?: (n: number) => string; root?: RootCredentials; now?: () => number } = {},
): Promise<TestNode & { server: Deno.HttpServer }> {
  const paths = options.paths ?? ((n) => `/srv/n${n}/d{1...2}`);
  const drives = resolveDrives(ports.map((p, i) => `http://127.0.0.1:${p}${paths(i + 1)}`));
  const topology = await resolveTopology(
    drives,
    { hostname: "127.0.0.1", port: ports[index], tls: false },
    setLayout(drives.length, undefined, ports.length),
  );
  const auth = new InternodeAuth(options.root ?? ROOT, topology.self.node);
  const router = new InternodeRouter(auth);
  serveBootstrap(router, topology, options.now);
  const peers = topology.nodes.filter((n) => !n.local).map((n) =>
    new PeerClient(n.url, n.node, auth)
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: ports[index], onListen: () => {} },
    (request) => router.handle(request),
  );
  return { topology, router, peers, lines: [], waiting: "", server };
}

function run(n: TestNode, extra: { now?: () => number; signal?: AbortSignal } = {}) {
  return bootstrap({
    topology: n.topology,
    router: n.router,
    peers: n.peers,
    log: (line) => n.lines.push(line),
    onWaiting: (reason) => n.waiting = reason,
    retryMs: 50,
    callTimeoutMs: 2_000,
    ...extra,
  });
}

/** Waits (bounded) until a log line contains `text`. */
async function logged(n: TestNode, text: string): Promise<string> {
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    const line = n.lines.find((l) => l.includes(text));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no log line with "${text}" in:\n${n.lines.join("\n")}`);
}

/** Runs `waiter`'s bootstrap until its log says `text`; it must still be waiting then. */
async function refusedWith(waiter: TestNode, text: string, lingerMs = 0): Promise<string> {
  const stop = new AbortController();
  const running = run(waiter, { signal: stop.signal });
  try {
    const line = await logged(waiter, text);
    // Rounds go on meanwhile (every 50 ms): the refusal must not be logged again.
    await new Promise((r) => setTimeout(r, lingerMs));
    return line;
  } finally {
    stop.abort(new Error("test over"));
    await assertRejects(() => running, Error, "test over");
  }
}

Deno.test("bootstrap: a majority of agreeing nodes is enough; the absent one is named", async () => {
  const ports = freePorts(3);
  const a = await node(ports, 0);
  const b = await node(ports, 1);
  try {
    await Promise.all([run(a), run(b)]);
    await logged(a, `node 127.0.0.1:${ports[1]} agrees`);
    const line = await logged(a, "2 of 3 nodes agree");
    assertStringIncludes(line, `127.0.0.1:${ports[2]} (unreachable`);
  } finally {
    await Promise.all([a.server.shutdown(), b.server.shutdown()]);
  }
});

Deno.test("bootstrap: a node waits, saying why, while no majority agrees", async (t) => {
  const ports = freePorts(2);
  const a = await node(ports, 0);
  try {
    await t.step("a peer with another command line: the first difference is named", async () => {
      const b = await node(ports, 1, {
        paths: (n) => n === 2 ? "/srv/other/d{1...2}" : `/srv/n${n}/d{1...2}`,
      });
      try {
        const line = await refusedWith(a, "command line differs");
        assertStringIncludes(line, `http://127.0.0.1:${ports[1]}/srv/other/d1 there`);
        assertStringIncludes(line, `http://127.0.0.1:${ports[1]}/srv/n2/d1 here`);
        assertStringIncludes(a.waiting, "waiting for 1 more of 2 nodes");
      } finally {
        await b.server.shutdown();
      }
    });
    await t.step("a peer with other root credentials refuses our token", async () => {
      const b = await node(ports, 1, { root: { accessKey: "other", secretKey: "othersecret-1" } });
      try {
        await refusedWith(a, "refused this node's token", 400);
      } finally {
        await b.server.shutdown();
      }
    });
    await t.step("a peer whose clock is 20 s ahead (measured over the round trip)", async () => {
      const b = await node(ports, 1, { now: () => Date.now() + 20_000 });
      try {
        const line = await refusedWith(a, "clock is");
        assertStringIncludes(line, "20 s ahead of this node's");
      } finally {
        await b.server.shutdown();
      }
    });
    await t.step("each refusal is logged once, not per retry", () => {
      const count = a.lines.filter((l) => l.includes("refused this node's token")).length;
      assertEquals(count, 1);
    });
  } finally {
    await a.server.shutdown();
  }
});

Deno.test("bootstrap: facts differ by version or layout", () => {
  const facts = {
    version: "1.0.0",
    endpoints: ["http://a:1/x", "http://b:1/x"],
    layout: { setCount: 1, setDriveCount: 2, parity: 1 },
    time: 0,
  };
  assertEquals(factsDifference(facts, { ...facts, time: 99 }), undefined);
  assertStringIncludes(
    factsDifference(facts, { ...facts, version: "0.9.0" }) ?? "",
    "runs Flashstor 0.9.0, this node 1.0.0",
  );
  assertStringIncludes(
    factsDifference(facts, { ...facts, endpoints: ["http://a:1/x"] }) ?? "",
    "drive 2 (format order) is missing there",
  );
  const layout = factsDifference(facts, { ...facts, layout: { ...facts.layout, parity: 0 } });
  assert(layout?.includes("erasure layout differs"));
});
