/**
 * ListObjects against a sorted reference: prefix, delimiter, marker and maxKeys pagination
 * across two sets, folder markers in S3 order, and the same answers with m drives of every set
 * empty or offline.
 */
import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { BucketNotEmpty, BucketNotFound } from "../src/object/errors.ts";
import type { ListObjectsOptions } from "../src/object/layer.ts";
import type { Pools } from "../src/object/pools.ts";
import { compareKeys } from "../src/storage/paths.ts";
import { BUCKET, deployment, put, streamOf, testBytes } from "./fixtures/object_env.ts";

const KEYS = [
  "a",
  "a-c",
  "a/",
  "a/b",
  "a/b/",
  "a/b/c",
  "a/b0",
  "ab",
  "b/x/",
  "b/x/y/z",
  "b/x0",
  "c\u00e9",
  "c\uE000",
  "c\u{1F600}",
  "empty/",
  "empty-a",
  "empty0",
  "deep/1/2/3/4/5/file",
  "f/g/",
  "f/h/i/",
  ...Array.from({ length: 120 }, (_, i) => `big/${String(i).padStart(4, "0")}`),
  ...Array.from({ length: 30 }, (_, i) => `big/sub${i % 3}/${i}`),
  "zz/",
  "zz/0",
].sort(compareKeys);

interface Page {
  objects: string[];
  prefixes: string[];
  isTruncated: boolean;
  nextMarker?: string;
}

function reference(options: ListObjectsOptions): Page {
  const prefix = options.prefix ?? "";
  const marker = options.marker ?? "";
  const entries: { key: string; common: boolean }[] = [];
  for (const key of KEYS) {
    if (!key.startsWith(prefix)) continue;
    const cut = options.delimiter ? key.indexOf(options.delimiter, prefix.length) : -1;
    const entry = cut >= 0
      ? { key: key.slice(0, cut + options.delimiter!.length), common: true }
      : { key, common: false };
    if (compareKeys(entry.key, marker) <= 0 || entries.at(-1)?.key === entry.key) continue;
    entries.push(entry);
  }
  const page = entries.slice(0, options.maxKeys);
  const isTruncated = entries.length > options.maxKeys;
  return {
    objects: page.filter((e) => !e.common).map((e) => e.key),
    prefixes: page.filter((e) => e.common).map((e) => e.key),
    isTruncated,
    nextMarker: isTruncated ? page.at(-1)?.key : undefined,
  };
}

async function assertPaginates(layer: Pools, base: Omit<ListObjectsOptions, "marker">) {
  let marker: string | undefined;
  for (let page = 0; page < 500; page++) {
    const options = { ...base, marker };
    const got = await layer.listObjects(BUCKET, options);
    const actual: Page = {
      objects: got.objects.map((o) => o.name),
      prefixes: got.prefixes,
      isTruncated: got.isTruncated,
      nextMarker: got.nextMarker,
    };
    assertEquals(actual, reference(options), JSON.stringify(options));
    if (!got.isTruncated) return;
    marker = got.nextMarker;
  }
  throw new Error("pagination did not end");
}

const CASES: Omit<ListObjectsOptions, "marker">[] = [];
for (const prefix of ["", "a", "a/", "b/x/", "big/", "empty", "c", "f/", "nothing"]) {
  for (const delimiter of ["", "/"]) {
    for (const maxKeys of [3, 1000]) CASES.push({ prefix, delimiter, maxKeys });
  }
}
CASES.push({ prefix: "", delimiter: "/", maxKeys: 1 }, {
  prefix: "big/",
  delimiter: "",
  maxKeys: 7,
});

Deno.test("listObjects paginates like the sorted reference, also with m drives empty or offline", async () => {
  const env = await deployment(2, 4, 2);
  try {
    for (const [i, key] of KEYS.entries()) await put(env.layer, key, testBytes(i % 5, i));
    assertEquals(
      (await env.layer.listObjects(BUCKET, { maxKeys: 1000 })).objects[2].etag,
      (await env.layer.getObjectInfo(BUCKET, KEYS[2])).etag,
    );
    for (const c of CASES) await assertPaginates(env.layer, c);

    const offline = await env.open((_s, d) => d === 1 || d === 2);
    for (const c of CASES) await assertPaginates(offline, c);

    for (const set of env.paths) {
      for (const drive of [set[0], set[3]]) {
        await Deno.remove(`${drive}/${BUCKET}`, { recursive: true });
        await Deno.mkdir(`${drive}/${BUCKET}`);
      }
    }
    const emptied = await env.open();
    for (const c of CASES) await assertPaginates(emptied, c);
  } finally {
    await env.close();
  }
});

Deno.test("buckets: list, info, delete only when empty", async () => {
  const env = await deployment(2, 4, 2);
  try {
    await env.layer.makeBucket("second");
    assertEquals((await env.layer.listBuckets()).map((b) => b.name), [BUCKET, "second"]);
    await put(env.layer, "x/y", testBytes(10));
    await assertRejects(() => env.layer.deleteBucket(BUCKET), BucketNotEmpty);
    await env.layer.deleteBucket("second");
    await assertRejects(() => env.layer.getBucketInfo("second"), BucketNotFound);
    await assertRejects(() => env.layer.listObjects("second", { maxKeys: 1 }), BucketNotFound);
    await assertRejects(
      () => env.layer.putObject("second", "x", streamOf(testBytes(1)), { size: 1, metadata: {} }),
      BucketNotFound,
    );
    await assertRejects(() => env.layer.getObject("second", "x"), BucketNotFound);
    await env.layer.deleteObject(BUCKET, "x/y");
    await env.layer.deleteBucket(BUCKET);
    assertEquals(await env.layer.listBuckets(), []);
  } finally {
    await env.close();
  }
});
