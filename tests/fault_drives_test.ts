/**
 * Lost drives, end to end: the real server (2 data + 2 parity over 4 drive directories) keeps
 * serving exact bytes when up to m = 2 drives lose their data, heals the lost shards back when
 * reads find them missing, and with 3 of 4 drives gone answers 503 without touching what is
 * left.
 */

import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { ignoreWithout, mountsUnavailable } from "./helpers/capabilities.ts";
import { mountTmpfs, unmount } from "./helpers/mounts.ts";
import { serving, startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  exists,
  expectAll,
  type Expected,
  expectExact,
  failure,
  fillBucket,
  get,
  listAll,
  loseBucket,
  md5,
  metaPath,
  MiB,
  pattern,
  put,
  restored,
  slowPut,
  snapshot,
  tmpEntries,
  waitUntil,
} from "./fault_util.ts";

const BUCKET = "faults";

async function withServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  await serving(await startServer(), fn);
}

/** Reads every object (queuing heals), until the wiped drives hold their shards again. */
async function healBack(
  server: TestServer,
  objects: Map<string, Expected>,
  before: Map<string, Map<string, Uint8Array>>,
): Promise<void> {
  const s3 = client(server);
  await waitUntil(`shards healed back onto ${[...before.keys()].join(", ")}`, async () => {
    await expectAll(s3, BUCKET, objects);
    for (const [drive, files] of before) {
      if (!await restored(`${drive}/${BUCKET}`, files)) return false;
    }
    return true;
  }, 30_000);
}

Deno.test("fault: bucket dirs of 2 of 4 drives removed live → exact reads, healed back, then the other 2 are expendable", async () => {
  await withServer(async (server) => {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = await fillBucket(s3, BUCKET, 100);
    const [d1, d2, d3, d4] = server.drives;
    const before = new Map([
      [d1, await snapshot(`${d1}/${BUCKET}`)],
      [d3, await snapshot(`${d3}/${BUCKET}`)],
    ]);
    assert(before.get(d1)!.size >= objects.size, "every object has files on d1");
    await loseBucket(d1, BUCKET);
    await loseBucket(d3, BUCKET);

    const missing = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "nope" })));
    assertEquals(missing, { status: 404, code: "NoSuchKey" }, "GET of a key never written");
    await expectAll(s3, BUCKET, objects);
    await healBack(server, objects, before);

    await loseBucket(d2, BUCKET);
    await loseBucket(d4, BUCKET);
    await expectAll(s3, BUCKET, objects);
  });
});

Deno.test("fault: a drive replaced by an empty directory across a restart is reformatted and healed", async () => {
  await withServer(async (first) => {
    await client(first).send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = await fillBucket(client(first), BUCKET, 200);
    const [d1, d2, d3, d4] = first.drives;
    const before = new Map([[d2, await snapshot(`${d2}/${BUCKET}`)]]);
    await first.stop();
    await Deno.remove(d2, { recursive: true });
    await Deno.mkdir(d2);

    const server = await startServer({ dir: first.dir });
    try {
      await expectAll(client(server), BUCKET, objects);
      await healBack(server, objects, before);
      await loseBucket(d1, BUCKET);
      await loseBucket(d4, BUCKET);
      await expectAll(client(server), BUCKET, objects);
      assert(await Deno.stat(`${d3}/${BUCKET}`).then(() => true), "d3 untouched");
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server.kill();
    }
  });
});

/** Waits until every object has its xl.meta on `drives` again, reading all meanwhile. */
async function healedOnto(server: TestServer, objects: Map<string, Expected>, drives: string[]) {
  const s3 = client(server);
  await waitUntil(`objects healed onto ${drives.join(", ")}`, async () => {
    await expectAll(s3, BUCKET, objects);
    for (const key of objects.keys()) {
      for (const d of drives) if (!await exists(metaPath(d, BUCKET, key))) return false;
    }
    return true;
  }, 30_000);
}

