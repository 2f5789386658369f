/** Multipart uploads through the object layer on real drives. */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import {
  EntityTooSmall,
  InvalidPart,
  InvalidPartOrder,
  LockTimeout,
  NoSuchUpload,
} from "../src/object/errors.ts";
import type { Pools } from "../src/object/pools.ts";
import { COMPLETED_UPLOAD_TTL_MS, sweepCompletedUploads } from "../src/object/completed-uploads.ts";
import {
  BUCKET,
  deployment,
  equalBytes,
  filesBelow,
  get,
  md5hex,
  readAll,
  streamOf,
  testBytes,
} from "./fixtures/object_env.ts";

const MiB = 1024 * 1024;

function uploadPart(layer: Pools, object: string, id: string, n: number, data: Uint8Array) {
  return layer.putObjectPart(BUCKET, object, id, n, streamOf(data), {
    size: data.byteLength,
    metadata: {},
  });
}

function multipartEtag(parts: Uint8Array[]): string {
  const h = createHash("md5");
  for (const p of parts) h.update(createHash("md5").update(p).digest());
  return `${h.digest("hex")}-${parts.length}`;
}

for (const [sets, drives, parity] of [[1, 4, 2], [2, 4, 2]]) {
  Deno.test(`multipart: 5 MiB + 5 MiB + 1 B completes (${sets} set(s))`, async () => {
    const env = await deployment(sets, drives, parity);
    try {
      const parts = [testBytes(5 * MiB, 1), testBytes(5 * MiB, 2), testBytes(1, 3)];
      const id = await env.layer.newMultipartUpload(BUCKET, "mp/obj", { "content-type": "a/b" });
      assertEquals((await env.layer.getMultipartUpload(BUCKET, "mp/obj", id)).object, "mp/obj");
      // A re-uploaded part replaces the first attempt.
      await uploadPart(env.layer, "mp/obj", id, 2, testBytes(6 * MiB, 9));
      const infos = [];
      for (const [i, p] of parts.entries()) {
        infos.push(await uploadPart(env.layer, "mp/obj", id, i + 1, p));
      }
      assertEquals(infos.map((p) => p.etag), parts.map(md5hex));

      const listed = await env.layer.listObjectParts(BUCKET, "mp/obj", id, { maxParts: 2 });
      assertEquals(listed.parts.map((p) => p.number), [1, 2]);
      assertEquals(listed.parts[1].size, 5 * MiB);
      assert(listed.isTruncated);
      const rest = await env.layer.listObjectParts(BUCKET, "mp/obj", id, {
        maxParts: 2,
        partNumberMarker: listed.nextPartNumberMarker,
      });
      assertEquals(rest.parts.map((p) => p.number), [3]);
      assert(!rest.isTruncated);

      const info = await env.layer.completeMultipartUpload(
        BUCKET,
        "mp/obj",
        id,
        infos.map((p) => ({ number: p.number, etag: `"${p.etag}"` })),
      );
      assertEquals(info.etag, multipartEtag(parts));
      assertEquals(info.size, 10 * MiB + 1);
      assertEquals(info.parts.map((p) => p.size), [5 * MiB, 5 * MiB, 1]);
      const whole = new Uint8Array(10 * MiB + 1);
      whole.set(parts[0]);
      whole.set(parts[1], 5 * MiB);
      whole.set(parts[2], 10 * MiB);
      assert(equalBytes(await get(env.layer, "mp/obj"), whole));
      const head = await env.layer.getObjectInfo(BUCKET, "mp/obj");
      assertEquals(head.metadata, { "content-type": "a/b" });
      assertEquals(head.etag, info.etag);
      // A range across the part boundary.
      const r = await env.layer.getObject(BUCKET, "mp/obj", {
        range: { start: 5 * MiB - 3, end: 10 * MiB },
      });
      assert(equalBytes(await readAll(r.body), whole.subarray(5 * MiB - 3, 10 * MiB + 1)));
      await assertRejects(() => env.layer.getMultipartUpload(BUCKET, "mp/obj", id), NoSuchUpload);
      // Every part's shards are healed onto drives that lost them.
      const set = env.layer.sets.indexOf(env.layer.setOf("mp/obj"));
      for (const d of [0, 1]) {
        await Deno.remove(`${env.paths[set][d]}/${BUCKET}/mp`, { recursive: true });
      }
      const healed = await env.layer.healObject(BUCKET, "mp/obj");
      assertEquals(healed.healedDrives.sort(), [env.paths[set][0], env.paths[set][1]].sort());
      const view = await env.open((s, d) => s === set && d >= 2);
      assert(equalBytes(await get(view, "mp/obj"), whole));
      for (const d of env.paths[set]) {
        // Neither the upload nor its object's directory is left behind: only the record of
        // its completion, for a repeated Complete.
        const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name);
        const root = `${d}/.flashstor.sys/multipart/${BUCKET}`;
        assertEquals(names(root), ["completed"]);
        assertEquals(names(`${root}/completed`), [`${id}.json`]);
      }
    } finally {
      await env.close();
    }
  });
}

