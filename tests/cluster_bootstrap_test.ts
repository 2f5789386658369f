/**
 * Bootstrap between nodes in this process (each a real InternodeRouter on a real Deno.serve,
 * with its own topology, credentials and clock), then a real 4-node cluster: a fresh start
 * waits for the last node, a node that was away joins again, and nodes with another command
 * line, other credentials or another deployment's drives are refused.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { bootstrap, factsDifference, serveBootstrap } from "../src/cluster/bootstrap.ts";
import { resolveDrives, resolveTopology, setLayout } from "../src/cluster/endpoints.ts";
import { InternodeAuth, type RootCredentials } from "../src/cluster/internode-auth.ts";
import { InternodeRouter } from "../src/cluster/internode.ts";
import { PeerClient } from "../src/cluster/internode-client.ts";
import type { Topology } from "../src/cluster/topology.ts";
import { freePorts, nodeClient, startCluster } from "./helpers/cluster.ts";
import { spawnNode } from "./helpers/cluster-node.ts";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import https from "node:https";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";
import { ignoreWithout, opensslUnavailable } from "./helpers/capabilities.ts";
import { selfSignedCert } from "./helpers/tls.ts";
import { CA_DIR, peerTrust } from "../src/cluster/peer-tls.ts";
import { join } from "node:path";
import { SYSTEM_VOLUME } from "../src/storage/api.ts";
import { FORMAT_FILE, formatForDrive, newFormat, serializeFormat } from "../src/storage/format.ts";

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
  const lines: string[] = [];
  serveBootstrap(router, topology, options.now, (line) => lines.push(line));
  const peers = topology.nodes.filter((n) => !n.local).map((n) =>
    new PeerClient(n.url, n.node, auth)
  );
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: ports[index], onListen: () => {} },
    (request) => router.handle(request),
  );
  return { topology, router, peers, lines, waiting: "", server };
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
        const line = await refusedWith(a, "command line differs", 300);
        assertStringIncludes(line, `http://127.0.0.1:${ports[1]}/srv/other/d1 there`);
        assertStringIncludes(line, `http://127.0.0.1:${ports[1]}/srv/n2/d1 here`);
        assertStringIncludes(a.waiting, "waiting for 1 more of 2 nodes");
        // The peer logs the odd caller too, once.
        const noted = b.lines.filter((l) => l.includes(`node 127.0.0.1:${ports[0]} was started`));
        assertEquals(noted.length, 1);
        assertStringIncludes(noted[0], "another command line, version or erasure layout");
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

/** Waits (bounded) until the node on `port` answers S3 with a 503 whose message has `text`. */
async function answers503(port: number, text: string): Promise<void> {
  const until = Date.now() + 30_000;
  let last = "";
  while (Date.now() < until) {
    last = await fetch(`http://127.0.0.1:${port}/`).then(
      async (r) => `${r.status} ${await r.text()}`,
      (err) => String(err),
    );
    if (last.startsWith("503") && last.includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node on ${port} never answered 503 "${text}"; last: ${last}`);
}

Deno.test("cluster start: a fresh deployment waits for every node; a node away rejoins; odd nodes are refused", async (t) => {
  const cluster = await startCluster({ start: [] });
  const { dir, ports, endpoints } = cluster;
  const bucket = "joins";
  const get = async (node: number, key: string) => {
    const answer = await nodeClient(cluster.node(node)).send(
      new GetObjectCommand({ Bucket: bucket, Key: key }),
    );
    return await answer.Body!.transformToString();
  };
  try {
    await t.step("a new deployment is formatted once every node is there", async () => {
      let served = 0;
      const first = [0, 1, 2].map((i) => cluster.startNode(i).then(() => served++));
      // The last node comes later: node 1 cannot format a new deployment without its drives,
      // node 2 waits for node 1 (their 503s say they wait for the format, their logs why).
      await answers503(ports[0], "format (peers starting)");
      await answers503(ports[1], "format (peers starting)");
      assertEquals(served, 0);
      await Promise.all([...first, cluster.startNode(3)]);
      assertStringIncludes(
        cluster.node(0).output(),
        "cannot format a new deployment while 2 of 8 drives are unreachable",
      );
      assertStringIncludes(
        cluster.node(1).output(),
        `waiting for node 127.0.0.1:${ports[0]} to format the new deployment`,
      );
      await nodeClient(cluster.node(0)).send(new CreateBucketCommand({ Bucket: bucket }));
      await nodeClient(cluster.node(0)).send(
        new PutObjectCommand({ Bucket: bucket, Key: "one", Body: "written through node 1" }),
      );
      assertEquals(await get(2, "one"), "written through node 1");
    });

    await t.step(
      "a node away: the others serve; back, it joins and its drives come online",
      async () => {
        await cluster.kill(3);
        await nodeClient(cluster.node(1)).send(
          new PutObjectCommand({ Bucket: bucket, Key: "two", Body: "while node 4 was away" }),
        );
        assertEquals(await get(0, "two"), "while node 4 was away");
        await cluster.startNode(3);
        assertEquals(await get(3, "two"), "while node 4 was away");
        const drive = `drive http://127.0.0.1:${ports[3]}${dir}/n4/d1 back online`;
        const until = Date.now() + 30_000;
        while (!cluster.node(0).output().includes(drive) && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 100));
        }
        assertStringIncludes(cluster.node(0).output(), drive);
      },
    );

    await t.step(
      "back with a wiped drive: its node formats it, the others leave it to it",
      async () => {
        await cluster.kill(3);
        await Deno.remove(join(dir, "n4", "d2", SYSTEM_VOLUME, FORMAT_FILE));
        await cluster.startNode(3);
        // Format order interleaves the nodes: n4/d2 is the 8th drive of the one set.
        const own = /n4\/d2 .*formatted into set 1, drive 8/;
        assert(own.test(cluster.node(3).output()), cluster.node(3).output());
        assertEquals(await get(3, "two"), "while node 4 was away");
        const remote = `http://127.0.0.1:${ports[3]}${dir}/n4/d2`;
        for (const i of [0, 1, 2]) {
          assertEquals(cluster.node(i).output().includes(`${remote} back, healing`), false);
        }
      },
    );
    await cluster.kill(3);

    await t.step("the whole cluster restarted with one node missing serves", async () => {
      await cluster.stop();
      await Promise.all([0, 1, 2].map((i) => cluster.startNode(i)));
      assertEquals(await get(2, "two"), "while node 4 was away");
      assertStringIncludes(cluster.node(0).output(), "3 of 4 nodes agree");
    });

    await t.step("a node with another command line is refused, naming the difference", async () => {
      const odd = endpoints.map((e, i) => i === 3 ? e.replace("/n4/", "/n4x/") : e);
      const node = spawnNode(odd, ports[3]);
      try {
        const [line] = await node.waitFor(/bootstrap: waiting for node .*command line differs.*/);
        assertStringIncludes(line, `${dir}/n4/d1 there`);
        assertStringIncludes(line, `${dir}/n4x/d1 here`);
        const s3 = await fetch(`${node.endpoint}/`);
        assertEquals(s3.status, 503);
        assertStringIncludes(await s3.text(), "to agree");
        assertStringIncludes(
          cluster.node(0).output(),
          `node 127.0.0.1:${ports[3]} was started with another command line`,
        );
      } finally {
        await node.kill();
      }
    });

    await t.step("a node with other root credentials: its token is refused", async () => {
      const node = spawnNode(endpoints, ports[3], {
        env: { FLASHSTOR_ROOT_PASSWORD: "another-secret-42" },
      });
      try {
        await node.waitFor(/waiting for node .*refused this node's token/);
      } finally {
        await node.kill();
      }
    });

    await t.step("a node whose drives belong to another deployment refuses to start", async () => {
      const foreign = newFormat({ setCount: 1, setDriveCount: 2 });
      for (const [i, drive] of ["d1", "d2"].entries()) {
        const root = join(dir, "n4", drive);
        await Deno.remove(root, { recursive: true });
        await Deno.mkdir(join(root, SYSTEM_VOLUME), { recursive: true });
        await Deno.writeFile(
          join(root, SYSTEM_VOLUME, FORMAT_FILE),
          serializeFormat(formatForDrive(foreign, i)),
        );
      }
      const node = spawnNode(endpoints, ports[3]);
      try {
        const [line] = await node.waitFor(/belongs to deployment.*/);
        assertStringIncludes(line, foreign.id);
        assertEquals((await node.exited(30_000)).code, 1);
        assertEquals(node.output().includes("listening on"), false);
      } finally {
        await node.kill();
      }
      // The others go on serving without it.
      assertEquals(await get(1, "one"), "written through node 1");
    });
  } finally {
    await cluster.cleanup();
  }
});

