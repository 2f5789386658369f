/**
 * Shallow and deep heals: a shallow heal checks metadata and each shard file's presence and
 * size (no block is read), a deep heal reads every block of every shard, parity included.
 * Rot inside a parity shard keeps its size, so only the deep heal finds and rewrites it.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { healObject } from "../src/object/heal.ts";
import { BUCKET, deployment, equalBytes, get, put, testBytes } from "./fixtures/object_env.ts";
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
