/**
 * Versioning in the object layer over real drives: every version kept in xl.meta, version ids by
 * the bucket's state (Enabled: new ids; Suspended or unversioned: the null version replaced),
 * delete markers, removal of one version (the previous one becomes current), object lock on
 * every removal, metadata updates that keep Last-Modified, copies and Completes as versions,
 * and versions read across lost drives.
 */
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "./helpers/assert.ts";
import {
  InvalidVersionId,
  ObjectDeleted,
  ObjectLocked,
  ObjectNotFound,
  PreconditionFailed,
  VersionNotFound,
} from "../src/object/errors.ts";
import type { BucketVersioning, VersioningState } from "../src/object/layer.ts";
import {
  LOCK_LEGAL_HOLD,
  LOCK_MODE,
  LOCK_RETAIN_UNTIL,
  TAGGING,
} from "../src/object/object-lock.ts";
import { nextModTime } from "../src/object/erasure-set.ts";
import type { Pools } from "../src/object/pools.ts";
import {
  CorruptMeta,
  decodeXlMeta,
  encodeXlMeta,
  freedDataDirs,
  mergeVersions,
  type ObjectVersion,
  removeVersion,
  versionKey,
} from "../src/storage/xl-meta.ts";
import {
  BUCKET,
  type Deployment,
  deployment,
  equalBytes,
  filesBelow,
  readAll,
  streamOf,
  testBytes,
} from "./fixtures/object_env.ts";

const MiB = 1024 * 1024;
const FUTURE = "2099-01-01T00:00:00.000Z";

/** The versioning state of each bucket, as the bucket-metadata store would answer it. */
class VersioningStates implements BucketVersioning {
  readonly states = new Map<string, VersioningState>();
  versioning(bucket: string): Promise<VersioningState | undefined> {
    return Promise.resolve(this.states.get(bucket));
  }
}

async function withVersioned(
  state: VersioningState | undefined,
  fn: (env: Deployment, states: VersioningStates) => Promise<void>,
): Promise<void> {
  const env = await deployment(1, 4, 2);
  const states = new VersioningStates();
  if (state) states.states.set(BUCKET, state);
  env.layer.setBucketVersioning(states);
  try {
    await fn(env, states);
  } finally {
    await env.close();
  }
}

function put(layer: Pools, name: string, data: Uint8Array, metadata = {}) {
  return layer.putObject(BUCKET, name, streamOf(data), { size: data.byteLength, metadata });
}

async function getVersion(layer: Pools, name: string, versionId?: string): Promise<Uint8Array> {
  return await readAll((await layer.getObject(BUCKET, name, { versionId })).body);
}

async function versionIds(layer: Pools, name: string): Promise<string[]> {
  const versions = await layer.setOf(name).objectVersions(BUCKET, name);
  assertEquals(versions.map((v) => v.isLatest), versions.map((_, i) => i === 0));
  return versions.map((v) => v.versionId);
}

/** The data dirs of an object on the first drive of its set. */
async function dataDirs(env: Deployment, name: string): Promise<string[]> {
  const set = env.layer.sets.indexOf(env.layer.setOf(name));
  const files = await filesBelow(`${env.paths[set][0]}/${BUCKET}/${name}`);
  return [...new Set(files.filter((f) => f.includes("/")).map((f) => f.split("/")[0]))];
}

function version(versionId: string, modTime: number, dataDir: string): ObjectVersion {
  return {
    versionId,
    size: 0,
    modTime,
    etag: "",
    metadata: {},
    erasure: { dataShards: 1, parityShards: 1, blockSize: 1024, index: 2, distribution: [2, 1] },
    dataDir,
    parts: [],
    checksums: [],
    ...(dataDir === "" ? { deleteMarker: true as const } : {}),
  };
}

