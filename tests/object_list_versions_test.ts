/**
 * ListObjectVersions against a model of what was written (puts and deletes while versioning was
 * off, Enabled, Suspended): keys ascending, each key's versions newest first, isLatest, delete
 * markers, every page of key-marker/version-id-marker paging equal to a reference page, across
 * two sets and with m drives of every set offline. ListObjects shows only current versions that
 * are not delete markers; a bucket holding only versions or markers is not empty.
 */
import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { BucketNotEmpty, InvalidVersionId } from "../src/object/errors.ts";
import type {
  BucketVersioning,
  ListVersionsOptions,
  VersioningState,
} from "../src/object/layer.ts";
import type { Pools } from "../src/object/pools.ts";
import { compareKeys } from "../src/storage/paths.ts";
import { BUCKET, deployment, put, streamOf, testBytes } from "./fixtures/object_env.ts";

/** Bucket versioning states as the bucket-metadata store answers them. */
class States implements BucketVersioning {
  readonly states = new Map<string, VersioningState>();

  versioning(bucket: string): Promise<VersioningState | undefined> {
    return Promise.resolve(this.states.get(bucket));
  }
}

interface Entry {
  key: string;
  versionId: string;
  deleteMarker: boolean;
  /** Of a version; "" for a marker (not compared). */
  etag: string;
}

/** What was written: each key's versions, newest first, as AWS keeps them. */
class Model {
  readonly keys = new Map<string, Entry[]>();
  #lastWrite = 0;

  constructor(readonly layer: Pools, readonly bucket = BUCKET) {}

  async put(key: string, seed: number): Promise<void> {
    await this.#tick();
    const data = testBytes(50 + seed, seed);
    const info = await this.layer.putObject(this.bucket, key, streamOf(data), {
      size: data.byteLength,
      metadata: {},
    });
    this.#lastWrite = Date.now();
    this.#add({ key, versionId: info.versionId, deleteMarker: false, etag: info.etag });
  }

  /** Without versionId: a delete marker (versioning on or suspended); with one: it goes. */
  async delete(key: string, versionId?: string): Promise<void> {
    await this.#tick();
    const deleted = await this.layer.deleteObject(this.bucket, key, { versionId });
    this.#lastWrite = Date.now();
    if (versionId !== undefined) {
      this.keys.set(key, this.versions(key).filter((v) => v.versionId !== versionId));
      return;
    }
    assertEquals(deleted.deleteMarker, true, `a marker for ${key}`);
    this.#add({ key, versionId: deleted.versionId ?? "null", deleteMarker: true, etag: "" });
  }

  versions(key: string): Entry[] {
    return this.keys.get(key) ?? [];
  }

  /** Every version, keys ascending, each key's newest first. */
  entries(): Entry[] {
    return [...this.keys.keys()].sort(compareKeys).flatMap((k) => this.versions(k));
  }

  #add(e: Entry): void {
    const others = this.versions(e.key).filter((v) => v.versionId !== e.versionId);
    this.keys.set(e.key, [e, ...others]);
  }

  /** Each write of a key in a later millisecond than the last, so newest-first is write order. */
  async #tick(): Promise<void> {
    for (let i = 0; i < 1000 && Date.now() <= this.#lastWrite; i++) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }
}

interface Item {
  key: string;
  versionId?: string;
  isLatest?: boolean;
  deleteMarker?: boolean;
  etag?: string;
  prefix?: boolean;
}

