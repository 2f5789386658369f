/**
 * Distributed locks across real processes: a 4-node × 2-drive cluster with a 3 s lock expiry
 * and a 1 s scanner interval, one cluster for all steps.
 * - Of the four nodes' scanners only the holder of the leader lock runs cycles.
 * - Two writers on two nodes overwrite one key, round after round both at once, while two other
 *   nodes read it: every GET is one complete body of one writer, never a mix, and after each
 *   round the key is one version whose xl.meta agrees on every drive.
 * - A node holding an object's read lock (a GET stream its client paused) is SIGSTOPped: a PUT
 *   of that key through another node waits while the lock is held, then goes through once the
 *   hung node's grants expire; after SIGCONT the hung node reports its lock lost.
 * - The same with the holder SIGKILLed.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startCluster, type TestCluster } from "./helpers/cluster.ts";
import type { TestServer } from "./helpers/server.ts";
import {
  client,
  md5,
  metaPath,
  MiB,
  parseMeta,
  pattern,
  unquote,
  waitUntil,
} from "./fault_util.ts";
import { signedFetch } from "./s3_raw.ts";

const BUCKET = "locks";
const LOCK_EXPIRY_S = 3;
/** Not inline (a data dir per version), a few stripes. */
const BODY_SIZE = 2 * MiB + 3;
const ROUNDS = 20;
/** Large enough that a paused GET stream cannot be buffered whole between server and client. */
const HELD_SIZE = 48 * MiB;
const CLIENT_TIMEOUT_MS = 30_000;

async function getBytes(s3: S3Client, key: string): Promise<Uint8Array> {
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }), {
    abortSignal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  });
  return await got.Body!.transformToByteArray();
}

function putBytes(s3: S3Client, key: string, body: Uint8Array): Promise<unknown> {
  return s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }), {
    abortSignal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  });
}

/** The header of `key`'s xl.meta on every drive of the cluster (undefined where absent). */
async function metaHeaders(cluster: TestCluster, key: string) {
  const drives = cluster.ports.flatMap((_, n) =>
    [1, 2].map((d) => `${cluster.dir}/n${n + 1}/d${d}`)
  );
  return await Promise.all(drives.map(async (drive) => {
    const bytes = await Deno.readFile(metaPath(drive, BUCKET, key)).catch(() => undefined);
    if (!bytes) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const header = new TextDecoder().decode(bytes.subarray(12, 12 + view.getUint32(8, true)));
    const versions = (JSON.parse(header) as { versions: unknown[] }).versions.length;
    return { versions, ...parseMeta(bytes).version };
  }));
}

/**
 * Node `holder` starts streaming `key` (holding its read lock) and the client stops reading;
 * returns the paused response's reader.
 */
async function pausedGet(cluster: TestCluster, holder: number, key: string) {
  const response = await signedFetch(cluster.node(holder), {
    method: "GET",
    path: `/${BUCKET}/${key}`,
  });
  assertEquals(response.status, 200);
  const reader = response.body!.getReader();
  assert(!(await reader.read()).done, "the GET stream started");
  return reader;
}

/** What a node logs after each scanner cycle (scanner.ts). */
const CYCLE_DONE = /scanner: cycle \d+ done/g;

/** How the SIGSTOPped holder logs the loss of its read lock (dsync.ts). */
const LOST = /read lock on locks\/held\/stopped\.bin lost/;

/**
 * Node `holder` holds `key`'s read lock (a paused GET stream) and a PUT of the key through node
 * `writer` waits for it: the stream and the pending PUT.
 */
async function heldKey(
  cluster: TestCluster,
  s3: S3Client[],
  holder: number,
  writer: number,
  key: string,
) {
  await putBytes(s3[writer], key, pattern(HELD_SIZE, 7));
  const stream = await pausedGet(cluster, holder, key);
  const small = pattern(1_000, 8);
  const put = putBytes(s3[writer], key, small);
  assert(await pendingAfter(put, 1_500), "the PUT waits while the read lock is held");
  return { stream, put, small };
}

/** The states of every drive of the deployment as `via` sees them (admin info). */
async function driveStates(via: TestServer): Promise<string[]> {
  const response = await signedFetch(via, { method: "GET", path: "/flashstor/admin/v1/info" });
  assertEquals(response.status, 200);
  const info: { drives: { state: string }[] } = await response.json();
  return info.drives.map((d) => d.state);
}