Deno.test("xl.meta: merge and removal keep versions newest first, free only unreferenced data dirs", () => {
  const a = version("a", 1000, "da");
  const b = version("b", 2000, "db");
  const nul = version("null", 1500, "dn");
  const merged = mergeVersions(mergeVersions(mergeVersions(undefined, [a]), [nul]), [b]);
  assertEquals(merged.versions.map((v) => v.versionId), ["b", "null", "a"]);
  // The null version replaced by a newer one (a suspended PUT) moves to the front.
  const replaced = mergeVersions(merged, [version("null", 3000, "dn2")]);
  assertEquals(replaced.versions.map((v) => v.versionId), ["null", "b", "a"]);
  assertEquals(freedDataDirs(merged, replaced), ["dn"]);
  // Ties on modTime: by id, the same order on every drive.
  const tie = mergeVersions(undefined, [version("x", 5, "dx"), version("y", 5, "dy")]);
  assertEquals(tie.versions.map((v) => v.versionId), ["y", "x"]);
  const marker = version("m", 4000, "");
  const withMarker = mergeVersions(replaced, [marker]);
  assertEquals(decodeXlMeta(encodeXlMeta(withMarker)), withMarker);
  assertEquals(freedDataDirs(withMarker, removeVersion(withMarker, "m")), []);
  assertEquals(freedDataDirs(withMarker, removeVersion(withMarker, "b")), ["db"]);
  assertEquals(removeVersion({ versions: [a] }, "a"), undefined);
  // A metadata change is a different version key, with the same Last-Modified.
  assertNotEquals(versionKey(a), versionKey({ ...a, metadataModTime: 7 }));
});

Deno.test("xl.meta: a marker with data, an empty data dir on a version, a repeated id are corrupt", () => {
  const bad = (versions: ObjectVersion[]) =>
    assertThrows(() => decodeXlMeta(encodeXlMeta({ versions })), CorruptMeta);
  bad([{ ...version("m", 1, ""), parts: [{ number: 1, size: 0, etag: "", actualSize: 0 }] }]);
  bad([{ ...version("m", 1, ""), inline: new Uint8Array(1) }]);
  bad([{ ...version("v", 1, "dv"), dataDir: "" }]);
  bad([version("v", 1, "d1"), version("v", 2, "d2")]);
  bad([version("", 1, "d1")]);
});

Deno.test("Enabled: every PUT is a new version, each readable by id, the newest current", async () => {
  await withVersioned("Enabled", async ({ layer }) => {
    const small = testBytes(1000, 1);
    const big = testBytes(2 * MiB + 5, 2);
    const v1 = await put(layer, "k", small);
    const v2 = await put(layer, "k", big);
    assertNotEquals(v1.versionId, "null");
    assertNotEquals(v1.versionId, v2.versionId);
    assertEquals(await versionIds(layer, "k"), [v2.versionId, v1.versionId]);
    assert(equalBytes(await getVersion(layer, "k"), big));
    assert(equalBytes(await getVersion(layer, "k", v1.versionId), small));
    assert(equalBytes(await getVersion(layer, "k", v2.versionId), big));
    const head = await layer.getObjectInfo(BUCKET, "k", { versionId: v1.versionId });
    assertEquals([head.size, head.isLatest, head.etag], [small.length, false, v1.etag]);
    assertEquals((await layer.getObjectInfo(BUCKET, "k")).versionId, v2.versionId);
  });
});

Deno.test("Enabled: DELETE adds a marker; removing it or the latest version promotes the previous", async () => {
  await withVersioned("Enabled", async (env) => {
    const { layer } = env;
    const v1 = await put(layer, "k", testBytes(3 * MiB, 1));
    const v2 = await put(layer, "k", testBytes(3 * MiB, 2));
    const deleted = await layer.deleteObject(BUCKET, "k");
    assert(deleted.deleteMarker && deleted.versionId !== undefined);
    const marker = deleted.versionId!;
    assertEquals(await versionIds(layer, "k"), [marker, v2.versionId, v1.versionId]);
    const current = await assertRejects(() => layer.getObjectInfo(BUCKET, "k"), ObjectDeleted);
    assertEquals([current.versionId, current.named], [marker, false]);
    const named = await assertRejects(
      () => layer.getObject(BUCKET, "k", { versionId: marker }),
      ObjectDeleted,
    );
    assertEquals([named.versionId, named.named], [marker, true]);
    assert(equalBytes(await getVersion(layer, "k", v1.versionId), testBytes(3 * MiB, 1)));
    // ListObjects-style readers see nothing; a second DELETE adds a second marker (as AWS).
    const again = await layer.deleteObject(BUCKET, "k");
    assertEquals((await versionIds(layer, "k")).length, 4);

    assertEquals(
      await layer.deleteObject(BUCKET, "k", { versionId: again.versionId }),
      { versionId: again.versionId, deleteMarker: true },
    );
    assertEquals(
      await layer.deleteObject(BUCKET, "k", { versionId: marker }),
      { versionId: marker, deleteMarker: true },
    );
    assertEquals((await layer.getObjectInfo(BUCKET, "k")).versionId, v2.versionId);
    assertEquals((await dataDirs(env, "k")).length, 2);
    assertEquals(
      await layer.deleteObject(BUCKET, "k", { versionId: v2.versionId }),
      { versionId: v2.versionId, deleteMarker: false },
    );
    assert(equalBytes(await getVersion(layer, "k"), testBytes(3 * MiB, 1)));
    // The removed version's data dir is gone; the remaining one's stays.
    assertEquals((await dataDirs(env, "k")).length, 1);
    await layer.deleteObject(BUCKET, "k", { versionId: v1.versionId });
    await assertRejects(() => layer.getObjectInfo(BUCKET, "k"), ObjectNotFound);
    assertEquals(await versionIds(layer, "k"), []);
  });
});

