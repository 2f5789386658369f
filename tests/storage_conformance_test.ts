/**
 * One StorageAPI contract, run against every implementation: the local drive (XlStorage), the
 * same drive behind its DriveHandle, and the fault-injecting drive with no fault (behind a
 * handle too), and a peer's drive over HTTP (the real internode server and client in this
 * process, behind either HTTP engine) serving either of them.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { join } from "node:path";
import { META_FILE, type StorageAPI, SYSTEM_VOLUME, TMP_DIR } from "../src/storage/api.ts";
import { DriveHandle, type OpenedDrive } from "../src/storage/drive-handle.ts";
import {
  FileCorrupt,
  FileNotFound,
  VolumeExists,
  VolumeNotEmpty,
  VolumeNotFound,
} from "../src/storage/errors.ts";
import { compareKeys } from "../src/storage/paths.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { FaultyDrive } from "./helpers/faulty-drive.ts";
import { labels, versionMeta } from "./helpers/xl-meta.ts";
import { CorruptMeta } from "../src/storage/xl-meta.ts";
import { type PeerEngine, startStoragePeer, type StoragePeer } from "./helpers/storage-peer.ts";

/** Makes one implementation over a fresh directory. */
interface DriveFactory {
  name: string;
  open(dir: string): Promise<StorageAPI>;
  /** Ends what the factory started for the test (a peer's server). */
  close?(): Promise<void>;
}

const quiet = { log: () => {} };

export const DRIVES: DriveFactory[] = [
  { name: "XlStorage", open: (dir) => XlStorage.open(dir) },
  {
    name: "DriveHandle(XlStorage)",
    open: async (dir) => await DriveHandle.of(await XlStorage.open(dir), quiet),
  },
  {
    name: "DriveHandle(FaultyDrive), no fault",
    open: async (dir) => await DriveHandle.of(new FaultyDrive(await XlStorage.open(dir)), quiet),
  },
  remoteFactory("DriveHandle(RemoteDrive) of XlStorage", async (dir) => await XlStorage.open(dir)),
  remoteFactory(
    "DriveHandle(RemoteDrive) of FaultyDrive, no fault",
    async (dir) => new FaultyDrive(await XlStorage.open(dir)),
  ),
  remoteFactory(
    "DriveHandle(RemoteDrive) of XlStorage, peer on Deno.serve",
    async (dir) => await XlStorage.open(dir),
    "deno",
  ),
];

/** A peer's drive: `local` served by a peer (started with the test) behind its handle. */
function remoteFactory(
  name: string,
  local: (dir: string) => Promise<OpenedDrive>,
  engine?: PeerEngine,
): DriveFactory {
  let peer: StoragePeer | undefined;
  return {
    name,
    open: async (dir) => {
      peer ??= startStoragePeer(engine);
      peer.serve(dir, await DriveHandle.of(await local(dir), quiet));
      return await peer.open(dir);
    },
    close: async () => {
      await peer?.close();
      peer = undefined;
    },
  };
}

const enc = new TextEncoder();
const meta = (label: string, versionId: string, dataDir: string) =>
  versionMeta(label, { versionId, dataDir });
const dec = new TextDecoder();

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Writes a shard file in the temp area, as the erasure layer does before renameData. */
async function stage(drive: StorageAPI, data: string): Promise<string> {
  const dir = `${TMP_DIR}/${crypto.randomUUID()}`;
  const writer = await drive.createFile(SYSTEM_VOLUME, `${dir}/part.1`);
  await writer.write(enc.encode(data));
  await writer.close();
  return dir;
}