Deno.test("multipart: errors, unused parts, abort, listing uploads", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const layer = env.layer;
    const id = await layer.newMultipartUpload(BUCKET, "x", {});
    const a = await uploadPart(layer, "x", id, 1, testBytes(100, 1));
    const b = await uploadPart(layer, "x", id, 2, testBytes(100, 2));
    const c = await uploadPart(layer, "x", id, 3, testBytes(5 * MiB, 3));
    await assertRejects(
      () =>
        layer.completeMultipartUpload(BUCKET, "x", id, [{ number: 1, etag: a.etag }, {
          number: 2,
          etag: b.etag,
        }]),
      EntityTooSmall,
    );
    await assertRejects(
      () =>
        layer.completeMultipartUpload(BUCKET, "x", id, [{ number: 2, etag: b.etag }, {
          number: 1,
          etag: a.etag,
        }]),
      InvalidPartOrder,
    );
    await assertRejects(
      () => layer.completeMultipartUpload(BUCKET, "x", id, [{ number: 1, etag: b.etag }]),
      InvalidPart,
    );
    await assertRejects(
      () => layer.completeMultipartUpload(BUCKET, "x", id, [{ number: 4, etag: a.etag }]),
      InvalidPart,
    );
    await assertRejects(() => uploadPart(layer, "x", id, 0, testBytes(1)), InvalidPart);
    await assertRejects(() => uploadPart(layer, "x", "nope", 1, testBytes(1)), NoSuchUpload);
    // Parts 3 and 4; parts 1 and 2 are unused and removed with the upload.
    const d = await uploadPart(layer, "x", id, 4, testBytes(100, 4));
    const info = await layer.completeMultipartUpload(BUCKET, "x", id, [
      { number: 3, etag: c.etag },
      { number: 4, etag: d.etag },
    ]);
    assertEquals(info.etag, multipartEtag([testBytes(5 * MiB, 3), testBytes(100, 4)]));
    const whole = new Uint8Array(5 * MiB + 100);
    whole.set(testBytes(5 * MiB, 3));
    whole.set(testBytes(100, 4), 5 * MiB);
    assert(equalBytes(await get(layer, "x"), whole));
    const files = await filesBelow(`${env.paths[0][0]}/${BUCKET}/x`);
    assertEquals(files.map((f) => f.split("/").at(-1)).sort(), ["part.3", "part.4", "xl.meta"]);

    const ids: string[] = [];
    for (const name of ["d/1", "d/2", "e", "d/1", "f/g/h"]) {
      ids.push(await layer.newMultipartUpload(BUCKET, name, {}));
    }
    const all = await layer.listMultipartUploads(BUCKET, { maxUploads: 100 });
    assertEquals(all.uploads.map((u) => u.object), ["d/1", "d/1", "d/2", "e", "f/g/h"]);
    const folded = await layer.listMultipartUploads(BUCKET, { delimiter: "/", maxUploads: 100 });
    assertEquals(folded.uploads.map((u) => u.object), ["e"]);
    assertEquals(folded.prefixes, ["d/", "f/"]);
    const page1 = await layer.listMultipartUploads(BUCKET, { maxUploads: 2 });
    assert(page1.isTruncated);
    assertEquals(page1.nextKeyMarker, "d/1");
    const page2 = await layer.listMultipartUploads(BUCKET, {
      maxUploads: 2,
      keyMarker: page1.nextKeyMarker,
      uploadIdMarker: page1.nextUploadIdMarker,
    });
    assertEquals(page2.uploads.map((u) => u.object), ["d/2", "e"]);
    const prefixed = await layer.listMultipartUploads(BUCKET, { prefix: "f/", maxUploads: 10 });
    assertEquals(prefixed.uploads.map((u) => u.uploadId), [ids[4]]);

    await layer.abortMultipartUpload(BUCKET, "e", ids[2]);
    await assertRejects(() => layer.abortMultipartUpload(BUCKET, "e", ids[2]), NoSuchUpload);
    await assertRejects(
      () => layer.listObjectParts(BUCKET, "e", ids[2], { maxParts: 10 }),
      NoSuchUpload,
    );
    // An upload id belongs to its object.
    await assertRejects(() => layer.getMultipartUpload(BUCKET, "d/2", ids[0]), NoSuchUpload);
    assertEquals((await layer.listMultipartUploads(BUCKET, { maxUploads: 100 })).uploads.length, 4);
  } finally {
    await env.close();
  }
});