Deno.test("versions written one after the other get increasing modTimes, within a millisecond too", () => {
  const times = Array.from({ length: 1000 }, () => nextModTime());
  assert(times.every((t, i) => i === 0 || t > times[i - 1]));
  assert(times[0] >= Date.now() - 1000);
});

Deno.test("version ids: malformed → InvalidVersionId; unknown or of a missing object → VersionNotFound; deleting one is no error", async () => {
  await withVersioned("Enabled", async ({ layer }) => {
    await put(layer, "k", testBytes(10, 1));
    const unknown = crypto.randomUUID();
    for (const bad of ["", "abc", "NULL", `${unknown}x`, "../x"]) {
      await assertRejects(
        () => layer.getObjectInfo(BUCKET, "k", { versionId: bad }),
        InvalidVersionId,
      );
      await assertRejects(
        () => layer.deleteObject(BUCKET, "k", { versionId: bad }),
        InvalidVersionId,
      );
    }
    await assertRejects(
      () => layer.getObject(BUCKET, "k", { versionId: unknown }),
      VersionNotFound,
    );
    await assertRejects(() => layer.getObject(BUCKET, "k", { versionId: "null" }), VersionNotFound);
    await assertRejects(
      () => layer.getObjectInfo(BUCKET, "none", { versionId: unknown }),
      VersionNotFound,
    );
    assertEquals(
      await layer.deleteObject(BUCKET, "k", { versionId: unknown }),
      { versionId: unknown, deleteMarker: false },
    );
    assertEquals((await versionIds(layer, "k")).length, 1);
  });
});

Deno.test("Suspended: PUT and DELETE replace the null version, other versions stay", async () => {
  await withVersioned("Enabled", async (env, states) => {
    const { layer } = env;
    const kept = await put(layer, "k", testBytes(2 * MiB, 1));
    states.states.set(BUCKET, "Suspended");
    const n1 = await put(layer, "k", testBytes(2 * MiB, 2));
    assertEquals(n1.versionId, "null");
    const n2 = await put(layer, "k", testBytes(2 * MiB, 3));
    assertEquals(await versionIds(layer, "k"), ["null", kept.versionId]);
    assertEquals((await layer.getObjectInfo(BUCKET, "k")).etag, n2.etag);
    // The replaced null version's data dir is freed.
    assertEquals((await dataDirs(env, "k")).length, 2);
    assertEquals(await layer.deleteObject(BUCKET, "k"), { versionId: "null", deleteMarker: true });
    assertEquals(await versionIds(layer, "k"), ["null", kept.versionId]);
    await assertRejects(() => layer.getObjectInfo(BUCKET, "k"), ObjectDeleted);
    assertEquals((await dataDirs(env, "k")).length, 1);
    assert(equalBytes(await getVersion(layer, "k", kept.versionId), testBytes(2 * MiB, 1)));
  });
});

Deno.test("unversioned: a PUT replaces the null version, DELETE removes the object and its directory", async () => {
  await withVersioned(undefined, async (env) => {
    const { layer } = env;
    await put(layer, "a/k", testBytes(2 * MiB, 1));
    const second = await put(layer, "a/k", testBytes(10, 2));
    assertEquals(second.versionId, "null");
    assertEquals(await versionIds(layer, "a/k"), ["null"]);
    assertEquals(await dataDirs(env, "a/k"), []);
    assertEquals(await layer.deleteObject(BUCKET, "a/k"), { deleteMarker: false });
    await assertRejects(() => layer.getObjectInfo(BUCKET, "a/k"), ObjectNotFound);
    assertEquals(await filesBelow(`${env.paths[0][0]}/${BUCKET}`), []);
    assertEquals(await layer.deleteObject(BUCKET, "a/k"), { deleteMarker: false });
  });
});

