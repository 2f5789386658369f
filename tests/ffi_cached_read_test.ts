import { assert, assertEquals } from "./helpers/assert.ts";
import {
  CACHED_READ_LIMIT,
  type CachedReadMode,
  cachedReadModeOf,
  readCachedFile,
} from "../ffi/cached-read.ts";

/** A temp dir on disk (/tmp) and one in memory (/dev/shm, tmpfs), where this machine has it. */
async function dirs(): Promise<{ dir: string; mode: CachedReadMode }[]> {
  const out = [];
  for (const base of ["/tmp", "/dev/shm"]) {
    const dir = await Deno.makeTempDir({ dir: base, prefix: "flashstor-cached-read-" }).catch(
      () => undefined,
    );
    if (dir) out.push({ dir, mode: await cachedReadModeOf(dir) });
  }
  return out;
}

/**
 * readCachedFile until it reads: it may refuse whenever the kernel would have to wait (pages of
 * a file just rewritten can be under writeback on a disk file system), so a refusal is tried
 * again for a while; wrong bytes never are.
 */
async function readWhenCached(path: string, mode: CachedReadMode): Promise<Uint8Array | undefined> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const bytes = readCachedFile(path, mode);
    if (bytes !== undefined) return bytes;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return undefined;
}

Deno.test("cached reads: whole files as written, undefined for what must take the async path", async () => {
  for (const { dir, mode } of await dirs()) {
    try {
      // tmpfs needs nothing but libc; a disk filesystem may lack RWF_NOWAIT.
      if (dir.startsWith("/dev/shm")) assertEquals(mode, "memory", dir);
      else if (mode === "off") {
        console.log(`cached reads are off under ${dir} (no RWF_NOWAIT there): skipped`);
        continue;
      } else assertEquals(mode, "page-cache", dir);
      for (const size of [1, 4500, 200 * 1024, CACHED_READ_LIMIT]) {
        const bytes = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff);
        await Deno.writeFile(`${dir}/f`, bytes);
        assertEquals(await readWhenCached(`${dir}/f`, mode), bytes, `${size} bytes under ${dir}`);
        assertEquals(readCachedFile(`${dir}/f`, "off"), undefined);
      }
      await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
      assertEquals(readCachedFile(`${dir}/empty`, mode), undefined, "empty (or a FIFO)");
      // Reads share buffers: earlier results must survive later reads, across many buffers.
      const kept = [];
      for (let i = 0; i < 40; i++) {
        const bytes = new Uint8Array(1 + i * 6007).fill(i);
        await Deno.writeFile(`${dir}/n${i}`, bytes);
        kept.push({ bytes, read: await readWhenCached(`${dir}/n${i}`, mode) });
      }
      for (const { bytes, read } of kept) assertEquals(read, bytes);
      await Deno.writeFile(`${dir}/big`, new Uint8Array(CACHED_READ_LIMIT + 1));
      assertEquals(readCachedFile(`${dir}/big`, mode), undefined, "over the limit");
      assertEquals(readCachedFile(`${dir}/missing`, mode), undefined, "missing");
      assertEquals(readCachedFile(dir, mode), undefined, "a directory");
      assertEquals(readCachedFile(`${dir}/f\0ignored`, mode), undefined, "a NUL in the path");
      await Deno.symlink(`${dir}/f`, `${dir}/link`);
      // Following a link whose atime is not after its ctime updates the atime (relatime), which
      // a cached lookup may not do: it is refused until the link has been followed once at a
      // later clock tick than its creation.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await Deno.readFile(`${dir}/link`);
      const linked = await readWhenCached(`${dir}/link`, mode);
      assert(linked?.byteLength === CACHED_READ_LIMIT, "symlink");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});
