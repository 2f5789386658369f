/**
 * Listing reads each object's metadata from some drives only (a rotation picked per listing)
 * and falls back to the other drives when those do not agree: whichever drives hold the
 * damaged copies, an object is listed exactly when a read quorum of drives agree, and as the
 * version GET reads.
 */
import { assertEquals } from "./helpers/assert.ts";
import { BUCKET, deployment, put, testBytes } from "./fixtures/object_env.ts";
import { decodeXlMeta } from "../src/storage/xl-meta.ts";

/** Key → drives (of the one set of 4) whose xl.meta gets damaged. */
const DAMAGE: Record<string, number[]> = {
  "intact": [],
  "one-bad": [0],
  "two-bad": [1, 2],
  "two-bad-apart": [0, 3],
  "three-bad": [0, 1, 3],
  "large-two-bad": [2, 3],
};
/** An object too large to be stored inline (its shard files sit in a data dir). */
const LARGE = "large-two-bad";

Deno.test("listing: an object is listed iff a read quorum of drives agree, whichever drives are damaged", async () => {
  const d = await deployment(1, 4, 2);
  try {
    for (const key of Object.keys(DAMAGE)) {
      await put(d.layer, key, testBytes(key === LARGE ? 300_000 : 1000, key.length));
    }
    const expected = Object.entries(DAMAGE).filter(([, bad]) => 4 - bad.length >= 2)
      .map(([key]) => key).sort();
    // Listings pick their quorum of drives at random: enough rounds meet every rotation.
    for (let round = 0; round < 16; round++) {
      await d.layer.healQueue.idle();
      for (const [key, bad] of Object.entries(DAMAGE)) {
        for (const drive of bad) await garble(`${d.paths[0][drive]}/${BUCKET}/${key}/xl.meta`);
      }
      const page = await d.layer.listObjects(BUCKET, { maxKeys: 1000 });
      assertEquals(page.objects.map((o) => o.name), expected, `round ${round}`);
      const sizes = Object.fromEntries(page.objects.map((o) => [o.name, o.size]));
      assertEquals(sizes[LARGE], 300_000);
    }
  } finally {
    await d.close();
  }
});

Deno.test("listing: a newer version on just a read quorum of drives is listed as GET reads it", async () => {
  // A write cut off after reaching two drives of four: old and new each have a read quorum.
  const d = await deployment(1, 4, 2);
  const metaOn = (drive: number) => `${d.paths[0][drive]}/${BUCKET}/key/xl.meta`;
  try {
    await put(d.layer, "key", testBytes(1000, 1));
    const old = await Promise.all([0, 1].map((i) => Deno.readFile(metaOn(i))));
    await new Promise((r) => setTimeout(r, 5)); // newer by its modification time
    await put(d.layer, "key", testBytes(2000, 2));
    for (let round = 0; round < 16; round++) {
      await d.layer.healQueue.idle();
      await Promise.all([0, 1].map((i) => Deno.writeFile(metaOn(i), old[i])));
      const head = await d.layer.getObjectInfo(BUCKET, "key");
      assertEquals(head.size, 2000);
      const page = await d.layer.listObjects(BUCKET, { maxKeys: 1000 });
      assertEquals(page.objects.map((o) => [o.name, o.size, o.etag]), [["key", 2000, head.etag]]);
    }
  } finally {
    await d.close();
  }
});

Deno.test("heal: of two states of one null version, each on a read quorum, the newer is completed", async () => {
  const d = await deployment(1, 4, 2);
  const metaOn = (drive: number) => `${d.paths[0][drive]}/${BUCKET}/key/xl.meta`;
  try {
    await put(d.layer, "key", testBytes(1000, 1));
    const old = await Promise.all([0, 1].map((i) => Deno.readFile(metaOn(i))));
    await new Promise((r) => setTimeout(r, 5));
    await put(d.layer, "key", testBytes(2000, 2));
    await d.layer.healQueue.idle();
    await Promise.all([0, 1].map((i) => Deno.writeFile(metaOn(i), old[i])));
    await d.layer.healObject(BUCKET, "key");
    // Every drive now holds the newer state alone: no read quorum can pick the older one.
    for (let drive = 0; drive < 4; drive++) {
      const { versions } = decodeXlMeta(await Deno.readFile(metaOn(drive)));
      assertEquals(versions.map((v) => v.size), [2000], `drive ${drive}`);
    }
    assertEquals((await d.layer.getObjectInfo(BUCKET, "key")).size, 2000);
  } finally {
    await d.close();
  }
});

/** Replaces a file that exists (healing may have removed it) with bytes that do not parse. */
async function garble(path: string): Promise<void> {
  const exists = await Deno.stat(path).then(() => true, () => false);
  if (exists) await Deno.writeTextFile(path, "FSXL, but not xl.meta");
}
