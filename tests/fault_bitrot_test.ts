/**
 * Silent corruption, end to end: bytes flipped or cut off inside the shard files (part.N) or
 * the inline shards (in xl.meta) of objects on the real server's drives. GETs still return
 * exact bytes, and healing rewrites the damaged shards with their original content — checked
 * byte for byte, and by losing the two other drives afterwards.
 */

import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { signedFetch } from "./s3_raw.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  equalBytes,
  expectAll,
  type Expected,
  failure,
  fillBucket,
  listAll,
  loseBucket,
  metaPath,
  MiB,
  parseMeta,
  partPath,
  pattern,
  put,
  readAsFarAsItGoes,
  resealMeta,
  restored,
  snapshot,
  waitUntil,
} from "./fault_util.ts";

const BUCKET = "bitrot";
const FRAME = 8 + 512 * 1024; // checksum + shard block of a full 1 MiB stripe over 2 data shards

interface Fixture {
  server: TestServer;
  objects: Map<string, Expected>;
}

async function withObjects(seed: number, fn: (f: Fixture) => Promise<void>): Promise<void> {
  const server = await startServer();
  try {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await fn({ server, objects: await fillBucket(s3, BUCKET, seed) });
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.cleanup();
  }
}

/** The drives holding data shards (index ≤ k) and parity shards of `key`, by their xl.meta. */
async function shardHolders(server: TestServer, key: string) {
  const data: string[] = [];
  const parity: string[] = [];
  for (const drive of server.drives) {
    const { version } = parseMeta(await Deno.readFile(metaPath(drive, BUCKET, key)));
    (version.erasure.index <= version.erasure.dataShards ? data : parity).push(drive);
  }
  assertEquals([data.length, parity.length], [2, 2], `shard holders of ${key}`);
  return { data, parity };
}

async function flip(path: string, offsets: number[]): Promise<void> {
  const bytes = await Deno.readFile(path);
  for (const at of offsets) {
    assert(at < bytes.byteLength, `offset ${at} inside ${path} (${bytes.byteLength} bytes)`);
    bytes[at] ^= 0x5a;
  }
  await Deno.writeFile(path, bytes);
}

/** Snapshots of the bucket directory of `drives`, taken before the damage. */
async function before(drives: string[]) {
  return new Map(
    await Promise.all(drives.map(async (d) => [d, await snapshot(`${d}/${BUCKET}`)] as const)),
  );
}

/** Two drives other than the damaged ones: losing them leaves the healed drives to serve. */
function besides(server: TestServer, damaged: Map<string, unknown>): string[] {
  return server.drives.filter((d) => !damaged.has(d)).slice(0, 2);
}

/** The damage is really there (checked before any read could queue a heal that repairs it). */
async function assertDamaged(original: Map<string, Map<string, Uint8Array>>): Promise<void> {
  for (const [drive, files] of original) {
    assert(!await restored(`${drive}/${BUCKET}`, files), `${drive} is damaged to begin with`);
  }
}

/**
 * Reads everything (exact bytes; reads find the damage and queue heals) until the damaged
 * drives hold their original files again; then removes the bucket from the two drives in
 * `expendable` and reads everything exactly from what is left.
 */
async function expectHealed(
  f: Fixture,
  original: Map<string, Map<string, Uint8Array>>,
  expendable: string[],
  timeoutMs = 30_000,
): Promise<void> {
  const s3 = client(f.server);
  await waitUntil("damaged shards rewritten", async () => {
    await expectAll(s3, BUCKET, f.objects);
    for (const [drive, files] of original) {
      if (!await restored(`${drive}/${BUCKET}`, files)) return false;
    }
    return true;
  }, timeoutMs);
  for (const d of expendable) await loseBucket(d, BUCKET);
  await expectAll(s3, BUCKET, f.objects);
}