const noOpenssl = await opensslUnavailable();
const tlsName = "cluster over TLS: https endpoints, peers trusted through the shared certificate";
Deno.test({ name: tlsName, ignore: ignoreWithout(tlsName, noOpenssl) }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-tls-cluster-" });
  const certsDir = join(dir, "certs");
  await Deno.mkdir(certsDir);
  const { cert } = await selfSignedCert(
    join(certsDir, "public.crt"),
    join(certsDir, "private.key"),
    "cluster",
  );
  const ports = freePorts(4);
  const drives = ports.map((p, i) => `https://127.0.0.1:${p}${dir}/n${i + 1}/d{1...2}`);
  const nodes: TestServer[] = [];
  try {
    nodes.push(
      ...await Promise.all(ports.map((port) =>
        startServer({
          drives,
          address: `127.0.0.1:${port}`,
          dir,
          args: ["--certs-dir", certsDir],
          scheme: "https",
          startTimeoutMs: 60_000,
        })
      )),
    );
    const client = (node: TestServer) =>
      new S3Client({
        endpoint: node.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
        requestHandler: { httpsAgent: new https.Agent({ ca: cert }) },
      });
    await client(nodes[0]).send(new CreateBucketCommand({ Bucket: "secure" }));
    await client(nodes[0]).send(
      new PutObjectCommand({ Bucket: "secure", Key: "k", Body: "between nodes over TLS" }),
    );
    const got = await client(nodes[2]).send(new GetObjectCommand({ Bucket: "secure", Key: "k" }));
    assertEquals(await got.Body!.transformToString(), "between nodes over TLS");
  } finally {
    await Promise.all(nodes.map((n) => n.kill()));
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("peer trust: the node's certificate and every PEM certificate in certs-dir/CAs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-cas-" });
  try {
    const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nCA${n}\n-----END CERTIFICATE-----\n`;
    assertEquals(await peerTrust(dir, "own"), ["own"]);
    await Deno.mkdir(join(dir, CA_DIR));
    await Deno.writeTextFile(join(dir, CA_DIR, "b.crt"), pem(2));
    await Deno.writeTextFile(join(dir, CA_DIR, "a.pem"), pem(1));
    await Deno.writeTextFile(join(dir, CA_DIR, "README"), "not a certificate");
    assertEquals(await peerTrust(dir, "own"), ["own", pem(1), pem(2)]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