interface Page {
  items: Item[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

function reference(model: Model, o: ListVersionsOptions): Page {
  const prefix = o.prefix ?? "";
  const marker = o.keyMarker ?? "";
  const items: Item[] = [];
  // A version-id-marker naming no version of the key lists all of them.
  let passed = !model.versions(marker).some((v) => v.versionId === o.versionIdMarker);
  for (const e of model.entries()) {
    if (!e.key.startsWith(prefix)) continue;
    const cut = o.delimiter ? e.key.indexOf(o.delimiter, prefix.length) : -1;
    if (cut >= 0) {
      const common = e.key.slice(0, cut + o.delimiter!.length);
      if (compareKeys(common, marker) <= 0 || items.at(-1)?.key === common) continue;
      items.push({ key: common, prefix: true });
      continue;
    }
    const order = compareKeys(e.key, marker);
    if (order < 0) continue;
    if (order === 0) {
      if (o.versionIdMarker === undefined) continue;
      if (!passed) {
        passed = e.versionId === o.versionIdMarker;
        continue;
      }
    }
    items.push({
      key: e.key,
      versionId: e.versionId,
      isLatest: model.versions(e.key)[0] === e,
      deleteMarker: e.deleteMarker,
      etag: e.deleteMarker ? undefined : e.etag,
    });
  }
  const page = items.slice(0, o.maxKeys);
  // max-keys=0 asks for nothing and, as ListObjects, answers not truncated.
  const isTruncated = o.maxKeys > 0 && items.length > o.maxKeys;
  return {
    items: page,
    isTruncated,
    nextKeyMarker: isTruncated ? page.at(-1)?.key : undefined,
    nextVersionIdMarker: isTruncated ? page.at(-1)?.versionId : undefined,
  };
}

async function listed(layer: Pools, o: ListVersionsOptions, bucket = BUCKET): Promise<Page> {
  const got = await layer.listObjectVersions(bucket, o);
  const versions: Item[] = got.versions.map((v) => ({
    key: v.name,
    versionId: v.versionId,
    isLatest: v.isLatest,
    deleteMarker: v.deleteMarker,
    etag: v.deleteMarker ? undefined : v.etag,
  }));
  // Common prefixes go among the keys, as the S3 handler interleaves them.
  const items: Item[] = [];
  const prefixes = got.prefixes.map((key) => ({ key, prefix: true }));
  while (versions.length + prefixes.length > 0) {
    const before = prefixes.length > 0 &&
      (versions.length === 0 || compareKeys(prefixes[0].key, versions[0].key) < 0);
    items.push((before ? prefixes : versions).shift()!);
  }
  return {
    items,
    isTruncated: got.isTruncated,
    nextKeyMarker: got.nextKeyMarker,
    nextVersionIdMarker: got.nextVersionIdMarker,
  };
}

async function assertPaginates(layer: Pools, model: Model, base: ListVersionsOptions) {
  let o: ListVersionsOptions = base;
  for (let page = 0; page < 500; page++) {
    assertEquals(await listed(layer, o), reference(model, o), JSON.stringify(o));
    const want = reference(model, o);
    if (!want.isTruncated) return;
    o = { ...base, keyMarker: want.nextKeyMarker, versionIdMarker: want.nextVersionIdMarker };
  }
  throw new Error("pagination did not end");
}

/** Writes of every kind: unversioned, Enabled (versions, markers, removals), Suspended. */
async function populate(layer: Pools, states: States): Promise<Model> {
  const model = new Model(layer);
  let seed = 0;
  for (const key of ["a/c", "d", "null-only"]) await model.put(key, seed++);
  states.states.set(BUCKET, "Enabled");
  for (let i = 0; i < 3; i++) await model.put("a", seed++);
  await model.put("a/b", seed++);
  await model.delete("a/b");
  await model.put("a/c", seed++);
  await model.put("b", seed++);
  await model.delete("b");
  await model.put("b", seed++);
  await model.delete("c/gone");
  await model.put("c/kept", seed++);
  await model.delete("c/kept");
  await model.put("d", seed++);
  for (let i = 0; i < 6; i++) {
    await model.put(`m/${i}`, seed++);
    await model.put(`m/${i}`, seed++);
  }
  for (let i = 0; i < 4; i++) await model.put("x", seed++);
  await model.delete("x", model.versions("x")[2].versionId);
  states.states.set(BUCKET, "Suspended");
  await model.put("s", seed++);
  await model.put("s", seed++);
  await model.put("a", seed++);
  await model.delete("b");
  return model;
}

const CASES: ListVersionsOptions[] = [];
for (const prefix of ["", "a", "c/", "m/"]) {
  for (const delimiter of ["", "/"]) {
    for (const maxKeys of [1, 3, 1000]) CASES.push({ prefix, delimiter, maxKeys });
  }
}

Deno.test("listObjectVersions pages like the model, also with m drives of every set offline", async () => {
  const env = await deployment(2, 4, 2);
  try {
    const states = new States();
    env.layer.setBucketVersioning(states);
    const model = await populate(env.layer, states);
    assertEquals(model.versions("s").map((v) => v.versionId), ["null"]);
    assertEquals(model.versions("a").length, 4);
    for (const c of CASES) await assertPaginates(env.layer, model, c);
    const offline = await env.open((_s, d) => d === 1 || d === 2);
    for (const c of CASES) await assertPaginates(offline, model, c);
  } finally {
    await env.close();
  }
});

Deno.test("listObjectVersions: version-id-marker null, one that is gone, a malformed one, key-marker alone", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const states = new States();
    env.layer.setBucketVersioning(states);
    const model = await populate(env.layer, states);
    const x = model.versions("x");
    const cases: ListVersionsOptions[] = [
      { keyMarker: "a", versionIdMarker: "null", maxKeys: 2 },
      { keyMarker: "a", maxKeys: 2 },
      { keyMarker: "x", versionIdMarker: x[0].versionId, maxKeys: 1000 },
      { keyMarker: "x", versionIdMarker: crypto.randomUUID(), maxKeys: 1000 },
      { keyMarker: "m/3", versionIdMarker: model.versions("m/3")[0].versionId, maxKeys: 2 },
      { keyMarker: "m/3", versionIdMarker: "null", delimiter: "/", maxKeys: 5 },
      { keyMarker: "nothing-here", versionIdMarker: "null", maxKeys: 5 },
      { prefix: "b", keyMarker: "a", versionIdMarker: "null", maxKeys: 5 },
      { maxKeys: 0 },
    ];
    for (const c of cases) assertEquals(await listed(env.layer, c), reference(model, c));
    await assertRejects(
      () =>
        env.layer.listObjectVersions(BUCKET, { keyMarker: "x", versionIdMarker: "v1", maxKeys: 5 }),
      InvalidVersionId,
    );
    const gone = await listed(env.layer, cases[3]);
    assertEquals(gone.items.map((i) => i.versionId), x.map((v) => v.versionId));
    assertEquals(
      (await listed(env.layer, cases[0])).items.map((i) => i.versionId),
      model.versions("a").slice(1, 3).map((v) => v.versionId),
    );
  } finally {
    await env.close();
  }
});

