/**
 * The object layer over a 2+2 set whose drives misbehave (tests/helpers/faulty-drive.ts), in
 * process: a drive that hangs does not stall PUT/GET/HEAD/LIST/DELETE past its handle's
 * deadline; corrupt reads, streams cut midway, full and read-only drives give exact data or
 * the right error; a commit refused by too many drives is rolled back, other versions kept.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { join } from "node:path";
import { Pools } from "../src/object/pools.ts";
import { InsufficientWriteQuorum, ObjectNotFound, StorageFull } from "../src/object/errors.ts";
import { decodeXlMeta } from "../src/storage/xl-meta.ts";
import { META_FILE } from "../src/storage/api.ts";
import { DriveHandle } from "../src/storage/drive-handle.ts";
import { loadOrInitFormat } from "../src/storage/format.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { type Fault, type FaultTarget, FaultyDrive } from "./helpers/faulty-drive.ts";
import { BUCKET, equalBytes, readAll, streamOf, testBytes } from "./fixtures/object_env.ts";

const TIMEOUT_MS = 300;
/** Far beyond the deadline: a request still running then is stalled, not slow. */
const STALLED_MS = 30_000;
const MiB = 1024 * 1024;

interface FaultySet {
  layer: Pools;
  drives: FaultyDrive[];
  handles: DriveHandle[];
}