const CASES: Record<string, (drive: StorageAPI) => Promise<void>> = {
  "volumes: make, stat, list (the system volume hidden), delete empty or forced": async (d) => {
    await d.makeVolume("photos");
    await assertRejects(() => d.makeVolume("photos"), VolumeExists);
    await d.makeVolume("docs");
    assertEquals((await d.listVolumes()).map((v) => v.name), ["docs", "photos"]);
    assertEquals((await d.statVolume("docs")).name, "docs");
    await assertRejects(() => d.statVolume("nope"), VolumeNotFound);
    await d.writeAll("docs", "a/xl.meta", enc.encode("x"));
    await assertRejects(() => d.deleteVolume("docs"), VolumeNotEmpty);
    await d.deleteVolume("docs", true);
    await d.deleteVolume("photos");
    assertEquals(await d.listVolumes(), []);
  },
  "small files: written whole, read back, missing file vs missing volume": async (d) => {
    await d.makeVolume("b");
    await d.writeAll("b", "dir/sub/file", enc.encode("one"));
    await d.writeAll("b", "dir/sub/file", enc.encode("two"));
    assertEquals(dec.decode(await d.readAll("b", "dir/sub/file")), "two");
    await assertRejects(() => d.readAll("b", "dir/none"), FileNotFound);
    await assertRejects(() => d.readAll("none", "file"), VolumeNotFound);
    assertEquals(await d.listDir("b", "dir"), ["sub/"]);
    assertEquals((await d.statFile("b", "dir/sub/file")).size, 3);
    await d.delete("b", "dir", true);
    await assertRejects(() => d.listDir("b", "dir"), FileNotFound);
    await d.delete("b", "never-there");
  },
  "a write into a missing volume fails and creates no volume": async (d) => {
    await assertRejects(() => d.writeAll("gone", "obj/xl.meta", enc.encode("x")), VolumeNotFound);
    await assertRejects(() => d.createFile("gone", "obj/part.1"));
    await assertRejects(
      () => d.renameData(SYSTEM_VOLUME, "", "gone", "obj", "dd", versionMeta("m")),
      VolumeNotFound,
    );
    assertEquals(await d.listVolumes(), []);
  },
  "shard files: ranged stream reads, too short is FileCorrupt": async (d) => {
    const dir = await stage(d, "0123456789");
    const path = `${dir}/part.1`;
    assertEquals(
      dec.decode(await bytesOf(await d.readFileStream(SYSTEM_VOLUME, path, 2, 5))),
      "23456",
    );
    assertEquals((await bytesOf(await d.readFileStream(SYSTEM_VOLUME, path, 10, 0))).length, 0);
    await assertRejects(() => d.readFileStream(SYSTEM_VOLUME, path, 5, 6), FileCorrupt);
    await assertRejects(() => d.readFileStream(SYSTEM_VOLUME, `${dir}/none`, 0, 1), FileNotFound);
    const aborted = await d.createFile(SYSTEM_VOLUME, `${dir}/part.2`);
    await aborted.write(enc.encode("partial"));
    await aborted.abort();
    await assertRejects(() => d.statFile(SYSTEM_VOLUME, `${dir}/part.2`), FileNotFound);
  },
  "renameData commits data and metadata, answers the metadata it replaced": async (d) => {
    await d.makeVolume("b");
    const first = await stage(d, "v1");
    assertEquals(
      await d.renameData(SYSTEM_VOLUME, first, "b", "k", "dd1", meta("m1", "null", "dd1")),
      undefined,
    );
    const second = await stage(d, "v2");
    const m2 = meta("m2", "null", "dd2");
    const old = await d.renameData(SYSTEM_VOLUME, second, "b", "k", "dd2", m2, "dd1");
    assertEquals(labels(old!), ["m1"]);
    assertEquals(labels(await d.readAll("b", `k/${META_FILE}`)), ["m2"]);
    assertEquals(dec.decode(await d.readAll("b", "k/dd2/part.1")), "v2");
    await assertRejects(() => d.statFile("b", "k/dd1/part.1"), FileNotFound);
    // A data directory that is not there: nothing is written.
    await assertRejects(
      () => d.renameData(SYSTEM_VOLUME, `${TMP_DIR}/none`, "b", "new", "dd", versionMeta("m")),
      FileNotFound,
    );
    await assertRejects(() => d.readAll("b", `new/${META_FILE}`), FileNotFound);
  },
  "renameData merges: a new id is added, the same id replaced, the others kept": async (d) => {
    await d.makeVolume("b");
    const put = async (label: string, versionId: string, dataDir: string) =>
      await d.renameData(
        SYSTEM_VOLUME,
        await stage(d, label),
        "b",
        "k",
        dataDir,
        meta(label, versionId, dataDir),
      );
    await put("null v1", "null", "dn1");
    await put("a", "id-a", "da");
    assertEquals(labels(await d.readAll("b", `k/${META_FILE}`)), ["a", "null v1"]);
    // The null version replaced: its old data dir is left to the caller (no replacedDataDir).
    await put("null v2", "null", "dn2");
    assertEquals(labels(await d.readAll("b", `k/${META_FILE}`)), ["null v2", "a"]);
    assertEquals(dec.decode(await d.readAll("b", "k/da/part.1")), "a");
    // A delete marker: no data to move.
    await d.renameData(SYSTEM_VOLUME, "", "b", "k", "", meta("marker", "id-m", ""));
    assertEquals(labels(await d.readAll("b", `k/${META_FILE}`)), ["marker", "null v2", "a"]);
    // replacedDataDir still referred to by a version stays.
    await d.renameData(SYSTEM_VOLUME, "", "b", "k", "", meta("marker 2", "id-m", ""), "da");
    assertEquals(dec.decode(await d.readAll("b", "k/da/part.1")), "a");
    await assertRejects(
      () => d.renameData(SYSTEM_VOLUME, "", "b", "k", "", enc.encode("not xl.meta")),
      CorruptMeta,
    );
    // A corrupt xl.meta on the drive holds nothing to keep: the version replaces it.
    await d.writeAll("b", `rotten/${META_FILE}`, enc.encode("rotten"));
    const rotten = await d.renameData(SYSTEM_VOLUME, "", "b", "rotten", "", meta("m", "id", ""));
    assertEquals(dec.decode(rotten!), "rotten");
    assertEquals(labels(await d.readAll("b", `rotten/${META_FILE}`)), ["m"]);
  },
  "deleteVersion removes one version and its data dir, the object with the last": async (d) => {
    await d.makeVolume("b");
    await d.renameData(SYSTEM_VOLUME, await stage(d, "x"), "b", "k", "dx", meta("x", "id-x", "dx"));
    await d.renameData(SYSTEM_VOLUME, await stage(d, "y"), "b", "k", "dy", meta("y", "id-y", "dy"));
    await d.renameData(SYSTEM_VOLUME, "", "b", "k/nested", "dd", meta("n", "null", "dd"));
    await d.deleteVersion("b", "k", "id-y");
    assertEquals(labels(await d.readAll("b", `k/${META_FILE}`)), ["x"]);
    await assertRejects(() => d.statFile("b", "k/dy/part.1"), FileNotFound);
    assertEquals(dec.decode(await d.readAll("b", "k/dx/part.1")), "x");
    await assertRejects(() => d.deleteVersion("b", "k", "id-y"), FileNotFound);
    await d.deleteVersion("b", "k", "id-x");
    assertEquals(await d.listDir("b", "k"), ["nested/"]);
    await d.deleteVersion("b", "k/nested", "null");
    assertEquals(await d.listDir("b", ""), []);
    await assertRejects(() => d.deleteVersion("b", "k", "id-x"), FileNotFound);
    await assertRejects(() => d.deleteVersion("none", "k", "id-x"), VolumeNotFound);
  },
  "deleteObject removes metadata and data dir, keeps nested objects": async (d) => {
    await d.makeVolume("b");
    await d.renameData(SYSTEM_VOLUME, await stage(d, "x"), "b", "a", "dd", versionMeta("m"));
    await d.renameData(SYSTEM_VOLUME, "", "b", "a/b", "dd", versionMeta("inline"));
    await d.deleteObject("b", "a", "dd");
    await assertRejects(() => d.readAll("b", `a/${META_FILE}`), FileNotFound);
    assertEquals(labels(await d.readAll("b", `a/b/${META_FILE}`)), ["inline"]);
    await assertRejects(() => d.deleteObject("b", "a"), FileNotFound);
    await assertRejects(() => d.deleteObject("none", "a"), VolumeNotFound);
  },
  "walkDir: every object in key order, from a marker, with or without metadata": async (d) => {
    await d.makeVolume("b");
    const names = ["a/2", "a/10", "b", "a/1/x", "c\u00e9", "c~"];
    for (const n of names) await d.renameData(SYSTEM_VOLUME, "", "b", n, "dd", versionMeta(n));
    const walked = [];
    for await (const e of d.walkDir("b", {})) walked.push([e.name, labels(e.metadata!)[0]]);
    const sorted = [...names].sort(compareKeys);
    assertEquals(walked, sorted.map((n) => [n, n]));
    const after = [];
    for await (const e of d.walkDir("b", { startAfter: "a/2", withMetadata: false })) {
      assert(e.metadata === undefined);
      after.push(e.name);
    }
    assertEquals(after, sorted.slice(sorted.indexOf("a/2") + 1));
    await assertRejects(async () => {
      for await (const _ of d.walkDir("none", {})) { /* nothing */ }
    }, VolumeNotFound);
  },
  "diskInfo: sizes of the file system, this drive's endpoint": async (d) => {
    const info = await d.diskInfo();
    assert(info.total > 0 && info.free >= 0 && info.free <= info.total);
    assertEquals(info.endpoint, d.endpoint);
  },
};

for (const factory of DRIVES) {
  Deno.test(`StorageAPI conformance: ${factory.name}`, async (t) => {
    const root = await Deno.makeTempDir({ prefix: "flashstor-conformance-" });
    try {
      let n = 0;
      for (const [name, run] of Object.entries(CASES)) {
        const dir = join(root, `d${n++}`);
        await t.step(name, async () => await run(await factory.open(dir)));
      }
    } finally {
      await factory.close?.();
      await Deno.remove(root, { recursive: true });
    }
  });
}
