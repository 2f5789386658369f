/**
 * The background scanner on the real server (short test settings): rot in both parity shards
 * of an object, which reads never see, is found by a deep scan and rewritten (issue 11
 * defect 3); planted garbage (unreferenced data dirs, stale temp entries, an aged multipart
 * upload) is collected while writers keep putting, overwriting, deleting and completing
 * multipart uploads, and every acknowledged object reads back exact (defect 5); fresh uploads survive; usage and counts reach metrics.
 */
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { type ServerOptions, serving, startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  equalBytes,
  exists,
  type Expected,
  expectExact,
  failure,
  get,
  loseBucket,
  md5,
  metaPath,
  MiB,
  parseMeta,
  partPath,
  pattern,
  put,
  putMultipart,
  resealMeta,
  waitUntil,
} from "./fault_util.ts";

/** A cycle 0.2 s after the last, every object deep; metrics without a token. */
const FAST = ["--scanner-interval", "0.2", "--scanner-deep-every", "1", "--metrics-public"];

async function withServer(options: ServerOptions, fn: (server: TestServer) => Promise<void>) {
  await serving(await startServer(options), fn);
}

/** The drives holding the parity shards (index > k) of `key`, by their xl.meta. */
async function parityDrives(server: TestServer, bucket: string, key: string): Promise<string[]> {
  const out: string[] = [];
  for (const drive of server.drives) {
    const { version } = parseMeta(await Deno.readFile(metaPath(drive, bucket, key)));
    if (version.erasure.index > version.erasure.dataShards) out.push(drive);
  }
  assertEquals(out.length, 2, `parity holders of ${key}`);
  return out;
}

async function metrics(server: TestServer): Promise<string> {
  const response = await fetch(`${server.endpoint}/flashstor/v1/metrics`);
  assertEquals(response.status, 200);
  return await response.text();
}

/** The value of one sample (`name{labels}`) of the exposition text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test("scanner: rot in both parity shards (part files and inline) is found by a deep scan and rewritten", async () => {
  const bucket = "rot";
  const big = pattern(12 * MiB + 5, 31);
  const small = pattern(3000, 32);
  // Written with the scanner off and damaged while the server is down: no cycle sees half of it.
  const first = await startServer({ args: ["--scanner-interval", "0"] });
  const originals = new Map<string, Uint8Array>();
  try {
    const s3 = client(first);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    await put(s3, bucket, "photos/cat.jpg", big);
    await put(s3, bucket, "small", small);
    await first.stop();
    for (const drive of await parityDrives(first, bucket, "photos/cat.jpg")) {
      const path = await partPath(drive, bucket, "photos/cat.jpg");
      const bytes = await Deno.readFile(path);
      originals.set(path, bytes.slice());
      for (const at of [100, 3 * (8 + 512 * 1024) + 5, bytes.byteLength - 2]) bytes[at] ^= 0x5a;
      await Deno.writeFile(path, bytes);
    }
    for (const drive of await parityDrives(first, bucket, "small")) {
      const path = metaPath(drive, bucket, "small");
      const bytes = await Deno.readFile(path);
      originals.set(path, bytes.slice());
      const { inlineStart } = parseMeta(bytes);
      bytes[inlineStart + 20] ^= 0x5a;
      resealMeta(bytes);
      await Deno.writeFile(path, bytes);
    }
  } catch (err) {
    await first.cleanup();
    throw err;
  }
  await withServer({ dir: first.dir, args: FAST }, async (server) => {
    const s3 = client(server);
    // Reads use data shards: they are exact whatever the parity holds.
    assert(equalBytes((await get(s3, bucket, "photos/cat.jpg")).bytes, big));
    assert(equalBytes((await get(s3, bucket, "small")).bytes, small));
    await waitUntil("every rotted parity shard rewritten as it was", async () => {
      for (const [path, bytes] of originals) {
        const now = await Deno.readFile(path).catch(() => undefined);
        if (!now || !equalBytes(now, bytes)) return false;
      }
      return true;
    }, 60_000);
    // The scanner logs an object's repair once its heal returns, after the files are written.
    const logged = (key: string) => `flashstor: scanner: ${bucket}/${key}: 2 shards rewritten on `;
    await waitUntil(
      "both repairs logged",
      () =>
        Promise.resolve(
          ["photos/cat.jpg", "small"].every((key) => server.output().includes(logged(key))),
        ),
      10_000,
    );
    assertStringIncludes(server.output(), "(bitrot)");
    await waitUntil(
      "the damage counted",
      async () => sample(await metrics(server), "flashstor_scanner_objects_damaged_total") === 2,
    );
    // The parity alone now serves the objects: lose both data drives.
    const dataDrives = server.drives.filter((d) =>
      ![...originals.keys()].some((p) => p.startsWith(d + "/") && p.includes("cat.jpg"))
    );
    assertEquals(dataDrives.length, 2);
    for (const d of dataDrives) await loseBucket(d, bucket);
    assert(equalBytes((await get(s3, bucket, "photos/cat.jpg")).bytes, big));
  });
});

/** Every data dir below an object that its drive's xl.meta does not name. */
async function unreferenced(drive: string, bucket: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (rel: string) => {
    const names: string[] = [];
    for await (const e of Deno.readDir(`${drive}/${bucket}/${rel}`)) {
      if (e.isDirectory) names.push(e.name);
    }
    const meta = await Deno.readFile(`${drive}/${bucket}/${rel}/xl.meta`).catch(() => undefined);
    // A kill can leave a new object's xl.meta torn (it is written in place, and a torn one
    // reads as absent): then it names nothing, as the server sees it.
    let named: string | undefined;
    try {
      named = meta && parseMeta(meta).version.dataDir;
    } catch {
      named = undefined;
    }
    for (const n of names) {
      if (n.endsWith("__XLDATA__")) {
        if (n !== named) found.push(`${rel}/${n}`);
      } else await visit(rel ? `${rel}/${n}` : n);
    }
  };
  await visit("");
  return found;
}