Deno.test("fault: PUT/DELETE while 2 of 4 drives lack the bucket directory succeed or fail cleanly; after healing they succeed", async () => {
  await withServer(async (server) => {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = await fillBucket(s3, BUCKET, 250);
    const doomed = { bytes: pattern(3 * MiB, 7), etag: "" };
    doomed.etag = await put(s3, BUCKET, "doomed", doomed.bytes);
    const [d1, d2, d3, d4] = server.drives;
    for (const d of [d2, d3]) await loseBucket(d, BUCKET);

    // Before any read had a chance to heal the bucket back onto d2 and d3: two drives short of
    // the data, like two offline drives, so a 503 is acceptable — but nothing half done.
    const fresh = [["fresh", 3 * MiB + 3], ["fresh-small", 999]] as const;
    for (const [key, size] of fresh) {
      const bytes = pattern(size, size);
      const etag = await put(s3, BUCKET, key, bytes).catch(async (err) => {
        assertEquals(err.$metadata?.httpStatusCode, 503, `PUT ${key}: ${err}`);
        const got = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
        assertEquals(got, { status: 404, code: "NoSuchKey" }, `GET ${key} after its failed PUT`);
        return undefined;
      });
      if (etag !== undefined) await expectExact(s3, BUCKET, key, { bytes, etag });
    }
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "doomed" }))
      .then(() => true, (err) => {
        assertEquals(err.$metadata?.httpStatusCode, 503, `DELETE doomed: ${err}`);
        return false;
      });
    // A DELETE that failed may still have removed the object from the drives that held it.
    const left = await get(s3, BUCKET, "doomed").catch((err) => {
      assertEquals(err.name, "NoSuchKey", `GET doomed after DELETE: ${err}`);
      return undefined;
    });
    assert(!deleted || !left, "GET of the deleted object");
    if (left) await expectExact(s3, BUCKET, "doomed", doomed);
    for (const d of server.drives) assertEquals(await tmpEntries(d), [], `temp area of ${d}`);

    if (left) {
      objects.set("doomed", doomed);
      await healedOnto(server, objects, [d2, d3]);
      objects.delete("doomed");
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "doomed" }));
    }
    await healedOnto(server, objects, [d2, d3]);
    for (const [key, size] of fresh) {
      const bytes = pattern(size, size + 1);
      objects.set(key, { bytes, etag: await put(s3, BUCKET, key, bytes) });
    }
    await expectAll(s3, BUCKET, objects);
    for (const d of [d1, d4]) await loseBucket(d, BUCKET);
    await expectAll(s3, BUCKET, objects);
  });
});

Deno.test("fault: the server restarts with 2 of 4 drives replaced by empty directories", async () => {
  await withServer(async (first) => {
    await client(first).send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = await fillBucket(client(first), BUCKET, 260);
    const [d1, d2, d3, d4] = first.drives;
    await first.stop();
    for (const d of [d2, d3]) {
      await Deno.remove(d, { recursive: true });
      await Deno.mkdir(d);
    }
    const server = await startServer({ dir: first.dir });
    try {
      await expectAll(client(server), BUCKET, objects);
      await healedOnto(server, objects, [d2, d3]);
      for (const d of [d1, d4]) await loseBucket(d, BUCKET);
      await expectAll(client(server), BUCKET, objects);
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server.kill();
    }
  });
});

