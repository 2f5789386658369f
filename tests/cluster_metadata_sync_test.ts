/**
 * Metadata sync in one process: two "nodes", each with its own object layer, IAM store and
 * bucket-metadata store over the same drive directories (one deployment), its own internode
 * router and service gate on a real Deno.serve, and its own MetadataSync. A change through one
 * holds on the other when it returns; a node that was away gets it when it is back; a node that
 * stalled reloads before it serves; bad reload requests are refused.
 */
import { loadIsal } from "../ffi/isal.ts";
import { Pools } from "../src/object/pools.ts";
import { loadOrInitFormat } from "../src/storage/format.ts";
import { openLocalDrive } from "../src/storage/local-drive.ts";
import { IamStore } from "../src/iam/store.ts";
import { ConfigBucketMetadataStore } from "../src/bucket/metadata-store.ts";
import type { UserRecord } from "../src/iam/store-records.ts";
import { InternodeAuth } from "../src/cluster/internode-auth.ts";
import { InternodeRouter } from "../src/cluster/internode.ts";
import { PeerCallError, PeerClient } from "../src/cluster/internode-client.ts";
import { MetadataSync } from "../src/cluster/metadata-sync.ts";
import { ServiceGate } from "../src/service-gate.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";

const ROOT = { accessKey: "syncroot", secretKey: "syncroot-secret-1234" };
const KEY = "AKIASYNCTEST0000001";

interface TestNode {
  layer: Pools;
  iam: IamStore;
  buckets: ConfigBucketMetadataStore;
  gate: ServiceGate;
  sync: MetadataSync;
  router: InternodeRouter;
  server: Deno.HttpServer<Deno.NetAddr>;
  node: string;
}

async function openLayer(drives: string[]): Promise<Pools> {
  const handles = await Promise.all(drives.map((path) => openLocalDrive(path)));
  const format = await loadOrInitFormat(handles, { setCount: 1, setDriveCount: drives.length });
  return new Pools(format.sets, { parity: 2, deploymentId: format.deploymentId });
}

function serve(gate: ServiceGate, port = 0): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    (request) => gate.fetch(request),
  );
}

function user(status: "Active" | "Inactive"): UserRecord {
  const created = new Date().toISOString();
  return {
    name: "alice",
    path: "/",
    id: "AIDASYNCTESTALICE",
    created,
    inline: {},
    attached: [],
    keys: [{ id: KEY, secret: "alice-secret", status, created }],
  };
}

/** A stand-in for the S3 app: answers whether the request's access key is accepted now. */
function keyApp(iam: IamStore) {
  return {
    fetch: (request: Request) => {
      const key = new URL(request.url).searchParams.get("key") ?? "";
      return Promise.resolve(new Response(null, { status: iam.credentialsFor(key) ? 200 : 403 }));
    },
  };
}

async function withNodes(fn: (a: TestNode, b: TestNode, drives: string[]) => Promise<void>) {
  loadIsal();
  const dir = await Deno.makeTempDir({ prefix: "flashstor-sync-" });
  const drives = [1, 2, 3, 4].map((i) => `${dir}/d${i}`);
  const gates = [new ServiceGate([]), new ServiceGate([])];
  const servers = gates.map((gate) => serve(gate));
  const names = servers.map((s) => `127.0.0.1:${s.addr.port}`);
  const nodes: TestNode[] = [];
  try {
    for (const [i, gate] of gates.entries()) {
      const auth = new InternodeAuth(ROOT, names[i]);
      const router = new InternodeRouter(auth);
      const peer = names[1 - i];
      const sync = new MetadataSync(router, [new PeerClient(`http://${peer}`, peer, auth)], gate, {
        ackTimeoutMs: 1_000,
        pingIntervalMs: 300,
        stallMs: 1_000,
      });
      gate.serveInternode(router);
      const layer = await openLayer(drives);
      const iam = await IamStore.load(layer, ROOT);
      const buckets = new ConfigBucketMetadataStore(layer);
      nodes.push({ layer, iam, buckets, gate, sync, router, server: servers[i], node: names[i] });
    }
    for (const node of nodes) {
      node.sync.attach({ iam: node.iam, buckets: node.buckets });
      node.gate.open(keyApp(node.iam));
    }
    await fn(nodes[0], nodes[1], drives);
  } finally {
    for (const node of nodes) {
      node.sync.close();
      await node.layer.close();
    }
    const running = new Set([...servers, ...nodes.map((node) => node.server)]);
    await Promise.all([...running].map((server) => server.shutdown()));
    await Deno.remove(dir, { recursive: true });
  }
}

