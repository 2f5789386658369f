/**
 * Node faults in a 4-node × 2-drive cluster (real processes on loopback), one cluster for all
 * steps:
 * - kill -9 one node under concurrent PUT/GET load, with a ledger of acknowledged writes: the
 *   requests through the other nodes all succeed (only those sent to the dead node may fail),
 *   every acknowledged object reads back exact; restarted, the node gets the objects written
 *   while it was away healed onto its drives in the background (xl.meta and part files there);
 * - SIGSTOP one node (hung, not dead): PUTs and GETs through the others succeed within ordinary
 *   client timeouts, its drives are reported offline by the others; SIGCONT brings them back.
 */

import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startCluster, type TestCluster } from "./helpers/cluster.ts";
import type { TestServer } from "./helpers/server.ts";
import { client, md5, metaPath, parseMeta, partPath, pattern, waitUntil } from "./fault_util.ts";
import { signedFetch } from "./s3_raw.ts";

const BUCKET = "faults";
/** An inline object (in xl.meta) and one with part files. */
const SIZES = [3000, 300_000];
const WORKERS = 8;
/** Load before and after the kill; the op count bounds it too. */
const BEFORE_KILL_MS = 2_000;
const AFTER_KILL_MS = 6_000;
const MAX_OPS = 4_000;
/** What a client would wait for one request (the AWS CLI reads for 60 s). */
const CLIENT_TIMEOUT_MS = 20_000;

interface Written {
  md5: string;
  size: number;
  /** ms since the epoch the PUT was sent. */
  sent: number;
}

interface Failure {
  node: number;
  op: string;
  /** ms since the epoch the request ended. */
  ended: number;
  error: string;
}

async function getBytes(s3: S3Client, key: string): Promise<Uint8Array> {
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }), {
    abortSignal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  });
  return await got.Body!.transformToByteArray();
}

async function putBytes(s3: S3Client, key: string, body: Uint8Array): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }), {
    abortSignal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  });
}

/** The drives of node `i` (1-based directory names, as the harness lays them out). */
function nodeDrives(cluster: TestCluster, i: number, perNode = 2): string[] {
  return Array.from({ length: perNode }, (_, d) => `${cluster.dir}/n${i + 1}/d${d + 1}`);
}

async function metaCount(drives: string[], key: string): Promise<number> {
  const found = await Promise.all(
    drives.map((d) => Deno.stat(metaPath(d, BUCKET, key)).then(() => 1, () => 0)),
  );
  return found.reduce((a: number, b) => a + b, 0);
}

/** Every xl.meta of `key` on `drives` has its part file beside it, unless it holds the data. */
async function partsPresent(drives: string[], key: string): Promise<boolean> {
  for (const drive of drives) {
    const meta = await Deno.readFile(metaPath(drive, BUCKET, key)).catch(() => undefined);
    if (meta === undefined) continue;
    // A heal may be replacing it as we read: not there yet.
    const inline = (() => {
      try {
        return parseMeta(meta).version.inlineLength > 0;
      } catch {
        return undefined;
      }
    })();
    if (inline === undefined) return false;
    if (inline) continue;
    const part = await partPath(drive, BUCKET, key).catch(() => undefined);
    if (!part || !(await Deno.stat(part).then(() => true, () => false))) return false;
  }
  return true;
}

/** The drive states node `via` reports for the drives under `dirPart` (admin info). */
async function driveStates(via: TestServer, dirPart: string): Promise<string[]> {
  const response = await signedFetch(via, { method: "GET", path: "/flashstor/admin/v1/info" });
  assertEquals(response.status, 200);
  const info: { drives: { endpoint: string; state: string }[] } = await response.json();
  return info.drives.filter((d) => d.endpoint.includes(dirPart)).map((d) => d.state);
}