Deno.test("a delete expecting a version judged earlier refuses once it changed (lifecycle's guard)", async () => {
  for (const state of [undefined, "Suspended", "Enabled"] as const) {
    await withVersioned(state, async (env) => {
      const { layer } = env;
      const old = await put(layer, "k", testBytes(10, 1));
      const expected = { versionId: old.versionId, modTime: old.modTime };
      const fresh = await put(layer, "k", testBytes(10, 2));
      // Hiding or deleting the current version, or removing the judged one by id: refused
      // whenever a write since replaced what was judged.
      await assertRejects(() => layer.deleteObject(BUCKET, "k", { expected }), PreconditionFailed);
      if (state !== "Enabled") {
        await assertRejects(
          () => layer.deleteObject(BUCKET, "k", { versionId: "null", expected }),
          PreconditionFailed,
        );
      }
      assertEquals((await layer.getObjectInfo(BUCKET, "k")).etag, fresh.etag);
      const current = { versionId: fresh.versionId, modTime: fresh.modTime };
      await layer.deleteObject(BUCKET, "k", { expected: current });
      await assertRejects(() => layer.getObjectInfo(BUCKET, "k"), ObjectNotFound);
    });
  }
});

Deno.test("object lock: a protected version is refused to every removal; bypass lifts GOVERNANCE only", async () => {
  await withVersioned("Enabled", async ({ layer }, states) => {
    const governed = await put(layer, "g", testBytes(10, 1), {
      [LOCK_MODE]: "GOVERNANCE",
      [LOCK_RETAIN_UNTIL]: FUTURE,
    });
    const compliant = await put(layer, "c", testBytes(10, 2), {
      [LOCK_MODE]: "COMPLIANCE",
      [LOCK_RETAIN_UNTIL]: FUTURE,
    });
    const held = await put(layer, "h", testBytes(10, 3), { [LOCK_LEGAL_HOLD]: "ON" });
    const expired = await put(layer, "e", testBytes(10, 4), {
      [LOCK_MODE]: "COMPLIANCE",
      [LOCK_RETAIN_UNTIL]: "2001-01-01T00:00:00.000Z",
    });
    await assertRejects(
      () => layer.deleteObject(BUCKET, "g", { versionId: governed.versionId }),
      ObjectLocked,
    );
    for (const [name, v] of [["c", compliant], ["h", held]] as const) {
      await assertRejects(
        () => layer.deleteObject(BUCKET, name, { versionId: v.versionId, bypassGovernance: true }),
        ObjectLocked,
      );
    }
    const results = await layer.deleteObjects(BUCKET, [
      { name: "c", versionId: compliant.versionId },
      { name: "e", versionId: expired.versionId },
    ]);
    assert(results[0].error instanceof ObjectLocked);
    assertEquals(results[1].deleted, { versionId: expired.versionId, deleteMarker: false });
    // A DELETE without a version id still adds a marker: nothing is removed.
    assert((await layer.deleteObject(BUCKET, "c")).deleteMarker);
    assertEquals((await versionIds(layer, "c")).length, 2);
    await layer.deleteObject(BUCKET, "g", {
      versionId: governed.versionId,
      bypassGovernance: true,
    });
    assertEquals(await versionIds(layer, "g"), []);

    // Suspended writes replace the null version: not when it is locked.
    states.states.set(BUCKET, "Suspended");
    await put(layer, "n", testBytes(10, 5), {
      [LOCK_MODE]: "GOVERNANCE",
      [LOCK_RETAIN_UNTIL]: FUTURE,
    });
    await assertRejects(() => put(layer, "n", testBytes(10, 6)), ObjectLocked);
    await assertRejects(() => layer.deleteObject(BUCKET, "n"), ObjectLocked);
    assert((await layer.deleteObject(BUCKET, "n", { bypassGovernance: true })).deleteMarker);
  });
});