Deno.test("listObjects shows only current versions that are not delete markers", async () => {
  const env = await deployment(2, 4, 2);
  try {
    const states = new States();
    env.layer.setBucketVersioning(states);
    const model = await populate(env.layer, states);
    const names = async (o: { prefix?: string; delimiter?: string } = {}) => {
      const page = await env.layer.listObjects(BUCKET, { ...o, maxKeys: 1000 });
      return { objects: page.objects.map((v) => [v.name, v.etag]), prefixes: page.prefixes };
    };
    const current = (key: string) => [key, model.versions(key)[0].etag];
    const live = [
      "a",
      "a/c",
      "d",
      ...[0, 1, 2, 3, 4, 5].map((i) => `m/${i}`),
      "null-only",
      "s",
      "x",
    ];
    assertEquals(await names(), { objects: live.map(current), prefixes: [] });
    // "c/" holds only keys whose current version is a marker: no common prefix.
    assertEquals(await names({ delimiter: "/" }), {
      objects: ["a", "d", "null-only", "s", "x"].map(current),
      prefixes: ["a/", "m/"],
    });
    assertEquals(await names({ prefix: "c/", delimiter: "/" }), { objects: [], prefixes: [] });
    assertEquals(
      (await listed(env.layer, { delimiter: "/", maxKeys: 1000 })).items
        .filter((i) => i.prefix).map((i) => i.key),
      ["a/", "c/", "m/"],
    );

    // Removing the marker on top makes the version under it current again; removing the
    // current version promotes the previous one.
    await model.delete("c/kept", model.versions("c/kept")[0].versionId);
    await model.delete("x", model.versions("x")[0].versionId);
    assertEquals(
      (await names({ prefix: "c/" })).objects,
      [current("c/kept")],
    );
    assertEquals((await names({ prefix: "x" })).objects, [current("x")]);
    assertEquals((await names({ prefix: "c/", delimiter: "/" })).prefixes, []);
    assertEquals((await names({ delimiter: "/" })).prefixes, ["a/", "c/", "m/"]);
    await assertPaginates(env.layer, model, { maxKeys: 4 });
  } finally {
    await env.close();
  }
});

Deno.test("deleteBucket: versions or delete markers alone keep a bucket from being empty", async () => {
  const env = await deployment(2, 4, 2);
  try {
    const states = new States();
    env.layer.setBucketVersioning(states);
    for (const bucket of ["markers", "versions"]) {
      await env.layer.makeBucket(bucket);
      states.states.set(bucket, "Enabled");
    }
    const markers = new Model(env.layer, "markers");
    await markers.delete("never-written");
    await markers.delete("never-written");
    const versions = new Model(env.layer, "versions");
    await versions.put("k", 1);
    await versions.put("k", 2);
    await versions.delete("k");
    for (const bucket of ["markers", "versions"]) {
      assertEquals((await env.layer.listObjects(bucket, { maxKeys: 10 })).objects, []);
      await assertRejects(() => env.layer.deleteBucket(bucket), BucketNotEmpty);
    }
    for (const v of markers.versions("never-written")) {
      await markers.delete("never-written", v.versionId);
    }
    assertEquals((await env.layer.listObjectVersions("markers", { maxKeys: 10 })).versions, []);
    await env.layer.deleteBucket("markers");
    await env.layer.deleteBucket("versions", true);
    assertEquals((await env.layer.listBuckets()).map((b) => b.name), [BUCKET]);
  } finally {
    await env.close();
  }
});

/** A large version (in a data dir, not inline) is listed with its size like a small one. */
Deno.test("listObjectVersions: sizes of inline and data-dir versions", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const states = new States();
    env.layer.setBucketVersioning(states);
    states.states.set(BUCKET, "Enabled");
    await put(env.layer, "sized", testBytes(600_000, 1));
    await put(env.layer, "sized", testBytes(10, 2));
    const page = await env.layer.listObjectVersions(BUCKET, { maxKeys: 10 });
    assertEquals(page.versions.map((v) => [v.size, v.isLatest]), [[10, true], [600_000, false]]);
  } finally {
    await env.close();
  }
});
