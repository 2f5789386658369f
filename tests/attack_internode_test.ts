/**
 * Attack on the internode API of a real two-node cluster, with a valid internode token (what a
 * compromised or buggy peer could send): every service and method, unknown ones, garbage and
 * hostile arguments (escaping paths, NUL, 5000-char names, huge numbers), malformed and
 * oversized bodies, wrong HTTP methods. A peer is trusted with the drives, so this is about
 * robustness: every answer is a JSON error or a success, a 5xx only for a drive condition the
 * storage layer names (never a TypeError or a stack trace), the nodes stay up, and the object
 * stored before reads back exact through both nodes.
 *
 * A seeded sample runs by default (FLASHSTOR_ATTACK_SEED replays one); FLASHSTOR_TEST_FULL=1
 * runs ten times as many cases.
 */
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { nodeClient, startCluster } from "./helpers/cluster.ts";
import { ACCESS_KEY, SECRET_KEY } from "./helpers/server.ts";
import { InternodeAuth } from "../src/cluster/internode-auth.ts";
import { INTERNODE_PREFIX } from "../src/cluster/internode.ts";
import * as storageErrors from "../src/storage/errors.ts";
import { prng } from "./erasure_util.ts";

const FULL = Deno.env.get("FLASHSTOR_TEST_FULL") === "1";
const SEED = Number(Deno.env.get("FLASHSTOR_ATTACK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const CASES = FULL ? 3000 : 300;
const BUCKET = "kept";
const KEY = "precious.bin";

const SERVICES = ["storage", "lock", "peer", "bootstrap", "nope", "", "storage/../lock"];
const METHODS: Record<string, string[]> = {
  storage: [
    "diskInfo",
    "makeVolume",
    "listVolumes",
    "statVolume",
    "deleteVolume",
    "listDir",
    "walkDir",
    "readAll",
    "writeAll",
    "createFile",
    "readFileStream",
    "statFile",
    "renameData",
    "deleteObject",
    "deleteVersion",
    "delete",
    "constructor",
    "__proto__",
    "toString",
  ],
  lock: ["apply", "lock", ""],
  peer: ["reload", "ping", "hasOwnProperty"],
  bootstrap: ["verify", "x"],
};
/** Volumes the attack may name: never the bucket it checks afterwards, nor the system one. */
const VOLUMES = ["junk", "", ".", "..", "../kept", "a/b", "\u0000", "x".repeat(5000), "%2e%2e"];
const PATHS = [
  "a",
  "",
  "../../../../etc/passwd",
  "a/../../b",
  "/abs",
  "a//b",
  "\u0000",
  "é/ü",
  "x".repeat(5000),
  "tmp/x",
  "a/xl.meta",
];
const NUMBERS = ["0", "-1", "1e309", "NaN", "9007199254740993", "abc", "", "1.5", "0x10"];
const NAMES = [
  "drive",
  "volume",
  "path",
  "offset",
  "length",
  "force",
  "recursive",
  "srcVolume",
  "srcPath",
  "dstVolume",
  "object",
  "dataDir",
  "versionId",
  "what",
  "bucket",
  "kind",
  "name",
  "digest",
  "prefix",
  "startAfter",
];
/** The error codes a drive condition may answer with a 5xx (not the untyped base class). */
const STORAGE_CODES = new Set(Object.keys(storageErrors).filter((c) => c !== "StorageError"));

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)];
}

interface Case {
  method: string;
  target: string;
  body?: Uint8Array<ArrayBuffer>;
}

function makeCase(random: () => number, drives: string[]): Case {
  const service = pick(random, SERVICES);
  const method = pick(random, METHODS[service] ?? ["x"]);
  const query = new URLSearchParams();
  query.set("drive", random() < 0.8 ? pick(random, drives) : pick(random, PATHS));
  const count = Math.floor(random() * 6);
  for (let i = 0; i < count; i++) {
    const name = pick(random, NAMES);
    const value = random() < 0.3
      ? pick(random, NUMBERS)
      : random() < 0.5
      ? pick(random, VOLUMES)
      : pick(random, PATHS);
    query.set(name, value);
  }
  let body: Uint8Array<ArrayBuffer> | undefined;
  const shape = random();
  if (shape < 0.3) body = new Uint8Array(Math.floor(random() * 4096)).map(() => random() * 256);
  else if (shape < 0.45) {
    body = new TextEncoder().encode(
      pick(random, [
        "[]",
        "{}",
        '[["lock","r","u"]]',
        JSON.stringify(Array.from({ length: 300 }, () => ["lock", "x", "y"])),
        '[["bogus",1,null]]',
        "[".repeat(10000),
        '{"__proto__":{"x":1}}',
      ]),
    );
  } else if (shape < 0.5) body = new Uint8Array(2 * 1024 * 1024);
  const httpMethod = body ? pick(random, ["POST", "PUT"]) : pick(random, ["GET", "POST", "DELETE"]);
  return { method: httpMethod, target: `${INTERNODE_PREFIX}${service}/${method}?${query}`, body };
}

Deno.test({
  name:
    "attack: the internode API with a valid token answers garbage with clear errors and keeps the data",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cluster = await startCluster({ nodes: 2, drivesPerNode: 2 });
    const client = nodeClient(cluster.node(0));
    try {
      const data = new Uint8Array(300_000).map((_, i) => (i * 131 + (i >> 9)) & 0xff);
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: data }));

      console.log(`attack seed ${SEED}: replay with FLASHSTOR_ATTACK_SEED=${SEED}`);
      const random = prng(SEED);
      const auth = new InternodeAuth(
        { accessKey: ACCESS_KEY, secretKey: SECRET_KEY },
        "attacker:1",
      );
      const drives = [1, 2].map((d) => `${cluster.dir}/n1/d${d}`);
      const target = cluster.node(0).endpoint;
      const statuses = new Map<number, number>();
      for (let i = 0; i < CASES; i++) {
        const c = makeCase(random, drives);
        const response = await fetch(`${target}${c.target}`, {
          method: c.method,
          headers: { authorization: await auth.authorization() },
          body: c.body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        const what = `case ${i} ${c.method} ${c.target.slice(0, 200)} → ${response.status}`;
        assert(!/\n\s+at /.test(text), `${what}: a stack trace: ${text.slice(0, 300)}`);
        if (response.status >= 400) {
          const wire = JSON.parse(text) as { code: string; message: string };
          assert(typeof wire.code === "string" && typeof wire.message === "string", what);
          if (response.status >= 500) {
            assert(STORAGE_CODES.has(wire.code), `${what}: ${wire.code} ${wire.message}`);
            console.log(`${what}: ${wire.code} ${wire.message.slice(0, 200)}`);
          }
        }
      }
      console.log(`${CASES} cases: ${JSON.stringify(Object.fromEntries(statuses))}`);

      for (const i of [0, 1]) {
        const live = await fetch(`${cluster.node(i).endpoint}/flashstor/health/live`);
        await live.body?.cancel();
        assertEquals(live.status, 200, `node ${i + 1} alive`);
        const reader = nodeClient(cluster.node(i));
        const got = await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY }));
        assertEquals(await got.Body!.transformToByteArray(), data, `read through node ${i + 1}`);
        reader.destroy();
      }
    } finally {
      client.destroy();
      await cluster.cleanup();
    }
  },
});
