import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ignoreWithout } from "./helpers/capabilities.ts";
import { join } from "node:path";
import { META_FILE, SYSTEM_VOLUME, TMP_DIR } from "../src/storage/api.ts";
import {
  DiskAccessDenied,
  DiskFull,
  DiskNotFound,
  FileCorrupt,
  FileNotFound,
  VolumeExists,
  VolumeNotEmpty,
  VolumeNotFound,
} from "../src/storage/errors.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { labels, versionMeta } from "./helpers/xl-meta.ts";
import { compareKeys } from "../src/storage/paths.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

async function withDrive(fn: (drive: XlStorage, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-xl-" });
  try {
    await fn(await XlStorage.open(join(dir, "drive")), join(dir, "drive"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function readStream(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function tmpEntries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(join(dir, SYSTEM_VOLUME, TMP_DIR)))).map((e) =>
    e.name
  );
}

/** Writes an object the way the object layer does: shard in tmp, then renameData. */
async function putObject(drive: XlStorage, volume: string, key: string, meta: string) {
  const staging = crypto.randomUUID();
  const dataDir = crypto.randomUUID();
  const w = await drive.createFile(SYSTEM_VOLUME, `${TMP_DIR}/${staging}/part.1`);
  await w.write(enc.encode(`data of ${key}`));
  await w.close();
  await drive.renameData(
    SYSTEM_VOLUME,
    `${TMP_DIR}/${staging}`,
    volume,
    key,
    dataDir,
    versionMeta(meta, { dataDir }),
  );
  await drive.delete(SYSTEM_VOLUME, `${TMP_DIR}/${staging}`, true);
  return dataDir;
}

Deno.test("open creates the drive and empties tmp of a previous run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-xl-" });
  try {
    const root = join(dir, "new", "drive");
    await XlStorage.open(root);
    const tmp = join(root, SYSTEM_VOLUME, TMP_DIR);
    await Deno.mkdir(join(tmp, "crashed-upload"), { recursive: true });
    await Deno.writeFile(join(tmp, "crashed-upload", "part.1"), new Uint8Array(10));
    await Deno.writeFile(join(tmp, "half-written"), new Uint8Array(3));
    await XlStorage.open(root);
    assertEquals(await Array.fromAsync(Deno.readDir(tmp)), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("volumes: create, list, stat, delete empty vs not empty, force", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("beta");
    await drive.makeVolume("alpha");
    await assertRejects(() => drive.makeVolume("alpha"), VolumeExists);
    assertEquals((await drive.listVolumes()).map((v) => v.name), ["alpha", "beta"]);
    assert((await drive.statVolume("alpha")).created > 0);
    await assertRejects(() => drive.statVolume("gamma"), VolumeNotFound);

    await drive.writeAll("beta", "k/xl.meta", enc.encode("m"));
    await assertRejects(() => drive.deleteVolume("beta"), VolumeNotEmpty);
    await drive.deleteVolume("alpha");
    await drive.deleteVolume("beta", true);
    assertEquals(await drive.listVolumes(), []);
    await assertRejects(() => drive.deleteVolume("beta"), VolumeNotFound);
    await assertRejects(() => drive.deleteVolume(SYSTEM_VOLUME, true), DiskAccessDenied);
  });
});

Deno.test("names that escape the volume or the drive are refused", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    for (const volume of ["..", ".", "a/b", ""]) {
      await assertRejects(() => drive.makeVolume(volume), DiskAccessDenied);
    }
    for (const path of ["../x", "a/../../x", "/etc/passwd", "a//b", "./a"]) {
      await assertRejects(() => drive.readAll("b", path), DiskAccessDenied);
      await assertRejects(() => drive.writeAll("b", path, new Uint8Array(1)), DiskAccessDenied);
    }
  });
});

Deno.test("writeAll replaces atomically and leaves nothing in tmp", async () => {
  await withDrive(async (drive, dir) => {
    await drive.makeVolume("b");
    await drive.writeAll("b", "x/y/file", enc.encode("one"));
    await drive.writeAll("b", "x/y/file", enc.encode("two, longer"));
    assertEquals(dec.decode(await drive.readAll("b", "x/y/file")), "two, longer");
    assertEquals(await tmpEntries(dir), []);
    // Many concurrent writers of one file: each read sees one complete version.
    const versions = Array.from({ length: 20 }, (_, i) => `version ${i} `.repeat(1000));
    const reads: Promise<Uint8Array>[] = [];
    await Promise.all(versions.map((v) => {
      reads.push(drive.readAll("b", "x/y/file"));
      return drive.writeAll("b", "x/y/file", enc.encode(v));
    }));
    for (const r of await Promise.all(reads)) {
      const text = dec.decode(r);
      assert(text === "two, longer" || versions.includes(text), "torn read");
    }
    await assertRejects(() => drive.writeAll("missing", "f", enc.encode("x")), VolumeNotFound);
    await assertRejects(() => drive.readAll("missing", "f"), VolumeNotFound);
    await assertRejects(() => drive.readAll("b", "nope"), FileNotFound);
    await assertRejects(() => drive.readAll("b", "x"), FileNotFound);
  });
});

