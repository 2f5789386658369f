/**
 * Shallow and deep heals: a shallow heal checks metadata and each shard file's presence and
 * size (no block is read), a deep heal reads every block of every shard, parity included.
 * Rot inside a parity shard keeps its size, so only the deep heal finds and rewrites it. Heals
 * cover every version of an object, delete markers included, and remove the versions a drive
 * kept after the others removed them.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ObjectDeleted } from "../src/object/errors.ts";
import { healObject } from "../src/object/heal.ts";
import type { BucketVersioning } from "../src/object/layer.ts";
import type { Pools } from "../src/object/pools.ts";
import { decodeXlMeta } from "../src/storage/xl-meta.ts";
import {
  BUCKET,
  deployment,
  equalBytes,
  get,
  put,
  readAll,
  testBytes,
} from "./fixtures/object_env.ts";
import { partPath, resealMeta } from "./fault_util.ts";

const SIZE = 3 * 1024 * 1024 + 5;

/** Drives (of the set of 4, parity 2) holding the parity shards (indices 3 and 4) of `name`. */
function parityDrives(distribution: number[]): number[] {
  return distribution.flatMap((index, drive) => (index > 2 ? [drive] : []));
}

Deno.test("heal depth: parity rot is found by a deep heal only; missing and truncated shards by both", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const set = d.layer.sets[0];
    const data = testBytes(SIZE, 7);
    await put(d.layer, "obj", data);
    const parity = parityDrives(set.distribution("obj"));
    const files = await Promise.all(parity.map((i) => partPath(d.paths[0][i], BUCKET, "obj")));
    const originals = await Promise.all(files.map((f) => Deno.readFile(f)));
    for (const f of files) {
      const bytes = await Deno.readFile(f);
      bytes[100] ^= 0xff; // inside the first block of each parity shard
      bytes[bytes.byteLength - 3] ^= 0x55; // and the last
      await Deno.writeFile(f, bytes);
    }
    assert(equalBytes(await get(d.layer, "obj"), data), "GET reads data shards only");
    assertEquals(
      (await healObject(set, BUCKET, "obj", { deep: false })).healedDrives,
      [],
      "a shallow heal reads no block",
    );
    const deep = await healObject(set, BUCKET, "obj", { deep: true });
    assertEquals(deep.healedDrives.sort(), parity.map((i) => d.paths[0][i]).sort());
    for (const drive of deep.healedDrives) assertEquals(deep.reasons?.[drive], "bitrot");
    const healed = await Promise.all(parity.map((i) => partPath(d.paths[0][i], BUCKET, "obj")));
    for (const [i, f] of healed.entries()) {
      assert(equalBytes(await Deno.readFile(f), originals[i]), `${f} rewritten as encoded`);
    }
    assertEquals((await healObject(set, BUCKET, "obj", { deep: true })).healedDrives, []);

    // A missing and a truncated shard file: a shallow heal is enough.
    const [gone, short] = await Promise.all(
      [0, 1].map((i) => partPath(d.paths[0][i], BUCKET, "obj")),
    );
    await Deno.remove(gone);
    await Deno.truncate(short, 1000);
    const shallow = await healObject(set, BUCKET, "obj", { deep: false });
    assertEquals(shallow.reasons, { [d.paths[0][0]]: "missing", [d.paths[0][1]]: "size" });
    assertEquals((await healObject(set, BUCKET, "obj", { deep: true })).healedDrives, []);
    assert(equalBytes(await get(d.layer, "obj"), data));
  } finally {
    await d.close();
  }
});

Deno.test("heal depth: an inline object's rotted shard is rewritten by a deep heal only", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const set = d.layer.sets[0];
    const data = testBytes(5000, 3);
    await put(d.layer, "small", data);
    const drive = parityDrives(set.distribution("small"))[0];
    const meta = `${d.paths[0][drive]}/${BUCKET}/small/xl.meta`;
    const bytes = await Deno.readFile(meta);
    // The inline shard sits before the 4-byte trailer; flip a byte of it and reseal the CRC.
    bytes[bytes.byteLength - 10] ^= 0xff;
    resealMeta(bytes);
    await Deno.writeFile(meta, bytes);
    assertEquals((await healObject(set, BUCKET, "small", { deep: false })).healedDrives, []);
    const deep = await healObject(set, BUCKET, "small", { deep: true });
    assertEquals(deep.reasons, { [d.paths[0][drive]]: "bitrot" });
    assert(equalBytes(await get(d.layer, "small"), data));
  } finally {
    await d.close();
  }
});

const ENABLED: BucketVersioning = { versioning: () => Promise.resolve("Enabled") };

/** The version ids of `key` in a drive's own xl.meta, newest first ([] when it has none). */
async function driveVersions(drive: string, key: string): Promise<string[]> {
  const raw = await Deno.readFile(`${drive}/${BUCKET}/${key}/xl.meta`).catch(() => undefined);
  return raw ? decodeXlMeta(raw).versions.map((v) => v.versionId) : [];
}

/** A version's data dir, from a drive's xl.meta. */
async function dataDirOf(drive: string, key: string, versionId: string): Promise<string> {
  const meta = decodeXlMeta(await Deno.readFile(`${drive}/${BUCKET}/${key}/xl.meta`));
  return meta.versions.find((v) => v.versionId === versionId)!.dataDir;
}

async function getVersion(layer: Pools, key: string, versionId: string): Promise<Uint8Array> {
  return await readAll((await layer.getObject(BUCKET, key, { versionId })).body);
}