Deno.test("fault: bytes flipped in part files on one data drive → exact (ranged) reads, shards rewritten", async () => {
  await withObjects(500, async (f) => {
    const big = await shardHolders(f.server, "big-12m");
    const multi = await shardHolders(f.server, "multipart-11m");
    const original = await before([...new Set([big.data[0], multi.data[1]])]);
    await flip(await partPath(big.data[0], BUCKET, "big-12m"), [
      8 + 100,
      5 * FRAME + 9,
      12 * FRAME + 3,
    ]);
    await flip(await partPath(multi.data[1], BUCKET, "multipart-11m", 2), [2 * FRAME + 77]);
    await assertDamaged(original);

    const want = f.objects.get("big-12m")!.bytes;
    const range = await client(f.server).send(
      new GetObjectCommand({ Bucket: BUCKET, Key: "big-12m", Range: "bytes=5000000-5600000" }),
    );
    const slice = await range.Body!.transformToByteArray();
    assert(equalBytes(slice, want.subarray(5_000_000, 5_600_001)), "ranged read over a bad block");

    await expectHealed(f, original, besides(f.server, original));
  });
});

Deno.test("fault: both data shards of an object corrupted → rebuilt from parity, both rewritten", async () => {
  await withObjects(600, async (f) => {
    const { data, parity } = await shardHolders(f.server, "big-12m");
    const original = await before(data);
    await flip(await partPath(data[0], BUCKET, "big-12m"), [8 + 1, 7 * FRAME + 8]);
    await flip(await partPath(data[1], BUCKET, "big-12m"), [8 + 2, 3 * FRAME + 100]);
    await assertDamaged(original);
    await expectHealed(f, original, parity);
  });
});

Deno.test("fault: inline shards in xl.meta corrupted (resealed and not) → exact reads, rewritten", async () => {
  await withObjects(700, async (f) => {
    const { data, parity } = await shardHolders(f.server, "small-200k");
    const original = await before(data);
    for (const [i, drive] of data.entries()) {
      const path = metaPath(drive, BUCKET, "small-200k");
      const bytes = await Deno.readFile(path);
      const { version, inlineStart } = parseMeta(bytes);
      assert(version.inlineLength > 1000, "small-200k is stored inline");
      bytes[inlineStart + 8 + 500 + i] ^= 0x01;
      // Resealed, only the shard's own bitrot checksum can tell; unsealed, xl.meta's CRC does.
      if (i === 0) resealMeta(bytes);
      await Deno.writeFile(path, bytes);
    }
    await assertDamaged(original);
    await expectHealed(f, original, parity);
  });
});

Deno.test("fault: truncated and emptied part files → exact reads, rewritten in full", async () => {
  await withObjects(800, async (f) => {
    const big = await shardHolders(f.server, "big-12m");
    const nested = await shardHolders(f.server, "a/b/c/nested-3m");
    const original = await before([...new Set([big.data[0], nested.data[1]])]);
    const cut = await partPath(big.data[0], BUCKET, "big-12m");
    await Deno.truncate(cut, (await Deno.stat(cut)).size - 1000);
    await Deno.truncate(await partPath(nested.data[1], BUCKET, "a/b/c/nested-3m"), 0);
    await assertDamaged(original);
    await expectHealed(f, original, besides(f.server, original));
  });
});

Deno.test("fault: a corrupt parity shard found when a data drive is lost → exact reads, both healed", async () => {
  await withObjects(900, async (f) => {
    const { data, parity } = await shardHolders(f.server, "big-12m");
    const original = await before([parity[0], data[0]]);
    await flip(await partPath(parity[0], BUCKET, "big-12m"), [8 + 4, 6 * FRAME + 50]);
    await loseBucket(data[0], BUCKET);
    await assertDamaged(original);
    await expectHealed(f, original, [data[1], parity[1]]);
  });
});