Deno.test("scanner: garbage goes while writers put, overwrite, delete and complete uploads; every acknowledged object reads back exact", async () => {
  const args = [...FAST, "--garbage-age", "2", "--upload-expiry", "1h"];
  await withServer({ args }, async (server) => {
    const s3 = client(server);
    const bucket = "garbage";
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const acked = new Map<string, Expected>();
    const g = pattern(3 * MiB + 1, 40);
    acked.set("g/big", { bytes: g, etag: await put(s3, bucket, "g/big", g) });

    // Planted garbage: copies of a live data dir under unreferenced names, and temp entries.
    const planted: string[] = [];
    for (const drive of server.drives.slice(0, 3)) {
      const live = await partPath(drive, bucket, "g/big");
      const dir = `${drive}/${bucket}/g/big/${crypto.randomUUID()}__XLDATA__`;
      await Deno.mkdir(dir);
      await Deno.copyFile(live, `${dir}/part.1`);
      planted.push(dir);
      const temp = `${drive}/.flashstor.sys/tmp/${crypto.randomUUID()}`;
      await Deno.mkdir(`${temp}/x__XLDATA__`, { recursive: true });
      await Deno.writeFile(`${temp}/x__XLDATA__/part.1`, pattern(4096, 41));
      planted.push(temp);
    }
    // An upload created two hours ago (its id carries its creation time), and a fresh one.
    const aged = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "aged" }));
    const old = (Date.now() - 2 * 3600_000).toString(16).padStart(12, "0") +
      aged.UploadId!.slice(12);
    for (const drive of server.drives) {
      const root = `${drive}/.flashstor.sys/multipart/${bucket}`;
      for await (const hash of Deno.readDir(root)) {
        const from = `${root}/${hash.name}/${aged.UploadId}`;
        if (await exists(from)) await Deno.rename(from, `${root}/${hash.name}/${old}`);
      }
    }
    const fresh = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "new" }));

    // Writers, bounded: puts, overwrites and deletes of inline, one-stripe and multi-stripe
    // objects, and multipart uploads completed over each other.
    const sizes = [1000, 700_000, 3 * MiB + 3];
    const deleted = new Set<string>();
    const stopAt = Date.now() + 8_000;
    const putter = async (w: number) => {
      for (let op = 0; op < 60 && Date.now() < stopAt; op++) {
        const key = `w${w}/k${op % 5}`;
        if (op % 7 === 6) {
          await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
          acked.delete(key);
          deleted.add(key);
          continue;
        }
        const bytes = pattern(sizes[op % sizes.length], w * 1000 + op);
        acked.set(key, { bytes, etag: await put(s3, bucket, key, bytes) });
        deleted.delete(key);
      }
    };
    const uploader = async () => {
      for (let op = 0; op < 10 && Date.now() < stopAt; op++) {
        const key = `m/k${op % 2}`;
        const parts = [pattern(5 * MiB, 600 + op), pattern(MiB + 1, 700 + op)];
        const etag = await putMultipart(s3, bucket, key, parts);
        acked.set(key, { bytes: new Uint8Array(await new Blob(parts).arrayBuffer()), etag });
      }
    };
    await Promise.all([putter(0), putter(1), uploader()]);
    await waitUntil("planted garbage removed", async () => {
      for (const p of planted) if (await exists(p)) return false;
      return true;
    }, 60_000);
    for (const [key, want] of acked) await expectExact(s3, bucket, key, want);
    for (const key of deleted) {
      const gone = await failure(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
      assertEquals(gone.status, 404, key);
    }
    assertEquals(acked.get("g/big")!.etag, md5(g));
    for (const drive of server.drives) assertEquals(await unreferenced(drive, bucket), []);

    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    assertEquals(uploads.Uploads?.map((u) => u.UploadId), [fresh.UploadId]);

    await waitUntil("usage counted", async () => {
      const text = await metrics(server);
      return sample(text, `flashstor_bucket_objects{bucket="${bucket}"}`) === acked.size;
    }, 30_000);
    const text = await metrics(server);
    const bytes = [...acked.values()].reduce((n, e) => n + e.bytes.byteLength, 0);
    assertEquals(sample(text, `flashstor_bucket_bytes{bucket="${bucket}"}`), bytes);
    assertEquals(sample(text, `flashstor_garbage_removed_total{kind="data_dir"}`), 3);
    assertEquals(sample(text, `flashstor_garbage_removed_total{kind="temp"}`), 3);
    assertEquals(sample(text, `flashstor_garbage_removed_total{kind="upload"}`), 1);
    assert((sample(text, "flashstor_scanner_cycles_total") ?? 0) >= 2);
  });
});

