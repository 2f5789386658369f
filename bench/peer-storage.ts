/**
 * What a peer's drive costs against a local one: the small calls of the hot path (a 4 KiB GET
 * reads xl.meta from every drive: readAll; a PUT commits with renameData; HEAD-like checks
 * statFile), one at a time and at concurrency 16, and a 64 MiB shard streamed each way. The
 * peer runs in this process (a real InternodeRouter + serveDrives behind the front door, as
 * `flashstor server` runs, and behind Deno.serve), so every figure holds the client's and the
 * server's CPU on one machine. Run alone: `.deno/bin/deno run -A bench/peer-storage.ts`.
 */
import { DriveHandle } from "../src/storage/drive-handle.ts";
import { SYSTEM_VOLUME, TMP_DIR } from "../src/storage/api.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { type PeerEngine, startStoragePeer } from "../tests/helpers/storage-peer.ts";
import { versionMeta } from "../tests/helpers/xl-meta.ts";

const ROUNDS = Deno.args.includes("--quick") ? 500 : 3_000;
const CONCURRENCY = 16;
const SHARD = 64 << 20;
const CHUNK = 1 << 20;

/** µs per call of `fn`, one at a time and at CONCURRENCY, after a warm-up. */
async function perCall(fn: (i: number) => Promise<unknown>): Promise<[number, number]> {
  for (let i = 0; i < 200; i++) await fn(i);
  let t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) await fn(i);
  const sequential = (performance.now() - t0) * 1000 / ROUNDS;
  t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, w) => {
    for (let i = w; i < ROUNDS; i += CONCURRENCY) await fn(i);
  }));
  return [sequential, (performance.now() - t0) * 1000 / ROUNDS];
}

/** MB/s writing then reading a SHARD-byte file in CHUNK writes. */
async function stream(drive: DriveHandle): Promise<[number, number]> {
  const path = `${TMP_DIR}/bench-${crypto.randomUUID()}/part.1`;
  const chunk = new Uint8Array(CHUNK).fill(7);
  let t0 = performance.now();
  const writer = await drive.createFile(SYSTEM_VOLUME, path);
  for (let at = 0; at < SHARD; at += CHUNK) await writer.write(chunk);
  await writer.close();
  const write = SHARD / 1e3 / (performance.now() - t0);
  t0 = performance.now();
  let got = 0;
  for await (const piece of await drive.readFileStream(SYSTEM_VOLUME, path, 0, SHARD)) {
    got += piece.byteLength;
  }
  const read = got / 1e3 / (performance.now() - t0);
  await drive.delete(SYSTEM_VOLUME, path.slice(0, path.lastIndexOf("/")), true);
  return [write, read];
}

async function measure(name: string, drive: DriveHandle): Promise<Record<string, string>> {
  const meta = versionMeta("bench", { versionId: "null", dataDir: "" });
  await drive.makeVolume("bench").catch(() => {});
  for (let i = 0; i < CONCURRENCY * 4; i++) {
    await drive.renameData(SYSTEM_VOLUME, "", "bench", `k${i}`, "", meta);
  }
  const keys = CONCURRENCY * 4;
  const [readSeq, readC] = await perCall((i) => drive.readAll("bench", `k${i % keys}/xl.meta`));
  const [statSeq, statC] = await perCall((i) => drive.statFile("bench", `k${i % keys}/xl.meta`));
  const [renameSeq, renameC] = await perCall((i) =>
    drive.renameData(SYSTEM_VOLUME, "", "bench", `k${i % keys}`, "", meta)
  );
  const [write, read] = await stream(drive);
  const us = (n: number) => n.toFixed(0).padStart(6);
  return {
    drive: name.padEnd(22),
    "readAll µs c1/c16": `${us(readSeq)} ${us(readC)}`,
    "statFile µs c1/c16": `${us(statSeq)} ${us(statC)}`,
    "renameData µs c1/c16": `${us(renameSeq)} ${us(renameC)}`,
    "64 MiB shard MB/s w/r": `${write.toFixed(0).padStart(5)} ${read.toFixed(0).padStart(5)}`,
  };
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "flashstor-bench-peer-" });
  const rows: Record<string, string>[] = [];
  try {
    const local = await DriveHandle.of(await XlStorage.open(`${root}/local`), { log: () => {} });
    rows.push(await measure("local", local));
    for (const engine of ["flashstor", "deno"] as PeerEngine[]) {
      const dir = `${root}/${engine}`;
      const peer = startStoragePeer(engine);
      try {
        peer.serve(dir, await DriveHandle.of(await XlStorage.open(dir), { log: () => {} }));
        rows.push(await measure(`peer (${engine} engine)`, await peer.open(dir)));
      } finally {
        await peer.close();
      }
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
  const columns = Object.keys(rows[0]);
  console.log(columns.join(" | "));
  for (const row of rows) console.log(columns.map((c) => row[c].padEnd(c.length)).join(" | "));
  console.log(`(${ROUNDS} calls each; load average ${Deno.loadavg().map((n) => n.toFixed(1))})`);
}

if (import.meta.main) await main();