Deno.test("multipart: a repeated Complete returns the first result until its record expires", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const layer = env.layer;
    const complete = async (key: string) => {
      const id = await layer.newMultipartUpload(BUCKET, key, { "x-amz-meta-a": "1" });
      const part = await uploadPart(layer, key, id, 1, testBytes(100));
      const parts = [{ number: 1, etag: `"${part.etag}"` }];
      const info = await layer.completeMultipartUpload(BUCKET, key, id, parts);
      const again = () => layer.completeMultipartUpload(BUCKET, key, id, parts);
      const records = env.paths[0].map((drive) =>
        `${drive}/.flashstor.sys/multipart/${BUCKET}/completed/${id}.json`
      );
      return { info, again, records };
    };
    const first = await complete("r");
    assertEquals(await first.again(), first.info);
    // Expired records are void, and removed once read. One expiry for all: records that
    // differ (a clock tick between two writes) have no read quorum.
    const expired = Date.now() - 1;
    for (const file of first.records) {
      const record = JSON.parse(await Deno.readTextFile(file));
      await Deno.writeTextFile(file, JSON.stringify({ ...record, expires: expired }));
    }
    await assertRejects(first.again, NoSuchUpload);
    for (const file of first.records) {
      await assertRejects(() => Deno.stat(file), Deno.errors.NotFound);
    }

    const second = await complete("s");
    const set = layer.sets[0];
    assertEquals(await sweepCompletedUploads(set), 0);
    assertEquals(await second.again(), second.info);
    assertEquals(await sweepCompletedUploads(set, Date.now() + COMPLETED_UPLOAD_TTL_MS), 4);
    await assertRejects(second.again, NoSuchUpload);
  } finally {
    await env.close();
  }
});

Deno.test("multipart: a Complete repeated after a crash before its cleanup does not write again", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const layer = env.layer;
    const id = await layer.newMultipartUpload(BUCKET, "c", {});
    const part = await uploadPart(layer, "c", id, 1, testBytes(100));
    const parts = [{ number: 1, etag: part.etag }];
    const root = (drive: string) => `${drive}/.flashstor.sys/multipart/${BUCKET}`;
    const hash = [...Deno.readDirSync(root(env.paths[0][0]))][0].name;
    const records = new Map<string, Uint8Array>();
    for (const drive of env.paths[0]) {
      for (const name of ["upload.json", "part.1.json"]) {
        const file = `${root(drive)}/${hash}/${id}/${name}`;
        records.set(file, await Deno.readFile(file));
      }
    }
    const first = await layer.completeMultipartUpload(BUCKET, "c", id, parts);
    // The state a crash after the commit leaves: the upload's records, no completion record.
    for (const [file, bytes] of records) {
      await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(file, bytes);
    }
    for (const drive of env.paths[0]) {
      await Deno.remove(`${root(drive)}/completed`, { recursive: true });
    }
    const again = await layer.completeMultipartUpload(BUCKET, "c", id, parts);
    assertEquals(again, first);
    assertEquals(await layer.getObjectInfo(BUCKET, "c"), first);
    await assertRejects(() => layer.getMultipartUpload(BUCKET, "c", id), NoSuchUpload);
    assertEquals(await layer.completeMultipartUpload(BUCKET, "c", id, parts), first);
  } finally {
    await env.close();
  }
});

Deno.test("multipart: a part whose lock wait is abandoned gives back the upload's lock (Abort still works)", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const id = await env.layer.newMultipartUpload(BUCKET, "held", {});
    // A first upload of part 1 holds its lock while its body trickles.
    let feed!: ReadableStreamDefaultController<Uint8Array>;
    const slow = new ReadableStream<Uint8Array>({ start: (c) => void (feed = c) });
    const first = env.layer.putObjectPart(BUCKET, "held", id, 1, slow, {
      size: 1,
      metadata: {},
    }).catch((err) => err);
    await new Promise((r) => setTimeout(r, 50));
    // A second upload of part 1 whose client left while it waited for that lock.
    await assertRejects(
      () =>
        env.layer.putObjectPart(BUCKET, "held", id, 1, streamOf(new Uint8Array(1)), {
          size: 1,
          metadata: {},
          signal: AbortSignal.abort(),
        }),
      LockTimeout,
    );
    feed.enqueue(new Uint8Array(1));
    feed.close();
    await first;
    // With the upload's read lock leaked, Abort (its write lock) would wait for ever.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      env.layer.abortMultipartUpload(BUCKET, "held", id).then(() => "aborted"),
      new Promise((r) => timer = setTimeout(r, 10_000, "still waiting")),
    ]);
    clearTimeout(timer);
    assertEquals(outcome, "aborted");
  } finally {
    await env.close();
  }
});
