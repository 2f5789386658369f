/** Object layer round trips over real drives: put/get/head/copy/delete, ranges, inline or not. */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { InvalidRange, ObjectNotFound } from "../src/object/errors.ts";
import {
  BUCKET,
  deployment,
  equalBytes,
  filesBelow,
  get,
  md5hex,
  put,
  readAll,
  streamOf,
  testBytes,
} from "./fixtures/object_env.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZES = [0, 1, 127 * KiB, 129 * KiB, MiB - 1, MiB + 1, 10 * MiB + 7];
const LAYOUTS = [
  { name: "4 drives 2+2", sets: 1, drives: 4, parity: 2 },
  { name: "8 drives 4+4", sets: 1, drives: 8, parity: 4 },
  { name: "2 sets of 4 drives", sets: 2, drives: 4, parity: 2 },
];

for (const layout of LAYOUTS) {
  Deno.test(`object round trips, ${layout.name}`, async () => {
    const env = await deployment(layout.sets, layout.drives, layout.parity);
    const k = layout.drives - layout.parity;
    try {
      for (const size of SIZES) {
        const name = `dir/obj-${size}`;
        const data = testBytes(size, size + 1);
        const metadata = { "content-type": "application/x-test", "x-amz-meta-size": `${size}` };
        const info = await put(env.layer, name, data, metadata);
        assertEquals(info.etag, md5hex(data));
        assertEquals(info.size, size);

        const head = await env.layer.getObjectInfo(BUCKET, name);
        assertEquals(head.etag, md5hex(data));
        assertEquals(head.metadata, metadata);
        assertEquals(head.size, size);
        assert(equalBytes(await get(env.layer, name), data), `bytes of ${size}`);

        // Inline (shard ≤ 128 KiB): the object directory holds xl.meta only.
        const set = env.layer.sets.indexOf(env.layer.setOf(name));
        const files = await filesBelow(`${env.paths[set][0]}/${BUCKET}/${name}`);
        const inline = Math.ceil(size / k) <= 128 * KiB;
        assertEquals(files.length === 1, inline, `${size}: ${files.join(",")}`);

        for (const [start, end] of ranges(size)) {
          const r = await env.layer.getObject(BUCKET, name, { range: { start, end } });
          const got = await readAll(r.body);
          assert(
            equalBytes(got, data.subarray(start, end + 1)),
            `range ${start}-${end} of ${size}`,
          );
        }
        await assertRejects(
          () => env.layer.getObject(BUCKET, name, { range: { start: size, end: size + 5 } }),
          InvalidRange,
        );

        const copy = await env.layer.copyObject(BUCKET, name, BUCKET, `copy/${size}`, {});
        assertEquals(copy.etag, info.etag);
        assertEquals((await env.layer.getObjectInfo(BUCKET, `copy/${size}`)).metadata, metadata);
        assert(equalBytes(await get(env.layer, `copy/${size}`), data));

        await env.layer.deleteObject(BUCKET, name);
        await assertRejects(() => env.layer.getObjectInfo(BUCKET, name), ObjectNotFound);
        await env.layer.deleteObject(BUCKET, name);
      }
    } finally {
      await env.close();
    }
  });
}

Deno.test("copy onto itself replaces metadata only; overwrite replaces data", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const big = testBytes(3 * MiB, 7);
    const first = await put(env.layer, "a", big, { "x-amz-meta-v": "1" });
    const copied = await env.layer.copyObject(BUCKET, "a", BUCKET, "a", {
      metadata: () => ({ "x-amz-meta-v": "2" }),
    });
    assertEquals(copied.etag, first.etag);
    assertEquals((await env.layer.getObjectInfo(BUCKET, "a")).metadata, { "x-amz-meta-v": "2" });
    assert(equalBytes(await get(env.layer, "a"), big));
    const dirs = await filesBelow(`${env.paths[0][0]}/${BUCKET}/a`);
    assertEquals(dirs.length, 2, dirs.join(","));

    const small = testBytes(10, 8);
    await put(env.layer, "a", small);
    assert(equalBytes(await get(env.layer, "a"), small));
    // The replaced data directory is gone: only the new (inline) xl.meta is left.
    for (const drive of env.paths[0]) {
      assertEquals(await filesBelow(`${drive}/${BUCKET}/a`), ["xl.meta"]);
    }
  } finally {
    await env.close();
  }
});

Deno.test("folder markers and nested objects coexist", async () => {
  const env = await deployment(1, 4, 2);
  try {
    await put(env.layer, "photos/", new Uint8Array(0));
    await put(env.layer, "photos", testBytes(5, 1));
    await put(env.layer, "photos/a.jpg", testBytes(6, 2));
    assertEquals((await env.layer.getObjectInfo(BUCKET, "photos/")).size, 0);
    assertEquals((await env.layer.getObjectInfo(BUCKET, "photos")).size, 5);
    assertEquals((await env.layer.getObjectInfo(BUCKET, "photos/a.jpg")).size, 6);
    await env.layer.deleteObject(BUCKET, "photos/");
    await assertRejects(() => env.layer.getObjectInfo(BUCKET, "photos/"), ObjectNotFound);
    assertEquals((await env.layer.getObjectInfo(BUCKET, "photos/a.jpg")).size, 6);
  } finally {
    await env.close();
  }
});

/** Inclusive ranges worth reading: edges, a stripe boundary, a single byte. */
function ranges(size: number): [number, number][] {
  if (size === 0) return [];
  const out: [number, number][] = [[0, 0], [size - 1, size - 1], [0, size - 1]];
  if (size > 2) out.push([1, size - 2]);
  if (size > MiB + 10) out.push([MiB - 5, MiB + 5], [3 * MiB + 17, size - 1]);
  return out;
}

Deno.test("every file a drive holds (shards, xl.meta, upload records) is its server's user's alone (0600)", async () => {
  const env = await deployment(1, 4, 2);
  try {
    await put(env.layer, "docs/inline", testBytes(100));
    await put(env.layer, "docs/large", testBytes(3 * 1024 * 1024));
    const id = await env.layer.newMultipartUpload(BUCKET, "docs/multi", {});
    await env.layer.putObjectPart(BUCKET, "docs/multi", id, 1, streamOf(testBytes(10)), {
      size: 10,
      metadata: {},
    });
    const open: string[] = [];
    const walk = async (dir: string) => {
      for await (const entry of Deno.readDir(dir)) {
        const path = `${dir}/${entry.name}`;
        if (entry.isDirectory) {
          await walk(path);
          continue;
        }
        const mode = (await Deno.lstat(path)).mode!;
        if ((mode & 0o077) !== 0) open.push(`${path} ${mode.toString(8)}`);
      }
    };
    for (const drive of env.paths.flat()) await walk(drive);
    assertEquals(open, []);
  } finally {
    await env.close();
  }
});