/** Whether `promise` is still pending after `ms`. */
async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void promise.then(() => settled = true, () => settled = true);
  await new Promise((resolve) => setTimeout(resolve, ms));
  return !settled;
}

Deno.test({
  name: "cluster locks: concurrent writers on two nodes, a hung and a killed lock holder",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster = await startCluster({
      args: [
        "--lock-expiry",
        String(LOCK_EXPIRY_S),
        "--drive-probe-interval",
        "1",
        "--scanner-interval",
        "1s",
      ],
    });
    const s3 = [0, 1, 2, 3].map((i) => client(cluster.node(i)));
    try {
      await s3[0].send(new CreateBucketCommand({ Bucket: BUCKET }));

      await t.step("one node runs the scanner's cycles (its leader lock)", async () => {
        const cycles = () => cluster.nodes.map((n) => n!.output().match(CYCLE_DONE)?.length ?? 0);
        await waitUntil("3 scanner cycles", () => Promise.resolve(Math.max(...cycles()) >= 3));
        assertEquals(cycles().filter((n) => n > 0).length, 1, `cycles per node: ${cycles()}`);
      });

      await t.step("two writers on nodes 1 and 2 overwrite one key: never a mix", async () => {
        const key = "contended/object.bin";
        const bodies = new Map<string, string>();
        const bodyOf = (writer: number, round: number) => {
          const body = pattern(BODY_SIZE, writer * 1_000 + round);
          bodies.set(md5(body), `writer ${writer + 1} round ${round}`);
          return body;
        };
        await putBytes(s3[0], key, bodyOf(0, 0));
        let writing = true;
        let reads = 0;
        const reader = async (node: number) => {
          for (; writing && reads < 1_000; reads++) {
            const hash = md5(await getBytes(s3[node], key));
            assert(bodies.has(hash), `GET through node ${node + 1} returned a body no writer sent`);
          }
        };
        const readers = [reader(2), reader(3)];
        try {
          // Each round both writers start together, so their commits meet; after it, every
          // drive holds the same one version (without the lock, drives end split between them).
          for (let round = 1; round <= ROUNDS; round++) {
            const sent = [0, 1].map((w) => bodyOf(w, round));
            await Promise.all(sent.map((body, w) => putBytes(s3[w], key, body)));
            const metas = await metaHeaders(cluster, key);
            const states = new Set(metas.map((m) => m && `${m.versions} ${m.dataDir} ${m.etag}`));
            assertEquals(states.size, 1, `round ${round}: drives disagree: ${[...states]}`);
            assertEquals(metas[0]?.versions, 1);
            assert(sent.some((body) => md5(body) === metas[0]?.etag), `round ${round}`);
          }
        } finally {
          writing = false;
          await Promise.all(readers);
        }
        assert(reads > 0, "the readers read");
        const final = md5(await getBytes(s3[3], key));
        const head = await s3[2].send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
        assertEquals(unquote(head.ETag), final);
        assertEquals((await metaHeaders(cluster, key))[0]?.etag, final);
      });

      await t.step("a SIGSTOPped read-lock holder blocks a PUT only until expiry", async () => {
        const { stream, put, small } = await heldKey(cluster, s3, 2, 0, "held/stopped.bin");
        const process = cluster.node(2).process;
        process.kill("SIGSTOP");
        try {
          await put; // the lock servers drop the silent holder's grants after the expiry
        } finally {
          process.kill("SIGCONT");
        }
        assertEquals(md5(await getBytes(s3[3], "held/stopped.bin")), md5(small));
        await waitUntil(
          "the resumed holder finds its lock lost",
          () => Promise.resolve(LOST.test(cluster.node(2).output())),
          20_000,
        );
        await stream.cancel().catch(() => {});
        // The next step takes another node away: the resumed node's drives must be back.
        await waitUntil("node 3's drives back online", async () => {
          const states = await Promise.all(cluster.nodes.map((n) => n && driveStates(n)));
          return states.every((s) => s?.every((state) => state === "online"));
        }, 30_000);
      });

      await t.step("a SIGKILLed read-lock holder blocks a PUT only until expiry", async () => {
        const { stream, put, small } = await heldKey(cluster, s3, 1, 3, "held/killed.bin");
        await cluster.kill(1);
        await stream.cancel().catch(() => {});
        await put;
        assertEquals(md5(await getBytes(s3[0], "held/killed.bin")), md5(small));
      });
    } finally {
      for (const c of s3) c.destroy();
      await cluster.cleanup();
    }
  },
});