/** GET, HEAD, List and PUT all answer 503 ServiceUnavailable; `survivor` is left as it was. */
async function expectUnavailable(server: TestServer, survivor: string): Promise<void> {
  const s3 = client(server);
  const kept = await snapshot(survivor);
  const keys = ["small-1k", "big-12m", "multipart-11m", "never-written"];
  for (const key of keys) {
    const got = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
    assertEquals(got, { status: 503, code: "ServiceUnavailable" }, `GET ${key}`);
    const head = await failure(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })));
    assertEquals(head.status, 503, `HEAD ${key}`);
  }
  const list = await failure(s3.send(new ListObjectsV2Command({ Bucket: BUCKET })));
  assertEquals(list, { status: 503, code: "ServiceUnavailable" }, "ListObjectsV2");
  for (const [key, size] of [["small-1k", 1000], ["new-big", 3 * 1024 * 1024]] as const) {
    const put = await failure(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: pattern(size, 9) })),
    );
    assertEquals(put, { status: 503, code: "ServiceUnavailable" }, `PUT ${key}`);
  }
  const after = await snapshot(survivor);
  const names = (m: Map<string, Uint8Array>) =>
    [...m.keys()].filter((k) => !k.startsWith(".flashstor.sys/tmp/")).sort();
  assertEquals(names(after), names(kept), "files on the surviving drive");
  for (const [rel, bytes] of kept) {
    if (!rel.startsWith(".flashstor.sys/tmp/")) {
      assertEquals(after.get(rel), bytes, `${rel} on the surviving drive`);
    }
  }
}

Deno.test("fault: 3 of 4 drive directories removed → 503 for GET/HEAD/List/PUT, the last drive untouched", async () => {
  await withServer(async (server) => {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await fillBucket(s3, BUCKET, 300);
    const [d1, d2, d3, d4] = server.drives;
    for (const d of [d1, d2, d3]) await Deno.remove(d, { recursive: true });
    await expectUnavailable(server, d4);
  });
});

Deno.test("fault: 3 of 4 drives emptied (format.json gone, like unmounted disks) → 503, not NoSuchBucket", async () => {
  await withServer(async (server) => {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await fillBucket(s3, BUCKET, 400);
    const [d1, d2, d3, d4] = server.drives;
    for (const d of [d1, d2, d3]) {
      await Deno.remove(d, { recursive: true });
      await Deno.mkdir(d);
    }
    await expectUnavailable(server, d4);
  });
});