Deno.test("updateObjectMetadata changes one version in place, keeps Last-Modified, refuses a marker", async () => {
  await withVersioned("Enabled", async ({ layer }) => {
    const v1 = await put(layer, "k", testBytes(10, 1), { "content-type": "a/b" });
    const v2 = await put(layer, "k", testBytes(3 * MiB, 2));
    const before = await layer.getObjectInfo(BUCKET, "k", { versionId: v1.versionId });
    const updated = await layer.updateObjectMetadata(
      BUCKET,
      "k",
      (m) => ({ ...m, [TAGGING]: "a=1" }),
      { versionId: v1.versionId },
    );
    assertEquals([updated.versionId, updated.isLatest], [v1.versionId, false]);
    const after = await layer.getObjectInfo(BUCKET, "k", { versionId: v1.versionId });
    assertEquals(after.metadata, { "content-type": "a/b", [TAGGING]: "a=1" });
    assertEquals(after.modTime, before.modTime);
    assertEquals((await layer.getObjectInfo(BUCKET, "k")).metadata[TAGGING], undefined);
    assert(equalBytes(await getVersion(layer, "k", v1.versionId), testBytes(10, 1)));
    await layer.updateObjectMetadata(BUCKET, "k", (m) => ({ ...m, [TAGGING]: "b=2" }));
    assertEquals((await layer.getObjectInfo(BUCKET, "k")).metadata[TAGGING], "b=2");
    assertEquals(await versionIds(layer, "k"), [v2.versionId, v1.versionId]);

    const marker = (await layer.deleteObject(BUCKET, "k")).versionId!;
    for (const versionId of [undefined, marker]) {
      const err = await assertRejects(
        () => layer.updateObjectMetadata(BUCKET, "k", (m) => m, { versionId }),
        ObjectDeleted,
      );
      assert(err.named);
    }
  });
});

Deno.test("copy from a version is a new version; a multipart Complete is one, repeated alike", async () => {
  await withVersioned("Enabled", async ({ layer }) => {
    // Large: the copy reads the source under its read lock and commits under the write lock.
    const old = testBytes(3 * MiB, 1);
    const v1 = await put(layer, "k", old);
    await put(layer, "k", testBytes(1000, 2));
    const v2 = await layer.getObjectInfo(BUCKET, "k");
    const restored = await layer.copyObject(BUCKET, "k", BUCKET, "k", {
      srcVersionId: v1.versionId,
    });
    assertEquals(await versionIds(layer, "k"), [restored.versionId, v2.versionId, v1.versionId]);
    assert(equalBytes(await getVersion(layer, "k"), old));
    await assertRejects(
      () => layer.copyObject(BUCKET, "k", BUCKET, "x", { srcVersionId: crypto.randomUUID() }),
      VersionNotFound,
    );

    const data = testBytes(2 * MiB, 3);
    const id = await layer.newMultipartUpload(BUCKET, "mp", {});
    const part = await layer.putObjectPart(BUCKET, "mp", id, 1, streamOf(data), {
      size: data.byteLength,
      metadata: {},
    });
    const parts = [{ number: 1, etag: part.etag }];
    const first = await put(layer, "mp", testBytes(10, 4));
    const done = await layer.completeMultipartUpload(BUCKET, "mp", id, parts);
    assertNotEquals(done.versionId, "null");
    const repeated = await layer.completeMultipartUpload(BUCKET, "mp", id, parts);
    assertEquals(repeated.versionId, done.versionId);
    assertEquals(await versionIds(layer, "mp"), [done.versionId, first.versionId]);
    assert(equalBytes(await getVersion(layer, "mp"), data));
  });
});

Deno.test("versions survive lost drives: listed and read by id from a read quorum", async () => {
  await withVersioned("Enabled", async (env, states) => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await put(env.layer, "k", testBytes(MiB + i, i))).versionId);
    }
    const marker = (await env.layer.deleteObject(BUCKET, "k")).versionId!;
    const degraded = await env.open((_s, d) => d >= 2);
    degraded.setBucketVersioning(states);
    assertEquals(await versionIds(degraded, "k"), [marker, ids[2], ids[1], ids[0]]);
    for (const [i, id] of ids.entries()) {
      assert(equalBytes(await getVersion(degraded, "k", id), testBytes(MiB + i, i)));
    }
    // Too few drives for a write quorum: a version cannot be removed.
    await assertRejects(() => degraded.deleteObject(BUCKET, "k", { versionId: ids[0] }));
    assertEquals((await versionIds(env.layer, "k")).length, 4);
  });
});