async function withFaultySet(fn: (set: FaultySet) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "flashstor-faulty-set-" });
  const drives = await Promise.all(
    [0, 1, 2, 3].map(async (i) => new FaultyDrive(await XlStorage.open(join(root, `d${i}`)))),
  );
  const handles = await Promise.all(
    drives.map((d) => DriveHandle.of(d, { timeoutMs: TIMEOUT_MS, log: () => {} })),
  );
  const format = await loadOrInitFormat(handles, { setCount: 1, setDriveCount: 4 });
  const layer = new Pools(format.sets, { parity: 2, deploymentId: format.deploymentId });
  try {
    await layer.makeBucket(BUCKET);
    await fn({ layer, drives, handles });
  } finally {
    await layer.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** `work`, failing the test if it is still running after STALLED_MS (a hang, not slowness). */
async function unstalled<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} stalled`)), STALLED_MS);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

async function put(layer: Pools, name: string, data: Uint8Array) {
  return await unstalled(
    `PUT ${name}`,
    layer.putObject(BUCKET, name, streamOf(data), { size: data.byteLength, metadata: {} }),
  );
}

async function get(layer: Pools, name: string): Promise<Uint8Array> {
  return await unstalled(
    `GET ${name}`,
    layer.getObject(BUCKET, name).then((r) => readAll(r.body)),
  );
}

/** The drive (index) that holds data shard `shard` (1-based) of `name`. */
function holderOf(layer: Pools, name: string, shard: number): number {
  return layer.sets[0].distribution(name).indexOf(shard);
}

const ALL_CALLS: FaultTarget[] = [
  "diskInfo",
  "makeVolume",
  "listVolumes",
  "statVolume",
  "listDir",
  "walkDir",
  "readAll",
  "writeAll",
  "createFile",
  "readFileStream",
  "statFile",
  "renameData",
  "deleteObject",
  "delete",
  "write",
];

Deno.test("a drive whose every call hangs: PUT, GET, HEAD, LIST and DELETE answer once its deadline passes", async () => {
  await withFaultySet(async ({ layer, drives, handles }) => {
    const big = testBytes(3 * MiB, 1);
    const small = testBytes(1000, 2);
    await put(layer, "before", big);
    drives[1].inject({ kind: "hang" }, ALL_CALLS);

    await put(layer, "big", big);
    assertEquals(handles[1].state, "offline");
    await put(layer, "small", small);
    assert(equalBytes(await get(layer, "big"), big));
    assert(equalBytes(await get(layer, "before"), big));
    assert(equalBytes(await get(layer, "small"), small));
    assertEquals((await unstalled("HEAD", layer.getObjectInfo(BUCKET, "big"))).size, big.length);
    const listed = await unstalled("LIST", layer.listObjects(BUCKET, { maxKeys: 10 }));
    assertEquals(listed.objects.map((o) => o.name), ["before", "big", "small"]);
    await unstalled("DELETE", layer.deleteObject(BUCKET, "small"));
    assert(await unstalled("ready", layer.isWritable()));
  });
});

Deno.test("a drive that hangs in the middle of a shard stream: the GET is finished from the others, exact", async () => {
  await withFaultySet(async ({ layer, drives, handles }) => {
    const data = testBytes(5 * MiB + 123, 3);
    await put(layer, "obj", data);
    const holder = holderOf(layer, "obj", 1);
    drives[holder].inject({ kind: "hang", afterBytes: MiB }, ["readFileStream"]);
    assert(equalBytes(await get(layer, "obj"), data));
    assertEquals(handles[holder].state, "offline");
  });
});

Deno.test("corrupt reads and a stream cut midway on data drives: GET is exact (parity fills in)", async () => {
  await withFaultySet(async ({ layer, drives }) => {
    const data = testBytes(4 * MiB + 7, 4);
    await put(layer, "obj", data);
    drives[holderOf(layer, "obj", 1)].inject({ kind: "corrupt", at: 2 * MiB }, ["readFileStream"]);
    drives[holderOf(layer, "obj", 2)].inject(
      { kind: "disconnect", afterBytes: MiB / 2 },
      ["readFileStream"],
    );
    assert(equalBytes(await get(layer, "obj"), data));
    const range = await unstalled(
      "ranged GET",
      layer.getObject(BUCKET, "obj", { range: { start: 3 * MiB, end: 3 * MiB + 99 } })
        .then((r) => readAll(r.body)),
    );
    assert(equalBytes(range, data.subarray(3 * MiB, 3 * MiB + 100)));
  });
});

Deno.test("a drive disconnected while a PUT streams: the PUT succeeds on the others and reads back exact", async () => {
  await withFaultySet(async ({ layer, drives }) => {
    const data = testBytes(6 * MiB, 5);
    drives[0].inject({ kind: "disconnect", afterBytes: MiB }, ["write"]);
    await put(layer, "obj", data);
    drives[0].heal();
    assert(equalBytes(await get(layer, "obj"), data));
  });
});

/** Where each fault strikes, as on a real drive: a full one still opens files, a read-only one does not. */
const cases: {
  name: string;
  fault: Extract<Fault, { kind: "error" }>;
  on: FaultTarget[];
  error: typeof InsufficientWriteQuorum;
}[] = [
  {
    name: "full (ENOSPC)",
    fault: { kind: "error", errno: "ENOSPC" },
    on: ["write", "writeAll", "renameData"],
    error: StorageFull,
  },
  {
    name: "read-only (EROFS)",
    fault: { kind: "error", errno: "EROFS" },
    on: ["createFile", "write", "writeAll", "renameData", "makeVolume"],
    error: InsufficientWriteQuorum,
  },
];
for (const { name, fault, on, error } of cases) {
  Deno.test(`2 of 4 drives ${name}: PUT fails with ${error.name}, the old object stays`, async () => {
    await withFaultySet(async ({ layer, drives, handles }) => {
      const old = testBytes(2 * MiB, 6);
      await put(layer, "obj", old);
      for (const d of [drives[0], drives[3]]) d.inject(fault, on);
      await assertRejects(() => put(layer, "obj", testBytes(3 * MiB, 7)), error);
      await assertRejects(() => put(layer, "small", testBytes(10, 7)), error);
      assert(equalBytes(await get(layer, "obj"), old));
      // Readiness: drives that refuse writes go offline (their check writes), full ones do not.
      const readOnly = fault.errno === "EROFS";
      for (let i = 0; i < 50 && readOnly && handles[0].available; i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assertEquals(await layer.isWritable(), !readOnly);
    });
  });
}

Deno.test("2 of 4 drives fail the commit in a versioned bucket: the new version and marker are rolled back, the others stay", async () => {
  await withFaultySet(async ({ layer, drives }) => {
    layer.setBucketVersioning({ versioning: () => Promise.resolve("Enabled") });
    const first = await put(layer, "obj", testBytes(2 * MiB, 8));
    const second = await put(layer, "obj", testBytes(10, 9));
    const onDrives = async () => {
      const metas = await Promise.all(
        drives.map((d) => d.inner.readAll(BUCKET, `obj/${META_FILE}`).then(decodeXlMeta)),
      );
      return metas.map((m) => m.versions.map((v) => v.versionId));
    };
    const before = await onDrives();
    assertEquals(before, drives.map(() => [second.versionId, first.versionId]));
    const files = await Promise.all(drives.map((d) => d.inner.listDir(BUCKET, "obj")));
    for (const d of [drives[1], drives[2]]) {
      d.inject({ kind: "error", errno: "ENOSPC" }, ["renameData"]);
    }
    await assertRejects(() => put(layer, "obj", testBytes(3 * MiB, 10)), StorageFull);
    await assertRejects(() => layer.deleteObject(BUCKET, "obj"), StorageFull);
    await assertRejects(() => put(layer, "new", testBytes(10, 11)), StorageFull);
    for (const d of drives) d.heal();
    assertEquals(await onDrives(), before);
    assertEquals(await Promise.all(drives.map((d) => d.inner.listDir(BUCKET, "obj"))), files);
    await assertRejects(() => layer.getObjectInfo(BUCKET, "new"), ObjectNotFound);
    assert(equalBytes(await get(layer, "obj"), testBytes(10, 9)));
    const old = await layer.getObject(BUCKET, "obj", { versionId: first.versionId });
    assert(equalBytes(await readAll(old.body), testBytes(2 * MiB, 8)));
  });
});