Deno.test("fault: xl.meta garbled, truncated, or lying (resealed: newer time, other ETag) → exact reads, rewritten", async () => {
  await withObjects(1000, async (f) => {
    const [d1, d2, d3, d4] = f.server.drives;
    const original = await before([d1, d2]);
    await flip(metaPath(d1, BUCKET, "big-12m"), [20, 40]);
    const cut = metaPath(d2, BUCKET, "multipart-11m");
    await Deno.truncate(cut, (await Deno.stat(cut)).size - 10);
    for (const [drive, key] of [[d1, "a/b/c/nested-3m"], [d2, "small-1k"]]) {
      const path = metaPath(drive, BUCKET, key);
      const bytes = await Deno.readFile(path);
      const { version, inlineStart } = parseMeta(bytes);
      const header = bytes.subarray(12, inlineStart - 4); // without the shard index
      const text = new TextDecoder().decode(header);
      const lie = text.replace(
        `"modTime":${version.modTime}`,
        `"modTime":${version.modTime + 1000}`,
      )
        .replace(version.etag, version.etag.replace(/^./, (c) => (c === "0" ? "1" : "0")));
      assert(lie !== text && lie.length === text.length, `the lie about ${key} keeps the layout`);
      const lying = bytes.slice();
      lying.set(new TextEncoder().encode(lie), 12);
      resealMeta(lying);
      assertEquals(parseMeta(lying).version.modTime, version.modTime + 1000);
      await Deno.writeFile(path, lying);
    }
    await assertDamaged(original);
    await expectHealed(f, original, [d3, d4]);
  });
});

Deno.test("fault: a shard file cut short while a GET streams it → the GET goes on from parity, exact", async () => {
  await withObjects(1100, async (f) => {
    const s3 = client(f.server);
    const bytes = pattern(30 * MiB + 5, 1101);
    f.objects.set("stream-30m", { bytes, etag: await put(s3, BUCKET, "stream-30m", bytes) });
    const { data, parity } = await shardHolders(f.server, "stream-30m");
    const original = await before([data[0]]);
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "stream-30m" }));
    const reader = out.Body!.transformToWebStream().getReader();
    const received = new Uint8Array(bytes.byteLength);
    let at = 0;
    let cut = false;
    for (let i = 0; i < 10_000; i++) {
      const chunk = await reader.read();
      if (chunk.done) break;
      received.set(chunk.value, at);
      at += chunk.value.byteLength;
      if (!cut && at >= 3 * MiB) {
        await Deno.truncate(await partPath(data[0], BUCKET, "stream-30m"), 2 * FRAME);
        cut = true;
      }
    }
    assert(cut, "the shard was cut while the GET was under way");
    assertEquals(at, bytes.byteLength, "bytes received");
    assert(equalBytes(received, bytes), "the streamed bytes are exact");
    await expectHealed(f, original, [data[1], parity[0]]);
  });
});

Deno.test("fault: 3 of 4 shards corrupt → 503 S3 error if found before the first byte, else a body that breaks off; never wrong bytes, nothing healed over", async () => {
  await withObjects(1200, async (f) => {
    const want = f.objects.get("big-12m")!.bytes;
    const [d1, d2, d3, d4] = f.server.drives;
    const parts = await Promise.all(f.server.drives.map((d) => partPath(d, BUCKET, "big-12m")));
    const good = await Promise.all(parts.map((p) => Deno.readFile(p)));
    for (const [block, label] of [[0, "first"], [6, "seventh"]] as const) {
      await Promise.all(parts.map((p, i) => Deno.writeFile(p, good[i])));
      for (const p of parts.slice(0, 3)) await flip(p, [block * FRAME + 8 + 33]);
      const corrupted = await Promise.all(parts.slice(0, 3).map((p) => Deno.readFile(p)));
      const res = await signedFetch(f.server, { method: "GET", path: `/${BUCKET}/big-12m` });
      if (block === 0) {
        const text = await res.text();
        assertEquals(res.status, 503, `${label} block: ${text}`);
        assertStringIncludes(text, "<Code>ServiceUnavailable</Code>");
      } else {
        assertEquals(res.status, 200, `${label} block: the first blocks are good`);
        const { bytes, broken } = await readAsFarAsItGoes(res.body!);
        assert(broken, `${label} block: the body breaks off`);
        assert(bytes.byteLength < want.byteLength, `${label} block: short body`);
        assert(equalBytes(bytes, want.subarray(0, bytes.byteLength)), "what came is exact");
      }
      // Whatever heals were queued must not write over or remove what is left.
      await new Promise((r) => setTimeout(r, 500));
      assertEquals(await Deno.readFile(parts[3]), good[3], `${d4}: the intact shard`);
      for (const [i, p] of parts.slice(0, 3).entries()) {
        assertEquals(await Deno.readFile(p), corrupted[i], `${[d1, d2, d3][i]}: left as it was`);
      }
    }
  });
});