async function keyStatus(node: TestNode): Promise<number> {
  const response = await fetch(`http://${node.node}/probe?key=${KEY}`);
  await response.body?.cancel();
  return response.status;
}

async function eventually(what: string, check: () => Promise<boolean> | boolean) {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("metadata sync: changes hold on the peer when they return, missed ones are caught up", async (t) => {
  await withNodes(async (a, b, drives) => {
    await t.step("an IAM change through one node holds on the other when it returns", async () => {
      await a.iam.change("user", "alice", () => user("Active"));
      assertEquals(await keyStatus(b), 200);
      const epoch = b.iam.epoch;
      await a.iam.change("user", "alice", () => user("Inactive"));
      assert(b.iam.epoch > epoch, "the peer bumped its epoch");
      assertEquals(await keyStatus(b), 403);
      await b.iam.change("user", "alice", () => null);
      assertEquals(a.iam.user("alice"), undefined);
    });

    await t.step("a bucket-metadata change drops the peer's cached copy", async () => {
      await a.layer.makeBucket("synced");
      assertEquals(await b.buckets.get("synced"), {});
      const policy = '{"Version":"2012-10-17","Statement":[]}';
      await a.buckets.update("synced", (current) => ({ ...current, policy }));
      assertEquals(b.buckets.cached("synced"), undefined);
      assertEquals((await b.buckets.get("synced")).policy, policy);
      await b.buckets.remove("synced");
      assertEquals(await a.buckets.get("synced"), {});
    });

    await t.step("a peer away during a change gets it once it answers again", async () => {
      await a.iam.change("user", "alice", () => user("Active"));
      assertEquals(await keyStatus(b), 200);
      const port = b.server.addr.port;
      await b.server.shutdown();
      // Returns although B cannot acknowledge: B is retried in the background.
      await a.iam.change("user", "alice", () => user("Inactive"));
      assertEquals(b.iam.credentialsFor(KEY) !== undefined, true, "B did not hear of it yet");
      b.server = serve(b.gate, port);
      await eventually("B reloads the key", () => b.iam.credentialsFor(KEY) === undefined);
    });

    await t.step("a node that stalled reloads before it serves", async () => {
      assertEquals(await keyStatus(a), 403, "A caught up with B's return");
      // A third store over the same drives changes the key without telling anyone: a change
      // whose announcement this node missed.
      const layer = await openLayer(drives);
      try {
        const silent = await IamStore.load(layer, ROOT);
        await silent.change("user", "alice", () => user("Active"));
      } finally {
        await layer.close();
      }
      assertEquals(await keyStatus(a), 403, "A still holds its copy");
      const until = performance.now() + 1_500;
      while (performance.now() < until) {
        // A blocked event loop, as a SIGSTOPped process sees it after SIGCONT.
      }
      assertEquals(await keyStatus(a), 200);
    });

    await t.step("reload requests naming nothing valid are refused", async () => {
      const client = new PeerClient(`http://${b.node}`, b.node, new InternodeAuth(ROOT, a.node));
      for (
        const query of [
          { what: "iam", kind: "__proto__", name: "alice" },
          { what: "iam", kind: "user", name: "../../format" },
          { what: "bucket", bucket: "../x" },
          { what: "everything" },
        ]
      ) {
        const err = await assertRejects(() =>
          client.call("peer", "reload", { method: "POST", query })
        );
        assert(err instanceof PeerCallError && err.status === 400, `${JSON.stringify(query)}`);
      }
      const err = await assertRejects(() => client.call("peer", "nosuch", { method: "POST" }));
      assert(err instanceof PeerCallError && err.status === 404);
      const forged = new PeerClient(
        `http://${b.node}`,
        b.node,
        new InternodeAuth({ ...ROOT, secretKey: "other-secret-1234" }, a.node),
      );
      const denied = await assertRejects(() =>
        forged.call("peer", "reload", { method: "POST", query: { what: "all" } })
      );
      assert(denied instanceof PeerCallError && denied.status === 403);
    });
  });
});