Deno.test("createFile + readFileStream: ranges, FileCorrupt on a short file, FileNotFound", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    const data = new Uint8Array(3 * 1024 * 1024 + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + (i >> 11)) & 0xff;
    const w = await drive.createFile("b", "obj/dd/part.1");
    await w.write(data.subarray(0, 1000));
    await w.write(data.subarray(1000));
    await w.close();
    assertEquals(await drive.statFile("b", "obj/dd/part.1"), { size: data.length });

    const ranges: [number, number][] = [
      [0, data.length],
      [0, 0],
      [5, 10],
      [1024 * 1024 - 1, 1024 * 1024 + 2],
      [data.length - 1, 1],
      [data.length, 0],
    ];
    for (const [offset, length] of ranges) {
      const got = await readStream(
        await drive.readFileStream("b", "obj/dd/part.1", offset, length),
      );
      assertEquals(got, data.subarray(offset, offset + length), `range ${offset}+${length}`);
    }
    // Chunks of the size asked for (a reader of frames asks for whole frames), the last short.
    const sizes: number[] = [];
    const chunked = await drive.readFileStream("b", "obj/dd/part.1", 7, 3 * 524_296 + 5, {
      chunkSize: 2 * 524_296,
    });
    for await (const chunk of chunked) sizes.push(chunk.byteLength);
    assertEquals(sizes, [2 * 524_296, 524_296 + 5]);
    await assertRejects(
      () => drive.readFileStream("b", "obj/dd/part.1", data.length - 10, 11),
      FileCorrupt,
    );
    await assertRejects(() => drive.readFileStream("b", "obj/dd/part.2", 0, 1), FileNotFound);
    await assertRejects(() => drive.readFileStream("nob", "obj/dd/part.1", 0, 1), VolumeNotFound);
    await assertRejects(() => drive.statFile("b", "obj/dd"), FileNotFound);

    // A BYOB reader reads into its own buffer; cancel releases the file.
    const stream = await drive.readFileStream("b", "obj/dd/part.1", 7, 100);
    const reader = stream.getReader({ mode: "byob" });
    const { value } = await reader.read(new Uint8Array(50));
    assertEquals(value, data.subarray(7, 57));
    await reader.cancel();

    const aborted = await drive.createFile("b", "obj/dd/part.9");
    await aborted.write(new Uint8Array(5));
    await aborted.abort();
    await assertRejects(() => drive.statFile("b", "obj/dd/part.9"), FileNotFound);
  });
});

Deno.test("readFileStream fails with FileCorrupt when the file shrinks while streaming", async () => {
  await withDrive(async (drive, dir) => {
    await drive.makeVolume("b");
    await drive.writeAll("b", "f", new Uint8Array(3 * 1024 * 1024));
    const stream = await drive.readFileStream("b", "f", 0, 3 * 1024 * 1024);
    await Deno.truncate(join(dir, "b", "f"), 1024 * 1024);
    await assertRejects(() => readStream(stream), FileCorrupt);
  });
});

Deno.test("renameData commits data + metadata and removes the replaced data dir", async () => {
  await withDrive(async (drive, dir) => {
    await drive.makeVolume("b");
    const first = await putObject(drive, "b", "a/obj", "meta v1");
    assertEquals(labels(await drive.readAll("b", `a/obj/${META_FILE}`)), ["meta v1"]);
    assertEquals(dec.decode(await drive.readAll("b", `a/obj/${first}/part.1`)), "data of a/obj");

    const staging = crypto.randomUUID();
    const second = crypto.randomUUID();
    const w = await drive.createFile(SYSTEM_VOLUME, `${TMP_DIR}/${staging}/part.1`);
    await w.write(enc.encode("new data"));
    await w.close();
    await drive.renameData(
      SYSTEM_VOLUME,
      `${TMP_DIR}/${staging}`,
      "b",
      "a/obj",
      second,
      versionMeta("meta v2", { dataDir: second }),
      first,
    );
    assertEquals(labels(await drive.readAll("b", `a/obj/${META_FILE}`)), ["meta v2"]);
    assertEquals(dec.decode(await drive.readAll("b", `a/obj/${second}/part.1`)), "new data");
    assertEquals((await drive.listDir("b", "a/obj")).sort(), [`${second}/`, META_FILE].sort());
    assertEquals(await tmpEntries(dir), []);

    // Inline object: no data dir to move, only the metadata is written.
    await drive.renameData(SYSTEM_VOLUME, "", "b", "inline", "dd", versionMeta("m"));
    assertEquals(await drive.listDir("b", "inline"), [META_FILE]);
    await assertRejects(
      () => drive.renameData(SYSTEM_VOLUME, "", "nob", "o", "dd", versionMeta("m")),
      VolumeNotFound,
    );
  });
});