/** Data dirs (relative to the bucket) unreferenced on any drive. */
async function garbageOn(drives: string[], bucket: string): Promise<string[]> {
  const all: string[] = [];
  for (const d of drives) all.push(...(await unreferenced(d, bucket)).map((g) => `${d}: ${g}`));
  return all;
}

Deno.test("scanner: garbage from SIGKILL rounds under overwrites is collected; every object reads back as acknowledged or in flight", async () => {
  const bucket = "killed";
  const keys = ["a", "b/c", "d", "e/f", "g"];
  /** Per key: the acknowledged state, then those whose answer never came (the kill). */
  const states = new Map<string, Uint8Array[]>(keys.map((k) => [k, []]));
  let server = await startServer({ args: ["--scanner-interval", "0"] });
  const dir = server.dir;
  try {
    await client(server).send(new CreateBucketCommand({ Bucket: bucket }));
    // Overwrites cut between a commit and its cleanup leave the replaced data dir behind: 8
    // rounds, more (up to 16) while none did.
    let left = 0;
    for (let round = 0; round < 16 && (round < 8 || left === 0); round++) {
      const s3 = client(server);
      let seed = round * 100;
      const writing = Promise.all(keys.map(async (key) => {
        for (let op = 0; op < 50; op++) {
          const bytes = pattern(op % 2 ? 3 * MiB + op : 700_000 + op, seed++);
          states.get(key)!.push(bytes);
          try {
            await put(s3, bucket, key, bytes);
          } catch {
            return; // killed: this write may or may not have landed
          }
          states.set(key, [bytes]);
        }
      }));
      await new Promise((r) => setTimeout(r, 300 + 100 * round));
      await server.kill();
      await writing;
      left = (await garbageOn(server.drives, bucket)).length;
      server = await startServer({ dir, args: ["--scanner-interval", "0"] });
    }
    await server.stop();
    console.log(`unreferenced data dirs after the kill rounds: ${left}`);
    assert(left > 0, "the kill rounds left garbage to collect");
    server = await startServer({
      dir,
      args: [...FAST, "--scanner-deep-every", "0", "--garbage-age", "1"],
    });
    await waitUntil(
      "no unreferenced data dir left",
      async () => (await garbageOn(server.drives, bucket)).length === 0,
      60_000,
    );
    const s3 = client(server);
    for (const [key, candidates] of states) {
      const { bytes } = await get(s3, bucket, key);
      assert(candidates.some((c) => equalBytes(c, bytes)), `${key}: acknowledged or in flight`);
    }
  } catch (err) {
    console.error(server.output().slice(-3000));
    throw err;
  } finally {
    await server.cleanup();
  }
});
