/**
 * The maintenance walk finds every object name any drive holds (an object on a single drive
 * included), in S3 key order, resumable, bucket by bucket; listings would hide those.
 */
import { assertEquals } from "./helpers/assert.ts";
import { BUCKET, deployment, put, testBytes } from "./fixtures/object_env.ts";
import { setBuckets, walkBucket, walkSet } from "../src/object/namespace-walk.ts";
import type { ErasureSet } from "../src/object/erasure-set.ts";

/** Key → drives (of the one set of 4) that keep it; the others lose its directory. */
const KEEP: Record<string, number[]> = {
  "a": [0, 1, 2, 3],
  "a-c": [1],
  "a/b": [3],
  "a/b/": [2],
  "ab": [0, 3],
  "dir/": [0],
  "dir/x": [0, 1, 2, 3],
  "large": [2],
  "z/y/x": [1, 2],
};

async function planted() {
  const d = await deployment(1, 4, 2);
  for (const [key, keep] of Object.entries(KEEP)) {
    await put(d.layer, key, testBytes(key === "large" ? 300_000 : 100, key.length));
    for (let drive = 0; drive < 4; drive++) {
      if (keep.includes(drive)) continue;
      const stored = key.endsWith("/") ? key.slice(0, -1) + "__XLDIR__" : key;
      const dir = `${d.paths[0][drive]}/${BUCKET}/${stored}`;
      // Nested objects live below their parent's directory: remove only its own entries.
      for await (const e of Deno.readDir(dir)) {
        if (e.name === "xl.meta" || e.name.endsWith("__XLDATA__")) {
          await Deno.remove(`${dir}/${e.name}`, { recursive: true });
        }
      }
    }
  }
  return d;
}

async function names(set: ErasureSet, options = {}) {
  const out: { name: string; on: number[] }[] = [];
  for await (const o of walkBucket(set, BUCKET, options)) {
    out.push({ name: o.name, on: o.on.flatMap((on, i) => (on ? [i] : [])) });
  }
  return out;
}

const ALL = Object.keys(KEEP);

Deno.test("namespace walk: the union of every drive's objects, in key order, with who holds each", async () => {
  const d = await planted();
  try {
    const got = await names(d.layer.sets[0]);
    assertEquals(got.map((o) => o.name), ALL);
    for (const o of got) assertEquals(o.on, KEEP[o.name], o.name);
    // A listing shows only what a read quorum (2) holds.
    const listed = (await d.layer.listObjects(BUCKET, { maxKeys: 100 })).objects.map((o) => o.name);
    assertEquals(listed, ALL.filter((k) => KEEP[k].length >= 2));
  } finally {
    await d.close();
  }
});

Deno.test("namespace walk: prefix and startAfter (resume) select the same names a full walk gives", async () => {
  const d = await planted();
  try {
    const set = d.layer.sets[0];
    assertEquals((await names(set, { prefix: "a" })).map((o) => o.name), [
      "a",
      "a-c",
      "a/b",
      "a/b/",
      "ab",
    ]);
    assertEquals((await names(set, { prefix: "dir/" })).map((o) => o.name), ["dir/", "dir/x"]);
    for (const [i, after] of ALL.entries()) {
      const rest = (await names(set, { startAfter: after })).map((o) => o.name);
      assertEquals(rest, ALL.slice(i + 1), `after ${after}`);
    }
  } finally {
    await d.close();
  }
});

Deno.test("namespace walk: an offline drive is left out and reported as not walked", async () => {
  const d = await planted();
  try {
    const layer = await d.open((_s, drive) => drive === 2);
    const seen: string[] = [];
    for await (const o of walkBucket(layer.sets[0], BUCKET)) {
      seen.push(o.name);
      assertEquals(o.walked, [true, true, false, true], o.name);
      assertEquals(o.on[2], false);
    }
    assertEquals(seen, ALL.filter((k) => KEEP[k].some((drive) => drive !== 2)));
  } finally {
    await d.close();
  }
});

Deno.test("namespace walk: every bucket of a set, a bucket on one drive included, resumable", async () => {
  const d = await planted();
  try {
    const set = d.layer.sets[0];
    // "lonely" exists on drive 3 only (a bucket create that crashed, or a drive that kept it).
    await Deno.mkdir(`${d.paths[0][3]}/lonely/k`, { recursive: true });
    await Deno.copyFile(
      `${d.paths[0][3]}/${BUCKET}/a/xl.meta`,
      `${d.paths[0][3]}/lonely/k/xl.meta`,
    );
    assertEquals(await setBuckets(set), [BUCKET, "lonely"]);
    const all: string[] = [];
    for await (const o of walkSet(set)) all.push(`${o.bucket}/${o.name}`);
    assertEquals(all, [...ALL.map((k) => `${BUCKET}/${k}`), "lonely/k"]);
    const rest: string[] = [];
    for await (const o of walkSet(set, { after: { bucket: BUCKET, object: "dir/x" } })) {
      rest.push(`${o.bucket}/${o.name}`);
    }
    assertEquals(rest, [`${BUCKET}/large`, `${BUCKET}/z/y/x`, "lonely/k"]);
  } finally {
    await d.close();
  }
});