Deno.test("renameData whose data dir vanished fails and leaves the old object readable", async () => {
  await withDrive(async (drive, dir) => {
    await drive.makeVolume("b");
    const first = await putObject(drive, "b", "obj", "meta v1");
    // A second server starting on this drive empties the temp area under an in-flight PUT.
    const staging = crypto.randomUUID();
    const w = await drive.createFile(SYSTEM_VOLUME, `${TMP_DIR}/${staging}/part.1`);
    await w.write(enc.encode("new data"));
    await w.close();
    await Deno.remove(join(dir, SYSTEM_VOLUME, TMP_DIR, staging), { recursive: true });
    await assertRejects(
      () =>
        drive.renameData(
          SYSTEM_VOLUME,
          `${TMP_DIR}/${staging}`,
          "b",
          "obj",
          "dd2",
          versionMeta("v2"),
        ),
      FileNotFound,
    );
    assertEquals(labels(await drive.readAll("b", `obj/${META_FILE}`)), ["meta v1"]);
    assertEquals(dec.decode(await drive.readAll("b", `obj/${first}/part.1`)), "data of obj");
    // Nor does a new object come into being pointing at nothing.
    await assertRejects(
      () =>
        drive.renameData(
          SYSTEM_VOLUME,
          `${TMP_DIR}/${staging}`,
          "b",
          "new",
          "dd",
          versionMeta("m"),
        ),
      FileNotFound,
    );
    await assertRejects(() => drive.listDir("b", "new"), FileNotFound);
  });
});

Deno.test("the free-space reserve refuses object data, keeps metadata writes and deletes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-xl-" });
  try {
    const open = (bytes: number) =>
      XlStorage.open(join(dir, "d"), { reserve: { fraction: 0, bytes } });
    const roomy = await open(0);
    await roomy.makeVolume("b");
    const old = await putObject(roomy, "b", "old", "meta of old");
    await roomy.renameData(SYSTEM_VOLUME, "", "b", "small", "dd", versionMeta("inline v1"));
    // A reserve larger than the file system: no object data fits any more.
    const full = await open(Number.MAX_SAFE_INTEGER);
    const w = await full.createFile(SYSTEM_VOLUME, `${TMP_DIR}/s/part.1`);
    await assertRejects(() => w.write(enc.encode("shard")), DiskFull);
    await w.abort();
    await assertRejects(
      () => full.renameData(SYSTEM_VOLUME, "", "b", "new-small", "dd", versionMeta("inline")),
      DiskFull,
    );
    await assertRejects(() => full.listDir("b", "new-small"), FileNotFound);
    // Metadata: small files, an existing object's metadata, deletes.
    await full.writeAll(SYSTEM_VOLUME, "multipart/record.json", enc.encode("{}"));
    await full.renameData(SYSTEM_VOLUME, "", "b", "small", "dd", versionMeta("inline v2"));
    assertEquals(labels(await full.readAll("b", `small/${META_FILE}`)), ["inline v2"]);
    await full.deleteObject("b", "old", old);
    await assertRejects(() => full.readAll("b", `old/${META_FILE}`), FileNotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deleteObject removes metadata and data, prunes empty dirs, keeps nested objects", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    const outer = await putObject(drive, "b", "x/a", "outer");
    await putObject(drive, "b", "x/a/b/c", "nested");
    const lone = await putObject(drive, "b", "y/z/lone", "lone");

    await drive.deleteObject("b", "x/a", outer);
    await assertRejects(() => drive.readAll("b", `x/a/${META_FILE}`), FileNotFound);
    assertEquals(await drive.listDir("b", "x/a"), ["b/"]);
    assertEquals(labels(await drive.readAll("b", `x/a/b/c/${META_FILE}`)), ["nested"]);

    await drive.deleteObject("b", "y/z/lone", lone);
    assertEquals(await drive.listDir("b", ""), ["x/"]);
    await assertRejects(() => drive.deleteObject("b", "y/z/lone", lone), FileNotFound);
    await assertRejects(() => drive.deleteObject("nob", "o"), VolumeNotFound);
    assertEquals((await drive.listVolumes()).map((v) => v.name), ["b"]);
  });
});