Deno.test("fault: drives lost while a PUT streams — 1 of 4: the PUT succeeds; 2 of 4: 503 and the previous version stays", async () => {
  for (const lost of [1, 2]) {
    await withServer(async (server) => {
      const s3 = client(server);
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const old = { bytes: pattern(6 * MiB + 1, 40 + lost), etag: "" };
      old.etag = await put(s3, BUCKET, "target", old.bytes);
      const fresh = pattern(40 * MiB + 3, 50 + lost);
      const progress = { sent: 0 };
      const putting = slowPut(server, `/${BUCKET}/target`, [], fresh, progress)
        .catch((err: Error) => `no answer: ${err.message}`);
      for (let i = 0; i < 500 && progress.sent < 8 * MiB; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert(progress.sent < fresh.byteLength, "drives lost mid-PUT");
      const gone = server.drives.slice(4 - lost);
      for (const d of gone) await Deno.remove(d, { recursive: true });
      const status = await putting;
      const objects = new Map([["target", lost === 1 ? { bytes: fresh, etag: md5(fresh) } : old]]);
      assertEquals(status, lost === 1 ? 200 : 503, `PUT with ${lost} drive(s) lost`);
      await expectAll(s3, BUCKET, objects);
      for (const d of server.drives.slice(0, 4 - lost)) {
        assertEquals(await tmpEntries(d), [], `temp area of ${d}`);
      }
    });
  }
});

const fullDriveTest =
  "fault: a full drive (ENOSPC) → PUTs succeed on the others, no partial files left on it, healed once space is back";
Deno.test(
  { name: fullDriveTest, ignore: ignoreWithout(fullDriveTest, await mountsUnavailable()) },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "flashstor-full-" });
    const d4 = `${dir}/d4`;
    await Deno.mkdir(d4);
    await mountTmpfs(d4, 10);
    let server: TestServer | undefined;
    try {
      server = await startServer({ dir });
      const s3 = client(server);
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const objects = new Map<string, Expected>();
      for (let i = 0; i < 6; i++) {
        const bytes = pattern(6 * MiB + i, 700 + i);
        objects.set(`full/${i}`, { bytes, etag: await put(s3, BUCKET, `full/${i}`, bytes) });
      }
      await expectAll(s3, BUCKET, objects);
      const lacking = [...objects.keys()].filter((k) => !existsSync(metaPath(d4, BUCKET, k)));
      assert(lacking.length > 0, "d4 filled up");
      // The heals those reads queued fail for lack of space: they must leave nothing behind.
      await new Promise((r) => setTimeout(r, 1000));
      assertEquals(await tmpEntries(d4), [], "temp area of the full drive");

      for (const key of [...objects.keys()].filter((k) => !lacking.includes(k))) {
        await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
        objects.delete(key);
      }
      await healedOnto(server, objects, [d4]);
      const [d1, d2] = server.drives;
      for (const d of [d1, d2]) await loseBucket(d, BUCKET);
      await expectAll(s3, BUCKET, objects);
    } catch (err) {
      console.error(server?.output().slice(-4000));
      throw err;
    } finally {
      await server?.kill();
      await unmount(d4);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("fault: a second drive lost while heals rebuild a replaced one → reads stay exact, both healed", async () => {
  await withServer(async (first) => {
    const s3 = client(first);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = await fillBucket(s3, BUCKET, 900);
    // Enough data that the drive heal, which starts with the server, is still writing when
    // the poll below looks (on tmpfs it heals a few hundred MB/s).
    for (let i = 0; i < 12; i++) {
      const bytes = pattern(16 * MiB + i, 910 + i);
      objects.set(`heal/${i}`, { bytes, etag: await put(s3, BUCKET, `heal/${i}`, bytes) });
    }
    const [d1, d2, d3, d4] = first.drives;
    await first.stop();
    await Deno.remove(d2, { recursive: true });
    await Deno.mkdir(d2);
    const server = await startServer({ dir: first.dir });
    try {
      const live = client(server);
      let writing = false;
      for (let i = 0; i < 2000 && !writing; i++) {
        writing = (await tmpEntries(d2).catch(() => [])).length > 0;
        if (!writing) await new Promise((r) => setTimeout(r, 5));
      }
      assert(writing, "a heal was writing to the replaced drive");
      await loseBucket(d3, BUCKET);
      await expectAll(live, BUCKET, objects);
      await healedOnto(server, objects, [d2, d3]);
      for (const d of [d1, d4]) await loseBucket(d, BUCKET);
      await expectAll(live, BUCKET, objects);
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server.kill();
    }
  });
});

Deno.test("fault: objects deleted while their heals are queued stay deleted (heals never resurrect)", async () => {
  await withServer(async (first) => {
    const s3 = client(first);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = await fillBucket(s3, BUCKET, 950);
    for (let i = 0; i < 4; i++) {
      const bytes = pattern(16 * MiB + i, 960 + i);
      objects.set(`heal/${i}`, { bytes, etag: await put(s3, BUCKET, `heal/${i}`, bytes) });
    }
    const [, d2] = first.drives;
    await first.stop();
    await Deno.remove(d2, { recursive: true });
    await Deno.mkdir(d2);
    const server = await startServer({ dir: first.dir });
    try {
      const live = client(server);
      // Each HEAD queues a heal onto d2; the deletes race those heals.
      for (const key of objects.keys()) {
        await live.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      }
      for (const key of objects.keys()) {
        await live.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
      }
      await new Promise((r) => setTimeout(r, 1500));
      for (const key of objects.keys()) {
        const got = await failure(live.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
        assertEquals(got, { status: 404, code: "NoSuchKey" }, `GET ${key} after DELETE`);
      }
      assertEquals([...(await listAll(live, BUCKET)).keys()], [], "listing after the deletes");
      for (const d of server.drives) {
        for (const key of objects.keys()) {
          assert(!await exists(metaPath(d, BUCKET, key)), `${key} left on ${d}`);
        }
      }
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server.kill();
    }
  });
});