Deno.test("fault: xl.meta corrupt on 3 of 4 drives → 503, not NoSuchKey, and the last good copy is kept", async () => {
  await withObjects(1300, async (f) => {
    const s3 = client(f.server);
    const [d1, d2, d3, d4] = f.server.drives;
    for (const key of ["big-12m", "small-200k"]) {
      const last = await snapshot(`${d4}/${BUCKET}/${key}`);
      for (const d of [d1, d2, d3]) await flip(metaPath(d, BUCKET, key), [30]);
      const got = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
      assertEquals(got, { status: 503, code: "ServiceUnavailable" }, `GET ${key}`);
      const listed = await listAll(s3, BUCKET);
      assert(!listed.has(key), `${key} is not listed while unreadable`);
      // Heals queued by the read and the listing must not take the readable copy away.
      await new Promise((r) => setTimeout(r, 500));
      assertEquals(await snapshot(`${d4}/${BUCKET}/${key}`), last, `${key} on ${d4}`);
    }
  });
});

Deno.test("fault: xl.meta corrupt on one drive, gone from two → the copies left are not purged as dangling", async () => {
  await withObjects(1350, async (f) => {
    const s3 = client(f.server);
    const [d1, d2, d3, d4] = f.server.drives;
    const key = "big-12m";
    const kept = [
      await snapshot(`${d1}/${BUCKET}/${key}`),
      await snapshot(`${d4}/${BUCKET}/${key}`),
    ];
    await flip(metaPath(d1, BUCKET, key), [30]);
    kept[0] = await snapshot(`${d1}/${BUCKET}/${key}`);
    for (const d of [d2, d3]) await Deno.remove(`${d}/${BUCKET}/${key}`, { recursive: true });
    // Two drives lack it: NoSuchKey or 503 are both fair; the remnants stay for repair.
    const got = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
    assert([404, 503].includes(got.status), `GET ${key}: ${JSON.stringify(got)}`);
    await listAll(s3, BUCKET);
    await new Promise((r) => setTimeout(r, 500));
    assertEquals(await snapshot(`${d1}/${BUCKET}/${key}`), kept[0], `${key} on ${d1}`);
    assertEquals(await snapshot(`${d4}/${BUCKET}/${key}`), kept[1], `${key} on ${d4}`);
  });
});

Deno.test("fault: bad blocks on 3 drives in 3 different stripes (each stripe decodable) → GET exact", async () => {
  await withObjects(1380, async (f) => {
    const want = f.objects.get("big-12m")!;
    const byIndex = new Map<number, string>();
    for (const d of f.server.drives) {
      byIndex.set(
        parseMeta(await Deno.readFile(metaPath(d, BUCKET, "big-12m"))).version.erasure.index,
        d,
      );
    }
    // Data shard 1 fails at stripe 1 (parity 3 steps in), data shard 2 at stripe 2 (parity 4
    // steps in), parity 3 at stripe 3: stripe 3 still has shards 1, 2 and 4.
    for (const [index, block] of [[1, 1], [2, 2], [3, 3]]) {
      await flip(await partPath(byIndex.get(index)!, BUCKET, "big-12m"), [block * FRAME + 500]);
    }
    const res = await signedFetch(f.server, { method: "GET", path: `/${BUCKET}/big-12m` });
    assertEquals(res.status, 200);
    const { bytes, broken } = await readAsFarAsItGoes(res.body!);
    assert(
      !broken,
      `the body broke off after ${bytes.byteLength} of ${want.bytes.byteLength} bytes`,
    );
    assert(equalBytes(bytes, want.bytes), "exact bytes");
  });
});

Deno.test("fault: one bad block on every drive (at most one per stripe) → exact reads, and healing repairs all four", async () => {
  await withObjects(1400, async (f) => {
    const original = await before(f.server.drives);
    for (const [i, d] of f.server.drives.entries()) {
      await flip(await partPath(d, BUCKET, "big-12m"), [(2 * i + 1) * FRAME + 100]);
    }
    // Every stripe can still be decoded, so the object can be rewritten whole on every drive.
    await assertDamaged(original);
    await expectHealed(f, original, [], 10_000);
  });
});