Deno.test("walkDir yields objects in UTF-8 byte order, with prefix and startAfter", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    const keys = [
      "a",
      "a-c",
      "a/b",
      "a/b/c",
      "a.b",
      "ab",
      "b",
      "z/deep/er/key",
      "ü",
      "\u{ff5e}",
      "\u{1f600}",
      "é/x",
    ];
    // Insert in a scrambled order so that directory order cannot give the answer.
    for (const key of [...keys].reverse()) await putObject(drive, "b", key, `meta:${key}`);
    await drive.writeAll("b", "prefixonly/notmeta", enc.encode("not an object"));
    const sorted = [...keys].sort(compareKeys);
    assertEquals(sorted.slice(0, 6), ["a", "a-c", "a.b", "a/b", "a/b/c", "ab"]);
    assertEquals(sorted.slice(-2), ["\u{ff5e}", "\u{1f600}"]);

    const names = async (prefix?: string, startAfter?: string) =>
      (await collect(drive.walkDir("b", { prefix, startAfter }))).map((e) => e.name);
    const all = await collect(drive.walkDir("b", {}));
    assertEquals(all.map((e) => e.name), sorted);
    assertEquals(all.map((e) => labels(e.metadata!)[0]), sorted.map((k) => `meta:${k}`));

    assertEquals(await names("a"), ["a", "a-c", "a.b", "a/b", "a/b/c", "ab"]);
    assertEquals(await names("a/"), ["a/b", "a/b/c"]);
    assertEquals(await names("a/b/"), ["a/b/c"]);
    assertEquals(await names("z/d"), ["z/deep/er/key"]);
    assertEquals(await names("q"), []);
    assertEquals(await names("a/x/"), []);
    assertEquals(await names("../b/"), []);
    assertEquals(await names("a//"), []);
    for (let i = 0; i < sorted.length; i++) {
      assertEquals(await names(undefined, sorted[i]), sorted.slice(i + 1), `after ${sorted[i]}`);
    }
    assertEquals(await names(undefined, "a/a"), sorted.slice(sorted.indexOf("a/b")));
    assertEquals(await names(undefined, "a/b/"), sorted.slice(sorted.indexOf("a/b/c")));
    assertEquals(await names("a", "a-c"), ["a.b", "a/b", "a/b/c", "ab"]);
    await assertRejects(() => collect(drive.walkDir("nob", {})), VolumeNotFound);
  });
});

Deno.test("walkDir of the system volume skips the temp area", async () => {
  await withDrive(async (drive) => {
    await drive.writeAll(SYSTEM_VOLUME, `multipart/u1/${META_FILE}`, enc.encode("upload"));
    await drive.writeAll(SYSTEM_VOLUME, `${TMP_DIR}/t/${META_FILE}`, enc.encode("temp"));
    const names = (await collect(drive.walkDir(SYSTEM_VOLUME, {}))).map((e) => e.name);
    assertEquals(names, ["multipart/u1"]);
  });
});

Deno.test("diskInfo reports file-system size and the drive id from format.json", async () => {
  await withDrive(async (drive) => {
    const info = await drive.diskInfo();
    assert(info.total > 0 && info.free > 0 && info.free <= info.total, JSON.stringify(info));
    assertEquals(info.id, "");
    assertEquals(info.endpoint, drive.endpoint);
  });
});

/**
 * Makes `dir` unwritable. As a normal user chmod does it; root ignores modes, so there the
 * immutable attribute (chattr +i, which binds root too) is used when the file system has it.
 * Returns an undo function, or the reason the test cannot run.
 */
async function makeUnwritable(dir: string): Promise<(() => Promise<void>) | string> {
  if (Deno.uid() !== 0) {
    await Deno.chmod(dir, 0o500);
    return () => Deno.chmod(dir, 0o700);
  }
  const chattr = async (flag: string) =>
    (await new Deno.Command("chattr", { args: [flag, dir], stderr: "piped" }).output()).success;
  try {
    if (await chattr("+i")) return async () => void (await chattr("-i"));
  } catch (err) {
    return `running as root and chattr is unavailable (${(err as Error).message})`;
  }
  return "running as root and the file system refuses chattr +i";
}

