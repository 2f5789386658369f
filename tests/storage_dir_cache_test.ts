import { assert, assertEquals } from "./helpers/assert.ts";
import { join } from "node:path";
import { META_FILE } from "../src/storage/api.ts";
import { DirCache } from "../src/storage/dir-cache.ts";
import { compareKeys } from "../src/storage/paths.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { versionMeta } from "./helpers/xl-meta.ts";

const enc = new TextEncoder();
/** A directory mtime old enough for its listing to be cached. */
const LONG_AGO = new Date(Date.now() - 3600_000);

async function withDrive(fn: (drive: XlStorage, root: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-dircache-" });
  try {
    await fn(await XlStorage.open(join(dir, "drive")), join(dir, "drive"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const put = (drive: XlStorage, key: string) =>
  drive.renameData("", "", "b", key, "data", versionMeta(key));

async function names(drive: XlStorage, prefix = "", startAfter = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of drive.walkDir("b", { prefix, startAfter })) out.push(e.name);
  return out;
}

/** Sets the mtime of the given directories back, as if nothing had changed for an hour. */
async function age(...dirs: string[]): Promise<void> {
  for (const d of dirs) await Deno.utime(d, LONG_AGO, LONG_AGO);
}

Deno.test("a cached listing sees objects written and deleted through the drive at once", async () => {
  await withDrive(async (drive, root) => {
    await drive.makeVolume("b");
    await put(drive, "d/a");
    await put(drive, "d/b");
    const dir = join(root, "b", "d");
    await age(join(root, "b"), dir);
    assertEquals(await names(drive), ["d/a", "d/b"]);
    // The mtime is set back after each change: only the drive's own invalidation can tell.
    await put(drive, "d/c");
    await age(dir);
    assertEquals(await names(drive, "d/", "d/a"), ["d/b", "d/c"]);
    assertEquals(await drive.listDir("b", "d"), ["a/", "b/", "c/"]);
    await drive.deleteObject("b", "d/a", "data");
    await age(dir);
    assertEquals(await names(drive), ["d/b", "d/c"]);
    assertEquals(await drive.listDir("b", "d"), ["b/", "c/"]);
    await drive.writeAll("b", "d/e/" + META_FILE, enc.encode("e"));
    await age(dir);
    assertEquals(await names(drive), ["d/b", "d/c", "d/e"]);
    await drive.delete("b", "d/e", true);
    await age(dir);
    assertEquals(await names(drive), ["d/b", "d/c"]);
  });
});

Deno.test("a directory changed behind the drive's back is read again", async () => {
  await withDrive(async (drive, root) => {
    await drive.makeVolume("b");
    for (const k of ["d/a", "d/b", "d/c"]) await put(drive, k);
    const dir = join(root, "b", "d");
    await age(join(root, "b"), dir);
    assertEquals(await names(drive, "d/"), ["d/a", "d/b", "d/c"]);
    await Deno.mkdir(join(dir, "x"));
    await Deno.writeFile(join(dir, "x", META_FILE), enc.encode("x"));
    await Deno.remove(join(dir, "a"), { recursive: true });
    assertEquals(await names(drive, "d/"), ["d/b", "d/c", "d/x"]);
    assertEquals(await drive.listDir("b", "d"), ["b/", "c/", "x/"]);
  });
});

Deno.test("walks over cached listings honour prefix and start-after in key order", async () => {
  await withDrive(async (drive, root) => {
    await drive.makeVolume("b");
    const keys = [
      "a",
      "a-c",
      "a/b",
      "a/b/c",
      "a/bc",
      "ab",
      "b/x",
      "b/y/z",
      "é",
      "\uE000",
      "\u{1F600}",
    ];
    for (const k of keys) await put(drive, k);
    const dirs: string[] = [];
    for await (const e of Deno.readDir(join(root, "b"))) dirs.push(join(root, "b", e.name));
    await age(join(root, "b"), ...dirs, join(root, "b", "a", "b"), join(root, "b", "b", "y"));
    const sorted = [...keys].sort(compareKeys);
    const bounds = ["", "a", "a-", "a/", "a/b", "a/b/", "a/b/c", "ab", "b/", "b/y", "é", "\uE000"];
    for (let round = 0; round < 2; round++) {
      for (const prefix of ["", "a", "a/", "a/b", "b/", "b/y/", "c", "\uE000", "\u{1F600}"]) {
        for (const after of bounds) {
          const want = sorted.filter((k) => k.startsWith(prefix) && compareKeys(k, after) > 0);
          assertEquals(await names(drive, prefix, after), want, `prefix ${prefix} after ${after}`);
        }
      }
    }
  });
});

Deno.test("the listing cache keeps within its bound of names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-dircache-" });
  try {
    const cache = new DirCache(60);
    const dirs: string[] = [];
    for (let i = 0; i < 20; i++) {
      const d = join(dir, `d${i}`);
      for (let j = 0; j < 5; j++) await Deno.mkdir(join(d, `s${j}`), { recursive: true });
      dirs.push(d);
    }
    const big = join(dir, "big");
    for (let j = 0; j < 30; j++) await Deno.mkdir(join(big, `s${j}`), { recursive: true });
    await age(...dirs, big);
    for (const d of dirs) {
      assertEquals((await cache.read(d))?.subdirs.length, 5);
      assert(cache.size <= 60, `${cache.size} names held`);
    }
    // Each directory weighs 20 names (5 subdirectories, 10 positions, 5 listDir names).
    assertEquals(cache.size, 60);
    // Too large to hold at all: read, not cached, and nothing else evicted for it.
    assertEquals((await cache.read(big))?.subdirs.length, 30);
    assertEquals(cache.size, 60);
    assertEquals(await cache.read(join(dir, "missing")), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a directory changed just before it is read is not cached", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-dircache-" });
  try {
    const cache = new DirCache();
    await Deno.mkdir(join(dir, "fresh", "s"), { recursive: true });
    // Changed in the same clock tick as the read, a later change could keep its mtime.
    assertEquals((await cache.read(join(dir, "fresh")))?.subdirs, ["s"]);
    assertEquals(cache.size, 0);
    await age(join(dir, "fresh"));
    assertEquals((await cache.read(join(dir, "fresh")))?.subdirs, ["s"]);
    assertEquals(cache.size, 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
