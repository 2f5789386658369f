/**
 * The scanner in process, one cycle at a time: deep scans repair parity rot, garbage (data
 * dirs no xl.meta names, stale temp entries, expired uploads) goes only after being seen on
 * two scans the safety age apart, referenced data is never touched, usage is counted.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { Scanner, type ScannerOptions } from "../src/object/scanner.ts";
import {
  BUCKET,
  deployment,
  equalBytes,
  filesBelow,
  get,
  put,
  testBytes,
} from "./fixtures/object_env.ts";
import { partPath } from "./fault_util.ts";

const SIZE = 2 * 1024 * 1024 + 11;

function scannerOf(sets: Scanner["sets"], options: Partial<ScannerOptions> = {}) {
  const lines: string[] = [];
  const scanner = new Scanner(sets, {
    intervalMs: 0,
    deepEvery: 1,
    garbageAgeMs: 0,
    uploadExpiryMs: 0,
    busy: () => false,
    sleepFactor: 0,
    log: (line) => lines.push(line),
    ...options,
  });
  return { scanner, lines };
}

Deno.test("scanner: a deep cycle rewrites both rotted parity shards and says so", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const data = testBytes(SIZE, 5);
    await put(d.layer, "photos/cat.jpg", data);
    const set = d.layer.sets[0];
    const parity = set.distribution("photos/cat.jpg").flatMap((x, i) => (x > 2 ? [i] : []));
    const files = await Promise.all(
      parity.map((i) => partPath(d.paths[0][i], BUCKET, "photos/cat.jpg")),
    );
    const originals = await Promise.all(files.map((f) => Deno.readFile(f)));
    for (const f of files) {
      const bytes = await Deno.readFile(f);
      bytes[5000] ^= 0x01;
      await Deno.writeFile(f, bytes);
    }
    assert(equalBytes(await get(d.layer, "photos/cat.jpg"), data));
    const shallow = scannerOf(d.layer.sets, { deepEvery: 0 });
    assertEquals((await shallow.scanner.cycle()).repaired, 0, "a shallow cycle reads no block");
    const { scanner, lines } = scannerOf(d.layer.sets);
    const report = await scanner.cycle();
    assertEquals(report.repaired, 1);
    for (const [i, f] of files.entries()) assert(equalBytes(await Deno.readFile(f), originals[i]));
    const line = lines.find((l) => l.includes("photos/cat.jpg"));
    assert(line?.includes("2 shards rewritten on") && line.includes("(bitrot)"), String(line));
    assertEquals(scanner.status().objectsDamaged, 1);
    assertEquals((await scanner.cycle()).repaired, 0);
  } finally {
    await d.close();
  }
});

Deno.test("scanner: unreferenced data dirs and stale temp entries go on the second sighting; referenced data stays", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const data = testBytes(SIZE, 9);
    await put(d.layer, "kept", data);
    await put(d.layer, "small", testBytes(100, 1));
    const drive = d.paths[0][1];
    const live = await partPath(drive, BUCKET, "kept");
    const orphan = `${drive}/${BUCKET}/kept/${crypto.randomUUID()}__XLDATA__`;
    await Deno.mkdir(orphan);
    await Deno.copyFile(live, `${orphan}/part.1`);
    const temp = `${drive}/.flashstor.sys/tmp/${crypto.randomUUID()}`;
    await Deno.mkdir(`${temp}/dd`, { recursive: true });
    await Deno.writeFile(`${temp}/dd/part.1`, testBytes(1000, 2));
    const before = await filesBelow(`${drive}/${BUCKET}`);

    const { scanner } = scannerOf(d.layer.sets, { garbageAgeMs: 0 });
    const first = await scanner.cycle();
    assertEquals([first.dataDirs, first.tempEntries], [0, 0], "first sighting only");
    // A temp entry that changes (a write in progress) starts over.
    await Deno.writeFile(`${temp}/dd/part.1`, testBytes(2000, 2));
    const second = await scanner.cycle();
    assertEquals([second.dataDirs, second.tempEntries], [1, 0]);
    assertEquals(second.bytes, (await Deno.stat(live)).size);
    const third = await scanner.cycle();
    assertEquals([third.dataDirs, third.tempEntries, third.bytes], [0, 1, 2000]);
    const after = await filesBelow(`${drive}/${BUCKET}`);
    assertEquals(after, before.filter((f) => !f.startsWith(orphan.slice(drive.length + 8))));
    assertEquals(await Deno.stat(temp).then(() => true, () => false), false);
    assert(equalBytes(await get(d.layer, "kept"), data));
    assertEquals(scanner.status().garbageDataDirs, 1);
    assertEquals(scanner.usage().map((u) => [u.bucket, u.objects, u.bytes]), [
      [BUCKET, 2, SIZE + 100],
    ]);
  } finally {
    await d.close();
  }
});

Deno.test("scanner: the data dirs of every version stay, only an unreferenced one goes; usage counts every version's bytes", async () => {
  const d = await deployment(1, 4, 2);
  try {
    d.layer.setBucketVersioning({ versioning: () => Promise.resolve("Enabled") });
    const versions: [string, Uint8Array][] = [];
    for (let i = 0; i < 3; i++) {
      const data = testBytes(SIZE, 20 + i);
      versions.push([(await put(d.layer, "history", data)).versionId, data]);
    }
    await d.layer.deleteObject(BUCKET, "history");
    const drive = d.paths[0][2];
    const orphan = `${drive}/${BUCKET}/history/${crypto.randomUUID()}__XLDATA__`;
    await Deno.mkdir(orphan);
    await Deno.writeFile(`${orphan}/part.1`, testBytes(1000, 3));
    const before = await filesBelow(`${drive}/${BUCKET}`);
    const { scanner } = scannerOf(d.layer.sets, { garbageAgeMs: 0 });
    for (let cycle = 0; cycle < 3; cycle++) await scanner.cycle();
    assertEquals(scanner.status().garbageDataDirs, 1);
    const after = await filesBelow(`${drive}/${BUCKET}`);
    assertEquals(after, before.filter((f) => !f.startsWith(orphan.slice(drive.length + 8))));
    for (const [versionId, data] of versions) {
      const { body } = await d.layer.getObject(BUCKET, "history", { versionId });
      assert(equalBytes(new Uint8Array(await new Response(body).arrayBuffer()), data));
    }
    // The current version is a delete marker: no object, but the bytes of every version.
    assertEquals(scanner.usage().map((u) => [u.bucket, u.objects, u.bytes]), [
      [BUCKET, 0, 3 * SIZE],
    ]);
  } finally {
    await d.close();
  }
});

Deno.test("scanner: uploads older than the expiry are aborted on every drive, fresh ones survive", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const fresh = await d.layer.newMultipartUpload(BUCKET, "big", {});
    const stale = await d.layer.newMultipartUpload(BUCKET, "old", {});
    // Age the stale one: its id carries its creation time; rename its directory on each drive.
    const old = (Date.now() - 3 * 3600_000).toString(16).padStart(12, "0") + stale.slice(12);
    for (const drive of d.paths[0]) {
      const root = `${drive}/.flashstor.sys/multipart/${BUCKET}`;
      for await (const hash of Deno.readDir(root)) {
        const dir = `${root}/${hash.name}`;
        if (await Deno.stat(`${dir}/${stale}`).then(() => true, () => false)) {
          await Deno.rename(`${dir}/${stale}`, `${dir}/${old}`);
        }
      }
    }
    const listed = async () =>
      (await d.layer.listMultipartUploads(BUCKET, { maxUploads: 100 })).uploads.map((u) =>
        u.uploadId
      ).sort();
    assertEquals(await listed(), [old, fresh].sort());
    const { scanner } = scannerOf(d.layer.sets, { uploadExpiryMs: 3600_000 });
    assertEquals((await scanner.cycle()).uploadsExpired, 1);
    assertEquals(await listed(), [fresh]);
    const off = scannerOf(d.layer.sets, { uploadExpiryMs: 0 });
    assertEquals((await off.scanner.cycle()).uploadsExpired, 0);
    assertEquals(await listed(), [fresh]);
  } finally {
    await d.close();
  }
});

Deno.test("scanner: waits while the server is busy (bounded per object)", async () => {
  const d = await deployment(1, 4, 2);
  try {
    for (let i = 0; i < 3; i++) await put(d.layer, `k${i}`, testBytes(10, i));
    let asked = 0;
    const { scanner } = scannerOf(d.layer.sets, { busy: () => (asked++, true) });
    assertEquals((await scanner.cycle()).objects, 3);
    // Polled again and again for each object until the cap, not once.
    assert(asked >= 3 * 10, `busy() asked ${asked} times`);
  } finally {
    await d.close();
  }
});

Deno.test("scanner: bucket usage survives a restart until the first cycle counts again", async () => {
  const d = await deployment(1, 4, 2);
  try {
    await put(d.layer, "a", testBytes(100, 1));
    await put(d.layer, "b", testBytes(SIZE, 2));
    const first = scannerOf(d.layer.sets).scanner;
    await first.cycle();
    const counted = first.usage().map((u) => [u.bucket, u.objects, u.bytes]);
    assertEquals(counted, [[BUCKET, 2, SIZE + 100]]);
    const restarted = await d.open();
    const next = scannerOf(restarted.sets).scanner;
    assertEquals(next.usage(), []);
    await next.start();
    assertEquals(next.usage().map((u) => [u.bucket, u.objects, u.bytes]), counted);
    assertEquals(next.usage()[0].updated.getTime(), first.usage()[0].updated.getTime());
    await next.close();
  } finally {
    await d.close();
  }
});