/** Why no directory can be made unwritable here (probed on a scratch one); undefined if it can. */
const cannotBlock = await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-chattr-probe-" });
  const undo = await makeUnwritable(dir);
  if (typeof undo !== "string") await undo();
  await Deno.remove(dir);
  return typeof undo === "string" ? undo : undefined;
})();

const unwritableDrive = "an unwritable drive directory gives DiskAccessDenied";
Deno.test(
  { name: unwritableDrive, ignore: ignoreWithout(unwritableDrive, cannotBlock) },
  async (t) => {
    await withDrive(async (drive, dir) => {
      await drive.makeVolume("b");
      const blocked = join(dir, "b");
      const undo = await makeUnwritable(blocked);
      if (typeof undo === "string") throw new Error(undo);
      try {
        await assertRejects(() => drive.writeAll("b", "f", enc.encode("x")), DiskAccessDenied);
        await assertRejects(() => drive.createFile("b", "o/part.1"), DiskAccessDenied);
        await assertRejects(
          () => drive.renameData(SYSTEM_VOLUME, "", "b", "o", "dd", versionMeta("m")),
          DiskAccessDenied,
        );
        await assertRejects(() => XlStorage.open(blocked), DiskAccessDenied);
      } finally {
        await undo();
      }
      await t.step("writable again after undo", async () => {
        await drive.writeAll("b", "f", enc.encode("x"));
      });
    });
  },
);

Deno.test("a drive whose directory vanished reports DiskNotFound", async () => {
  await withDrive(async (drive, dir) => {
    await drive.makeVolume("b");
    await Deno.remove(dir, { recursive: true });
    await assertRejects(() => drive.readAll("b", "f"), DiskNotFound);
    await assertRejects(() => drive.writeAll("b", "f", enc.encode("x")), DiskNotFound);
    await assertRejects(() => drive.statVolume("b"), DiskNotFound);
    await assertRejects(() => drive.makeVolume("c"), DiskNotFound);
    await assertRejects(() => drive.listVolumes(), DiskNotFound);
    await assertRejects(() => drive.diskInfo(), DiskNotFound);
    await Deno.mkdir(dir);
  });
});

Deno.test("walkDir streams: directories are read as the walk reaches them", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    await putObject(drive, "b", "a/1", "m");
    await putObject(drive, "b", "m/x/1", "m");
    const walk = drive.walkDir("b", {})[Symbol.asyncIterator]();
    assertEquals((await walk.next()).value?.name, "a/1");
    // m/x has not been read yet, so an object added there now is still found.
    await putObject(drive, "b", "m/x/2", "m");
    const rest: string[] = [];
    for (let r = await walk.next(); !r.done; r = await walk.next()) rest.push(r.value.name);
    assertEquals(rest, ["m/x/1", "m/x/2"]);
  });
});

Deno.test("listDir marks directories and sorts by byte order", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    await drive.writeAll("b", "d/file", enc.encode("x"));
    await drive.writeAll("b", "d/sub/f", enc.encode("x"));
    await drive.writeAll("b", "d/sub-a", enc.encode("x"));
    assertEquals(await drive.listDir("b", "d"), ["file", "sub-a", "sub/"]);
    assertEquals(await drive.listDir("b", ""), ["d/"]);
    await assertRejects(() => drive.listDir("b", "nope"), FileNotFound);
    await assertRejects(() => drive.listDir("nob", ""), VolumeNotFound);
    await drive.delete("b", "d/sub", true);
    await drive.delete("b", "d/absent");
    assertEquals(await drive.listDir("b", "d"), ["file", "sub-a"]);
  });
});

Deno.test("renameData survives deleteObject pruning the directory it writes into", async () => {
  await withDrive(async (drive) => {
    await drive.makeVolume("b");
    const inline = (key: string, meta: string) =>
      drive.renameData(SYSTEM_VOLUME, "", "b", key, "dd", versionMeta(meta));
    for (let round = 0; round < 50; round++) {
      await inline("p/q/old", "old");
      // Deleting p/q/old prunes p/q while it is empty, i.e. before the new p/q/xl.meta lands.
      await Promise.all([drive.deleteObject("b", "p/q/old"), inline("p/q", "new")]);
      assertEquals(labels(await drive.readAll("b", `p/q/${META_FILE}`)), ["new"]);
      await drive.deleteObject("b", "p/q");
      assertEquals(await drive.listDir("b", ""), []);
    }
  });
});
