/**
 * Object-layer edges: streamed bodies of unknown size, short bodies, final metadata, batch
 * deletes, concurrent writers and readers of one key, namespace locks, the heal queue, and
 * storage info.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { IncompleteBody, ObjectNotFound } from "../src/object/errors.ts";
import { HealQueue } from "../src/object/mrf.ts";
import { NamespaceLocks } from "../src/object/ns-lock.ts";
import {
  BUCKET,
  deployment,
  equalBytes,
  get,
  md5hex,
  put,
  streamOf,
  testBytes,
} from "./fixtures/object_env.ts";

const MiB = 1024 * 1024;

Deno.test("unknown-size bodies, short bodies and final metadata", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const data = testBytes(2 * MiB + 3, 4);
    const info = await env.layer.putObject(BUCKET, "streamed", streamOf(data, 77_777), {
      size: -1,
      metadata: { "content-type": "a/b" },
      finalMetadata: () => ({ "x-amz-checksum-crc32": "abcd" }),
    });
    assertEquals(info.etag, md5hex(data));
    assertEquals(info.size, data.byteLength);
    assertEquals((await env.layer.getObjectInfo(BUCKET, "streamed")).metadata, {
      "content-type": "a/b",
      "x-amz-checksum-crc32": "abcd",
    });
    assert(equalBytes(await get(env.layer, "streamed"), data));

    const empty = await env.layer.putObject(BUCKET, "empty", streamOf(new Uint8Array(0)), {
      size: -1,
      metadata: {},
    });
    assertEquals(empty.etag, md5hex(new Uint8Array(0)));
    assertEquals((await get(env.layer, "empty")).byteLength, 0);

    // Announced sizes that the body does not match abort the put and keep the old object.
    for (const [size, announced] of [[100, 200], [3 * MiB, 3 * MiB + 1], [300, 100]]) {
      await assertRejects(
        () =>
          env.layer.putObject(BUCKET, "streamed", streamOf(testBytes(size, 9)), {
            size: announced,
            metadata: {},
          }),
        IncompleteBody,
      );
      assert(equalBytes(await get(env.layer, "streamed"), data));
    }
    for (const drive of env.paths[0]) {
      assertEquals([...Deno.readDirSync(`${drive}/.flashstor.sys/tmp`)].length, 0);
    }
  } finally {
    await env.close();
  }
});

Deno.test("deleteObjects reports per key; storage info and writability", async () => {
  const env = await deployment(2, 4, 2);
  try {
    await put(env.layer, "a", testBytes(10));
    await put(env.layer, "b/c", testBytes(10));
    const results = await env.layer.deleteObjects(
      BUCKET,
      ["a", "b/c", "missing", "bad//name"].map((name) => ({ name })),
    );
    assertEquals(results.map((r) => [r.name, r.error?.name]), [
      ["a", undefined],
      ["b/c", undefined],
      ["missing", undefined],
      ["bad//name", "InvalidObjectName"],
    ]);
    await assertRejects(() => env.layer.getObjectInfo(BUCKET, "a"), ObjectNotFound);
    const info = await env.layer.storageInfo();
    assertEquals(info.sets, [
      { dataShards: 2, parityShards: 2, drives: 4 },
      { dataShards: 2, parityShards: 2, drives: 4 },
    ]);
    assertEquals(info.drives.length, 8);
    assert(info.drives.every((d) => d.online && d.total > 0));
    assert(await env.layer.isWritable());
    const degraded = await env.open((s, d) => s === 1 && d < 2);
    assert(!await degraded.isWritable());
    assertEquals((await degraded.storageInfo()).drives.filter((d) => !d.online).length, 2);
  } finally {
    await env.close();
  }
});

Deno.test("concurrent overwrites and reads of one key never mix versions", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const versions = [1, 2, 3, 4].map((seed) => testBytes(MiB + 100 * seed, seed));
    await put(env.layer, "hot", versions[0]);
    const writers = versions.map((v) => put(env.layer, "hot", v));
    const readers = Array.from({ length: 8 }, async () => {
      const got = await get(env.layer, "hot");
      assert(versions.some((v) => equalBytes(v, got)), "a read returned a mix");
    });
    await Promise.all([...writers, ...readers]);
    const final = await get(env.layer, "hot");
    assert(versions.some((v) => equalBytes(v, final)));
    // Only the last committed data dir is left on each drive.
    for (const drive of env.paths[0]) {
      const dirs = [...Deno.readDirSync(`${drive}/${BUCKET}/hot`)].filter((e) => e.isDirectory);
      assertEquals(dirs.length, 1);
    }
  } finally {
    await env.close();
  }
});

Deno.test("namespace locks: readers share, writers exclude, arrival order is kept", async () => {
  const locks = new NamespaceLocks();
  const events: string[] = [];
  const r1 = await locks.read("k");
  const r2 = await locks.read("k");
  const w = locks.write("k").then((release) => {
    events.push("w");
    return release;
  });
  const r3 = locks.read("k").then((release) => {
    events.push("r3");
    return release;
  });
  const other = await locks.write("other");
  other();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assertEquals(events, []);
  r1();
  r2();
  const releaseW = await w;
  await new Promise((resolve) => setTimeout(resolve, 5));
  assertEquals(events, ["w"]);
  releaseW();
  (await r3)();
  assertEquals(events, ["w", "r3"]);
});

Deno.test("heal queue: deduplicated, bounded, drained, closed", async () => {
  const healed: string[] = [];
  let gate: () => void = () => {};
  const blocked = new Promise<void>((resolve) => gate = resolve);
  const queue = new HealQueue(async (bucket, object) => {
    if (object === "first") await blocked;
    healed.push(`${bucket}/${object}`);
  }, { capacity: 3 });
  queue.enqueue("b", "first");
  await new Promise((resolve) => setTimeout(resolve, 5));
  for (const o of ["x", "y", "x", "z", "w"]) queue.enqueue("b", o);
  assertEquals(queue.size, 3);
  gate();
  await queue.idle();
  assertEquals(healed, ["b/first", "b/x", "b/y", "b/z"]);
  await queue.close();
  queue.enqueue("b", "late");
  await queue.idle();
  assertEquals(healed.length, 4);
});

Deno.test("an empty xl.meta (a first write cut off by a crash) is absence, not corruption", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const data = testBytes(1000, 9);
    await put(env.layer, "cut", data);
    // Three drives got as far as creating xl.meta, one not even the object's directory.
    const [a, b, c, d] = env.paths[0];
    for (const drive of [a, b, c]) {
      await Deno.writeFile(`${drive}/${BUCKET}/cut/xl.meta`, new Uint8Array(0));
    }
    await Deno.remove(`${d}/${BUCKET}/cut`, { recursive: true });
    const reopened = await env.open();
    await assertRejects(() => reopened.getObjectInfo(BUCKET, "cut"), ObjectNotFound);
    const listed = await reopened.listObjects(BUCKET, { maxKeys: 1000 });
    assertEquals(listed.objects.map((o) => o.name), []);
    await put(reopened, "cut", data);
    assert(equalBytes(await get(reopened, "cut"), data));
  } finally {
    await env.close();
  }
});