Deno.test({
  name: "cluster 4×2 faults: kill -9 under load (ledger, heal on return), SIGSTOP a node",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster = await startCluster({ args: ["--drive-probe-interval", "1"] });
    const s3 = [0, 1, 2, 3].map((i) => client(cluster.node(i)));
    try {
      await s3[0].send(new CreateBucketCommand({ Bucket: BUCKET }));
      const ledger = new Map<string, Written>();
      const missed: string[] = [];
      const victim = 1;

      await t.step(
        "kill -9 node 2 under load: others keep serving, nothing acknowledged lost",
        async () => {
          const failures: Failure[] = [];
          let killedAt = Infinity;
          let ops = 0;
          const stopAt = () => killedAt + AFTER_KILL_MS;
          const worker = async (w: number) => {
            for (let n = 0; ops < MAX_OPS && Date.now() < stopAt(); n++) {
              ops++;
              // After the kill a worker spreads over the live nodes; before it over all four.
              const live = [0, 1, 2, 3].filter((i) => i !== victim || Date.now() < killedAt);
              const node = live[(w + n) % live.length];
              const key = `load/${w}/${n}`;
              const size = SIZES[n % SIZES.length];
              const body = pattern(size, w * 100_000 + n);
              const sent = Date.now();
              try {
                await putBytes(s3[node], key, body);
                ledger.set(key, { md5: md5(body), size, sent });
              } catch (err) {
                failures.push({ node, op: `PUT ${key}`, ended: Date.now(), error: String(err) });
              }
              const keys = [...ledger.keys()];
              const read = keys[(n * 7919 + w) % keys.length];
              if (read === undefined) continue;
              try {
                const bytes = await getBytes(s3[node], read);
                assertEquals(
                  md5(bytes),
                  ledger.get(read)!.md5,
                  `GET ${read} through node ${node + 1}`,
                );
              } catch (err) {
                failures.push({ node, op: `GET ${read}`, ended: Date.now(), error: String(err) });
              }
            }
          };
          const killer = (async () => {
            await new Promise((r) => setTimeout(r, BEFORE_KILL_MS));
            killedAt = Date.now();
            await cluster.kill(victim);
          })();
          await Promise.all([killer, ...Array.from({ length: WORKERS }, (_, w) => worker(w))]);

          // Only requests sent to the dead node, ending after the kill, may have failed.
          const unexpected = failures.filter((f) => f.node !== victim || f.ended < killedAt);
          assertEquals(unexpected, [], "requests through the live nodes failed");
          const during = [...ledger.entries()].filter(([, w]) => w.sent > killedAt);
          assert(
            during.length >= 20,
            `only ${during.length} writes acknowledged during the outage`,
          );
          missed.push(...during.map(([key]) => key));

          // Every acknowledged object reads back exact through the survivors.
          const keys = [...ledger.keys()];
          for (const [i, key] of keys.entries()) {
            const bytes = await getBytes(s3[[0, 2, 3][i % 3]], key);
            assertEquals([bytes.length, md5(bytes)], [ledger.get(key)!.size, ledger.get(key)!.md5]);
          }
        },
      );

      await t.step(
        "node 2 returns: what it missed is healed onto its drives in the background",
        async () => {
          assert(missed.length > 0, "the previous step recorded the outage's writes");
          for (const key of missed) {
            assertEquals(await metaCount(nodeDrives(cluster, victim), key), 0, `${key} on node 2`);
          }
          const returned = await cluster.startNode(victim);
          s3[victim].destroy();
          s3[victim] = client(returned);
          // Node 3 was up throughout: node 2 ends up holding as many shards of each as it does.
          let unhealed = missed;
          await waitUntil("the writes of the outage healed onto node 2's drives", async () => {
            const left = [];
            for (const key of unhealed) {
              const want = await metaCount(nodeDrives(cluster, 2), key);
              const healed = await metaCount(nodeDrives(cluster, victim), key) === want &&
                await partsPresent(nodeDrives(cluster, victim), key);
              if (!healed) left.push(key);
            }
            unhealed = left;
            return unhealed.length === 0;
          }, 90_000).catch((err) => {
            throw new Error(
              `${err.message}: ${unhealed.length} of ${missed.length} left, e.g. ${
                unhealed.slice(0, 5)
              }`,
            );
          });
          for (const key of missed.slice(0, 50)) {
            const bytes = await getBytes(s3[victim], key);
            assertEquals(md5(bytes), ledger.get(key)!.md5, `${key} through the returned node`);
          }
        },
      );

      await t.step(
        "SIGSTOP node 3: the others serve within client timeouts; its drives go offline",
        async () => {
          const hung = 2;
          const dirPart = `${cluster.dir}/n${hung + 1}/`;
          assertEquals(await driveStates(cluster.node(0), dirPart), ["online", "online"]);
          const keys = [...ledger.keys()].slice(0, 30);
          Deno.kill(cluster.node(hung).process.pid, "SIGSTOP");
          try {
            const through = [0, 1, 3];
            await Promise.all(through.map(async (node, w) => {
              for (let n = 0; n < 10; n++) {
                const body = pattern(SIZES[n % 2], 900_000 + w * 100 + n);
                await putBytes(s3[node], `hung/${w}/${n}`, body);
                assertEquals(md5(await getBytes(s3[node], `hung/${w}/${n}`)), md5(body));
                const key = keys[(w * 10 + n) % keys.length];
                assertEquals(md5(await getBytes(s3[node], key)), ledger.get(key)!.md5);
              }
            }));
            await waitUntil("node 3's drives reported offline by node 1", async () => {
              const states = await driveStates(cluster.node(0), dirPart);
              return states.length === 2 && states.every((s) => s === "offline");
            }, 30_000);
          } finally {
            Deno.kill(cluster.node(hung).process.pid, "SIGCONT");
          }
          await waitUntil("node 3's drives back online on node 1", async () => {
            const states = await driveStates(cluster.node(0), dirPart);
            return states.length === 2 && states.every((s) => s === "online");
          }, 30_000);
          assertEquals(md5(await getBytes(s3[hung], "hung/0/1")), md5(pattern(SIZES[1], 900_001)));
        },
      );
    } finally {
      for (const c of s3) c.destroy();
      await cluster.cleanup();
    }
  },
});