Deno.test("heal: every version and delete marker comes back on a wiped drive", async () => {
  const d = await deployment(1, 4, 2);
  try {
    d.layer.setBucketVersioning(ENABLED);
    const written = new Map<string, Uint8Array>();
    for (const [i, size] of [600_000, 3000, 0, 700_001].entries()) {
      const data = testBytes(size, i + 1);
      written.set((await put(d.layer, "doc", data)).versionId, data);
      if (i === 1) await d.layer.deleteObject(BUCKET, "doc");
    }
    const ids = await driveVersions(d.paths[0][0], "doc");
    assertEquals(ids.length, 5);
    const wiped = d.paths[0][3];
    await Deno.remove(`${wiped}/${BUCKET}`, { recursive: true });
    await Deno.mkdir(`${wiped}/${BUCKET}`);
    const healed = await healObject(d.layer.sets[0], BUCKET, "doc", { deep: false });
    assertEquals(healed.reasons, { [wiped]: "metadata" });
    assertEquals(await driveVersions(wiped, "doc"), ids);
    assertEquals(
      (await healObject(d.layer.sets[0], BUCKET, "doc", { deep: true })).healedDrives,
      [],
    );
    // Two drives away: every version reads back from the healed drive and one other.
    const view = await d.open((_s, i) => i === 0 || i === 1);
    for (const [versionId, data] of written) {
      assert(equalBytes(await getVersion(view, "doc", versionId), data), versionId);
    }
    const marker = ids.find((id) => !written.has(id))!;
    const err = await assertRejects(
      () => view.getObjectInfo(BUCKET, "doc", { versionId: marker }),
      ObjectDeleted,
    );
    assertEquals([err.versionId, err.named], [marker, true]);
  } finally {
    await d.close();
  }
});

Deno.test("heal depth: rot in an old version's parity shards is found by a deep heal only", async () => {
  const d = await deployment(1, 4, 2);
  try {
    d.layer.setBucketVersioning(ENABLED);
    const set = d.layer.sets[0];
    const old = testBytes(SIZE, 11);
    const { versionId } = await put(d.layer, "obj", old);
    await put(d.layer, "obj", testBytes(SIZE, 12));
    const parity = parityDrives(set.distribution("obj"));
    const files = await Promise.all(parity.map(async (i) => {
      const drive = d.paths[0][i];
      return `${drive}/${BUCKET}/obj/${await dataDirOf(drive, "obj", versionId)}/part.1`;
    }));
    const originals = await Promise.all(files.map((f) => Deno.readFile(f)));
    for (const f of files) {
      const bytes = await Deno.readFile(f);
      bytes[70_000] ^= 0x0f;
      await Deno.writeFile(f, bytes);
    }
    assertEquals((await healObject(set, BUCKET, "obj", { deep: false })).healedDrives, []);
    const deep = await healObject(set, BUCKET, "obj", { deep: true });
    assertEquals(deep.reasons, Object.fromEntries(parity.map((i) => [d.paths[0][i], "bitrot"])));
    for (const [i, f] of files.entries()) {
      assert(equalBytes(await Deno.readFile(f), originals[i]), `${f} rewritten as encoded`);
    }
    // The data drives away: the old version reads from the rewritten parity alone.
    const view = await d.open((_s, i) => !parity.includes(i));
    assert(equalBytes(await getVersion(view, "obj", versionId), old));
  } finally {
    await d.close();
  }
});

Deno.test("heal: a version removed while a drive was away goes from it; one written or changed meanwhile comes", async () => {
  const d = await deployment(1, 4, 2);
  try {
    d.layer.setBucketVersioning(ENABLED);
    const first = await put(d.layer, "k", testBytes(600_000, 1));
    const second = await put(d.layer, "k", testBytes(100, 2));
    const away = d.paths[0][3];
    const firstDir = `${away}/${BUCKET}/k/${await dataDirOf(away, "k", first.versionId)}`;
    const view = await d.open((_s, i) => i === 3);
    view.setBucketVersioning(ENABLED);
    await view.deleteObject(BUCKET, "k", { versionId: first.versionId });
    const third = await put(view, "k", testBytes(200, 3));
    const tag = (m: Record<string, string>) => ({ ...m, "x-amz-tagging": "k=v" });
    await view.updateObjectMetadata(BUCKET, "k", tag, { versionId: second.versionId });
    assertEquals(await driveVersions(away, "k"), [second.versionId, first.versionId]);
    // Healed before anything lists or reads it: those would queue a heal of their own.
    const healed = await healObject(d.layer.sets[0], BUCKET, "k", { deep: false });
    assertEquals(healed.healedDrives, [away]);
    assertEquals(await driveVersions(away, "k"), [third.versionId, second.versionId]);
    assertEquals(await Deno.stat(firstDir).then(() => true, () => false), false);
    // The version whose metadata changed meanwhile is replaced by the changed one.
    const meta = decodeXlMeta(await Deno.readFile(`${away}/${BUCKET}/k/xl.meta`));
    assertEquals(meta.versions[1].metadata["x-amz-tagging"], "k=v");
    const listed = await d.layer.listObjectVersions(BUCKET, { maxKeys: 10 });
    assertEquals(listed.versions.map((v) => v.versionId), [third.versionId, second.versionId]);
    assertEquals((await healObject(d.layer.sets[0], BUCKET, "k", { deep: true })).healedDrives, []);
  } finally {
    await d.close();
  }
});
