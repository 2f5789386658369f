/**
 * A drive offline when the server starts (its directory replaced by a regular file): the real
 * server still starts with quorum, serves reads and writes, and when the drive comes back —
 * empty, or with the stale contents it had — the objects written meanwhile are healed onto it
 * and objects deleted meanwhile stay deleted.
 */

import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { serving, startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  diskKey,
  expectAll,
  type Expected,
  failure,
  fillBucket,
  loseBucket,
  metaPath,
  MiB,
  parseMeta,
  pattern,
  put,
  readOrUndefined,
  waitUntil,
} from "./fault_util.ts";

const BUCKET = "offline";

/** Runs `fn` on a server over `dir` (drives d1..d4), printing its output when `fn` fails. */
async function servingDir(dir: string, fn: (server: TestServer) => Promise<void>): Promise<void> {
  await serving(await startServer({ dir }), fn, true);
}

/** True when `drive`'s xl.meta of every object names the expected ETag (parts present). */
async function holdsAll(drive: string, objects: Map<string, Expected>): Promise<boolean> {
  for (const [key, want] of objects) {
    const raw = await readOrUndefined(metaPath(drive, BUCKET, key));
    if (!raw) return false;
    const { version } = parseMeta(raw);
    if (version.etag !== want.etag) return false;
    if (version.inlineLength >= 0) continue;
    for (const part of version.parts) {
      const path = `${drive}/${BUCKET}/${diskKey(key)}/${version.dataDir}/part.${part.number}`;
      if (!await readOrUndefined(path)) return false;
    }
  }
  return true;
}

/**
 * Formats four drives and fills the bucket, then restarts with d3 replaced by a regular file
 * and runs `whileOffline` (its objects are the expected state afterwards); d3's directory is
 * handed to `comeBack` to restore before the final restart.
 */
async function offlineRound(
  whileOffline: (server: TestServer, objects: Map<string, Expected>) => Promise<void>,
  comeBack: (d3: string, aside: string) => Promise<void>,
  options: { d1DiesAsD3Returns?: boolean } = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-offline-" });
  const [d1, d2, d3, d4] = [1, 2, 3, 4].map((i) => `${dir}/d${i}`);
  const aside = `${dir}/d3-aside`;
  try {
    let objects = new Map<string, Expected>();
    /** Every key that ever existed. */
    let written: string[] = [];
    await servingDir(dir, async (server) => {
      const s3 = client(server);
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      objects = await fillBucket(s3, BUCKET, 1000);
      written = [...objects.keys()];
    });

    await Deno.rename(d3, aside);
    await Deno.writeTextFile(d3, "not a drive\n");
    await servingDir(dir, async (server) => {
      assertStringIncludes(server.output(), `drive ${d3} is offline`);
      const ready = await fetch(`${server.endpoint}/flashstor/health/ready`);
      await ready.body?.cancel();
      assertEquals(ready.status, 200, "ready with 3 of 4 drives (write quorum)");
      await expectAll(client(server), BUCKET, objects);
      await whileOffline(server, objects);
      written = [...new Set([...written, ...objects.keys()])];
      await expectAll(client(server), BUCKET, objects);
    });

    await Deno.remove(d3);
    await comeBack(d3, aside);
    const dead = options.d1DiesAsD3Returns;
    if (dead) {
      await Deno.remove(d1, { recursive: true });
      await Deno.writeTextFile(d1, "dead drive\n");
    }
    await servingDir(dir, async (server) => {
      const s3 = client(server);
      // Before any heal, with a dead drive: the stale copies on d3 must not win anything.
      if (dead) await expectAll(s3, BUCKET, objects);
      await waitUntil("objects healed onto the returning drive", async () => {
        await expectAll(s3, BUCKET, objects);
        return await holdsAll(d3, objects);
      }, 30_000);
      // d3 and one more drive now have to carry everything.
      for (const d of dead ? [d2] : [d1, d2]) {
        await loseBucket(d, BUCKET);
      }
      await expectAll(s3, BUCKET, objects);
      assert(await holdsAll(d4, objects), "d4 untouched");
      for (const key of written.filter((k) => !objects.has(k))) {
        const gone = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
        assertEquals(gone, { status: 404, code: "NoSuchKey" }, `GET ${key}, deleted meanwhile`);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Writes new objects of every shape and overwrites and deletes old ones, with 3 drives. */
async function changeEverything(server: TestServer, objects: Map<string, Expected>) {
  const s3 = client(server);
  for (const [key, want] of await fillBucket(s3, BUCKET, 2000, "later/")) objects.set(key, want);
  for (const [key, size] of [["big-12m", 4 * MiB + 1], ["small-1k", 77]] as const) {
    const bytes = pattern(size, 3000 + size);
    objects.set(key, { bytes, etag: await put(s3, BUCKET, key, bytes) });
  }
  for (const key of ["small-200k", "a/b/c/nested-3m"]) {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    objects.delete(key);
    const gone = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
    assertEquals(gone, { status: 404, code: "NoSuchKey" }, `GET ${key} after DELETE`);
  }
}

Deno.test("fault: a drive offline at start → reads and writes with 3 of 4; back empty, it is healed", async () => {
  await offlineRound(changeEverything, (d3) => Deno.mkdir(d3));
});

Deno.test("fault: a drive offline at start comes back stale → new versions win and are healed, deleted objects stay deleted", async () => {
  await offlineRound(changeEverything, (d3, aside) => Deno.rename(aside, d3));
});

Deno.test("fault: a stale drive returns as another drive dies → the writes made meanwhile win, deletes stay, then healed", async () => {
  await offlineRound(changeEverything, (d3, aside) => Deno.rename(aside, d3), {
    d1DiesAsD3Returns: true,
  });
});
