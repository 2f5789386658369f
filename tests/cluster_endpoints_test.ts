import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { freePorts } from "./helpers/cluster.ts";
import { spawnNode } from "./helpers/cluster-node.ts";
import {
  EndpointError,
  type ListenAddress,
  resolveDrives,
  resolveTopology,
  setLayout,
} from "../src/cluster/endpoints.ts";

const listen = (port: number, hostname = "127.0.0.1", tls = false): ListenAddress => ({
  hostname,
  port,
  tls,
});

async function topologyOf(args: string[], at: ListenAddress) {
  const drives = resolveDrives(args);
  return await resolveTopology(drives, at, setLayout(drives.length, undefined, 4));
}

const FOUR_BY_TWO = [9001, 9002, 9003, 9004].map((p, i) =>
  `http://127.0.0.1:${p}/srv/n${i + 1}/d{1...2}`
);

Deno.test("topology: a node finds its drives by its listen address; format order interleaves nodes", async () => {
  const t = await topologyOf(FOUR_BY_TWO, listen(9003));
  assert(t.distributed);
  assertEquals(t.self, { node: "127.0.0.1:9003", url: "http://127.0.0.1:9003", local: true });
  assertEquals(t.nodes.map((n) => n.node), [
    "127.0.0.1:9001",
    "127.0.0.1:9002",
    "127.0.0.1:9003",
    "127.0.0.1:9004",
  ]);
  assertEquals(t.drives.map((d) => d.endpoint), [
    "http://127.0.0.1:9001/srv/n1/d1",
    "http://127.0.0.1:9002/srv/n2/d1",
    "http://127.0.0.1:9003/srv/n3/d1",
    "http://127.0.0.1:9004/srv/n4/d1",
    "http://127.0.0.1:9001/srv/n1/d2",
    "http://127.0.0.1:9002/srv/n2/d2",
    "http://127.0.0.1:9003/srv/n3/d2",
    "http://127.0.0.1:9004/srv/n4/d2",
  ]);
  assertEquals(t.drives.filter((d) => d.local).map((d) => d.path), ["/srv/n3/d1", "/srv/n3/d2"]);
  assertEquals(t.drives[1], {
    endpoint: "http://127.0.0.1:9002/srv/n2/d1",
    path: "/srv/n2/d1",
    node: "127.0.0.1:9002",
    local: false,
  });
});

Deno.test("topology: every set spreads evenly across the nodes", async () => {
  // 4 nodes × 8 drives: two sets of 16, each with 4 drives of every node.
  const args = [1, 2, 3, 4].map((n) => `http://127.0.0.1:900${n}/m/d{1...8}`);
  const t = await topologyOf(args, listen(9001));
  assertEquals(t.layout, { setCount: 2, setDriveCount: 16, parity: 4 });
  for (let set = 0; set < 2; set++) {
    const counts = new Map<string, number>();
    for (const d of t.drives.slice(set * 16, set * 16 + 16)) {
      counts.set(d.node, (counts.get(d.node) ?? 0) + 1);
    }
    assertEquals([...counts.values()], [4, 4, 4, 4]);
  }
});

Deno.test("topology: local paths are a single node, as before", async () => {
  const t = await resolveTopology(["/a", "/b"], listen(9000), setLayout(2));
  assert(!t.distributed);
  assertEquals(t.drives.map((d) => [d.path, d.local]), [["/a", true], ["/b", true]]);
});

Deno.test("topology: listening on every address, a local host name or address matches", async () => {
  const args = ["http://localhost:9001/a{1...2}", "http://203.0.113.9:9001/b{1...2}"];
  const t = await topologyOf(args, listen(9001, "0.0.0.0"));
  assertEquals(t.self.node, "localhost:9001");
  assertEquals(t.drives.filter((d) => d.local).length, 2);
});

Deno.test("topology: listening on one address, a host name resolving to it matches", async () => {
  const args = ["http://localhost:9001/a{1...2}", "http://203.0.113.9:9001/b{1...2}"];
  const t = await topologyOf(args, listen(9001, "127.0.0.1"));
  assertEquals(t.self.node, "localhost:9001");
  // Same port, but another local address than the one listened on: not this node.
  await assertRejects(
    () => topologyOf(["http://127.0.0.2:9001/a", "http://127.0.0.3:9001/a"], listen(9001)),
    EndpointError,
    "none of the drives is on this node",
  );
});

Deno.test("topology: clear refusals", async () => {
  const refuses = (args: string[], at: ListenAddress, text: string) =>
    assertRejects(() => topologyOf(args, at), EndpointError, text);
  await refuses(FOUR_BY_TWO, listen(9999), "none of the drives is on this node");
  await refuses(FOUR_BY_TWO, listen(9001, "127.0.0.1", true), "must be https://");
  await refuses(
    ["https://127.0.0.1:9001/a{1...2}", "https://127.0.0.1:9002/a{1...2}"],
    listen(9001),
    "must be http://",
  );
  await refuses(
    ["http://127.0.0.1:9001/a{1...2}", "http://127.0.0.1:9002/a{1...4}"],
    listen(9001),
    "same number of drives",
  );
  await refuses(
    ["http://127.0.0.1:9001/a{1...2}", "http://localhost:9001/b{1...2}"],
    listen(9001, "0.0.0.0"),
    "named twice",
  );
  await refuses(["http://127.0.0.1:9001/", "http://127.0.0.1:9002/"], listen(9001), "no path");
  await refuses(["http://u:p@127.0.0.1:9001/a", "http://b:9002/a"], listen(9001), "only scheme");
});

Deno.test("server: a command line naming no drive of this node, or mixing paths and URLs, stops with a clear message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-endpoints-" });
  const [port, other] = freePorts(2);
  try {
    for (
      const [drives, message] of [
        [[`http://127.0.0.1:${other}${dir}/d{1...4}`], "none of the drives is on this node"],
        [[`${dir}/a`, `http://127.0.0.1:${port}${dir}/b`], "not a mix"],
      ] as const
    ) {
      const node = spawnNode([...drives], port);
      try {
        const status = await node.exited(30_000);
        assertEquals(status.code, 2, node.output());
        assertStringIncludes(node.output(), message);
        assertEquals(node.output().includes("    at "), false, "no stack trace");
      } finally {
        await node.kill();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
