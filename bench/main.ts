/**
 * `deno task bench [--quick | --all]`: Flashstor against its baselines, all measured in this run —
 * the bare Deno handler (the runtime's ceiling), raw disk I/O, s3rver (a peer S3 server) and
 * ISA-L encode alone — on tmpfs (the software is what is measured) and on disk.
 * Writes bench/results/<date>.md and a chart, and prints the report. --all adds what does not
 * fit the default run's 10 minutes: 1 GiB objects at concurrency 16 (on disk: 16 of them, stored
 * twice over by 2+2 and 4+4, outgrow this machine's memory, so a tmpfs cannot hold them).
 */

import { BenchClient } from "./signer.ts";
import { type RunningTarget, startBare, startFlashstor, startS3rver } from "./servers.ts";
import {
  fillBucket,
  largeObjects,
  type Latency,
  listing,
  MiB,
  rssPerIdleConnection,
  smallObjects,
  type SmallOp,
} from "./load.ts";
import { rawDisk } from "./raw-disk.ts";
import { measureObjectLayer } from "./object-layer.ts";
import { renderChart, renderMarkdown, type Results } from "./report.ts";
import { measureEncode } from "./erasure.ts";
import { measureScannerCost } from "./scanner-cost.ts";
import { measureAuthorization } from "./authorize.ts";

const quick = Deno.args.includes("--quick");
const all = !quick && Deno.args.includes("--all");
const ROOT = new URL("..", import.meta.url).pathname;

interface Plan {
  locations: { name: string; dir: string }[];
  large: { size: number; concurrency: number[] }[];
  /** Large-object cases on disk (slower, so fewer). */
  largeOnDisk: { size: number; concurrency: number[] }[];
  /** Minimum bytes moved per large case, so short runs are not all noise. */
  largeBytes: number;
  smallSizes: number[];
  smallConcurrency: number[];
  smallCount: number;
  /** Rounds of each small-object case per server, taken in turns; the best round is kept. */
  smallRounds: number;
  phaseMs: number;
  listObjects: number;
  listConcurrency: number[];
  idleConnections: number;
}

const FULL: Plan = {
  locations: [
    { name: "tmpfs", dir: `${ROOT}bench/tmp/tmpfs` },
    { name: "disk", dir: `${ROOT}bench/tmp` },
  ],
  large: [
    { size: 64 * MiB, concurrency: [1, 4, 16] },
    { size: 256 * MiB, concurrency: [1, 4] },
    { size: 1024 * MiB, concurrency: [1, 4] },
  ],
  largeOnDisk: [{ size: 256 * MiB, concurrency: [1, 4] }],
  largeBytes: 512 * MiB,
  smallSizes: [4096, 65536],
  smallConcurrency: [16, 64],
  smallCount: 3000,
  smallRounds: 2,
  phaseMs: 1500,
  listObjects: 10_000,
  listConcurrency: [16, 64],
  idleConnections: 1000,
};

const QUICK: Plan = {
  locations: [{ name: "tmpfs", dir: `${ROOT}bench/tmp/tmpfs` }],
  large: [{ size: 256 * MiB, concurrency: [1, 4] }],
  largeOnDisk: [],
  largeBytes: 256 * MiB,
  smallSizes: [4096],
  smallConcurrency: [16],
  smallCount: 1000,
  smallRounds: 1,
  phaseMs: 1500,
  listObjects: 2000,
  listConcurrency: [16],
  idleConnections: 200,
};

const ALL: Plan = {
  ...FULL,
  largeOnDisk: [...FULL.largeOnDisk, { size: 1024 * MiB, concurrency: [16] }],
};

const plan = quick ? QUICK : all ? ALL : FULL;
const variant = quick ? " --quick" : all ? " --all" : "";
/** Issue 2's object-layer figure: one 256 MiB object, in process. */
const OBJECT_LAYER_SIZE = 256 * MiB;
const results: Results = {
  date: new Date().toISOString().slice(0, 10),
  command: `deno task bench${variant}`,
  machine: `${navigator.hardwareConcurrency} cores, Deno ${Deno.version.deno}, ${Deno.build.os}`,
  notes: [
    "All servers run as subprocesses on 127.0.0.1 and are driven by the same client (bench/signer.ts: SigV4, UNSIGNED-PAYLOAD; fetch for large objects and listings).",
    "Small objects: one keep-alive connection per client worker (bench/http1.ts), every request of a phase signed before the phase starts (SigV4 signatures stay valid for 15 minutes), so that the client, which shares the 2 cores, costs the server little CPU.",
    `Small objects: flashstor 2+2, bare and s3rver run at once and take turns, ${plan.smallRounds} round(s) of each case per server, the best round kept (this machine's speed drifts within minutes); the deno engine is compared on large objects only.`,
    "bare GET reads into a buffer sized to the file (up to 1 MiB).",
    "bare = Deno.serve writing each PUT to one file + fsync and streaming GETs from it: the ceiling of this runtime.",
    all
      ? "--all: 1 GiB objects at concurrency 16 run on disk (flashstor 2+2, 4+4 and bare): 16 of them outgrow a tmpfs in this machine's memory."
      : "1 GiB objects run at concurrency 1 and 4; concurrency 16 (16 GiB, twice that stored) is in `deno task bench --all`, on disk, beyond the 10 minutes of this run.",
  ],
  encode: [],
  raw: [],
  objectLayer: [],
  large: [],
  small: [],
  list: [],
  memory: [],
  amplification: [
    {
      target: "flashstor 2+2",
      factor: "2.0× ((k+m)/k = 4/2), plus 8 bytes of CRC-64 per shard block",
    },
    { target: "flashstor 4+4", factor: "2.0× (8/4), plus 8 bytes of CRC-64 per shard block" },
    { target: "bare, raw disk, s3rver", factor: "1.0×" },
  ],
};

const started = performance.now();
const log = (message: string) =>
  console.error(`bench: [${((performance.now() - started) / 1000).toFixed(0)} s] ${message}`);

/**
 * Runs one case; a failure becomes a note in the report instead of ending the run, and what
 * the server printed last goes to the log.
 */
async function attempt(
  what: string,
  target: RunningTarget,
  work: () => Promise<void>,
): Promise<void> {
  try {
    await work();
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    results.notes.push(`${what} failed: ${message.slice(0, 300)}`);
    log(`${what} failed: ${message}\n${target.name} printed:\n${target.recentOutput()}`);
  }
}

async function withTarget(
  start: () => Promise<RunningTarget>,
  work: (target: RunningTarget, client: BenchClient) => Promise<void>,
): Promise<void> {
  const target = await start();
  try {
    await work(target, new BenchClient(target));
  } finally {
    await target.stop();
  }
}

function countFor(size: number, concurrency: number): number {
  return Math.max(concurrency, Math.ceil(plan.largeBytes / size));
}

/**
 * A tmpfs of the benchmark's own: /dev/shm cannot hold drives, because Deno asks for
 * --allow-all on any path under /dev and the server runs with narrowed permissions.
 */
async function mountTmpfs(dir: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true });
  const { success, stderr } = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=20g", "tmpfs", dir],
    stderr: "piped",
  }).output();
  if (!success) {
    const reason = new TextDecoder().decode(stderr).trim();
    results.notes.push(`tmpfs runs skipped: mounting a tmpfs needs root (${reason}).`);
    log(`tmpfs skipped: ${reason}`);
  }
  return success;
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
}

async function runLocation(location: { name: string; dir: string }) {
  if (location.name === "tmpfs") {
    if (!await mountTmpfs(location.dir)) return;
    try {
      await runIn(location);
    } finally {
      await unmount(location.dir);
    }
  } else {
    await Deno.mkdir(location.dir, { recursive: true });
    await runIn(location);
  }
}

async function runIn(location: { name: string; dir: string }) {
  const dir = await Deno.makeTempDir({ dir: location.dir, prefix: "flashstor-bench-" });
  const onDisk = location.name === "disk";
  const largeCases = onDisk ? plan.largeOnDisk : plan.large;
  try {
    for (const size of new Set([...largeCases.map((c) => c.size), OBJECT_LAYER_SIZE])) {
      log(`${location.name}: raw disk ${size / MiB} MiB`);
      results.raw.push({ location: location.name, size, ...(await rawDisk(dir, size)) });
    }
    for (const drives of [4, 8]) {
      log(`${location.name}: object layer ${drives} drives, ${OBJECT_LAYER_SIZE / MiB} MiB`);
      const figures = await measureObjectLayer(dir, drives, OBJECT_LAYER_SIZE);
      results.objectLayer.push({ location: location.name, ...figures });
    }
    const targets: [string, () => Promise<RunningTarget>, { list: boolean }][] = [
      [
        "flashstor 2+2",
        () => startFlashstor("flashstor 2+2", drives(dir, "f4", 4)),
        { list: true },
      ],
      [
        "flashstor 2+2 deno-engine",
        () =>
          startFlashstor("flashstor 2+2 deno-engine", drives(dir, "f4d", 4), [
            "--http-engine",
            "deno",
          ]),
        { list: false },
      ],
      [
        "flashstor 4+4",
        () => startFlashstor("flashstor 4+4", drives(dir, "f8", 8)),
        { list: false },
      ],
      ["bare", () => startBare("bare", `${dir}/bare`), { list: false }],
      ["s3rver", () => startS3rver("s3rver", `${dir}/s3rver`), { list: true }],
    ];
    for (const [name, start, options] of targets) {
      const onDiskToo = name === "flashstor 2+2" || name === "bare" ||
        (all && name === "flashstor 4+4");
      if (onDisk && !onDiskToo) continue;
      if (quick && name === "flashstor 4+4") continue;
      await withTarget(start, async (target, client) => {
        const idle = await target.rss();
        let peak = idle;
        await client.createBucket("bench");
        for (const { size, concurrency } of largeCases) {
          for (const c of concurrency) {
            const what = `${location.name}: ${name} large ${size / MiB} MiB × c${c}`;
            log(what);
            await attempt(what, target, async () => {
              const t = await largeObjects(client, target, "bench", size, c, countFor(size, c));
              peak = Math.max(peak, t.peakRss);
              results.large.push({
                location: location.name,
                size,
                concurrency: c,
                target: name,
                ...t,
              });
            });
          }
        }
        if (options.list && !onDisk) {
          const what = `${location.name}: ${name} LIST over ${plan.listObjects} objects`;
          log(what);
          await attempt(what, target, async () => {
            await client.createBucket("listing");
            await fillBucket(client, "listing", plan.listObjects);
            for (const c of plan.listConcurrency) {
              const l = await listing(client, "listing", plan.listObjects, c, plan.phaseMs * 2);
              const row = { location: location.name, size: 0, concurrency: c, op: "LIST" };
              results.list.push({ ...row, target: name, ...l });
            }
          });
        }
        let perConnection: number | undefined;
        if (!onDisk && name.startsWith("flashstor 2+2")) {
          log(`${location.name}: ${name} ${plan.idleConnections} idle connections`);
          perConnection = (await rssPerIdleConnection(target, plan.idleConnections)).perConnection;
        }
        if (!onDisk) results.memory.push({ target: name, idle, peak, perConnection });
      });
    }
    if (!onDisk) {
      await smallInAlternation(location.name, [
        ["flashstor 2+2", () => startFlashstor("flashstor 2+2", drives(dir, "f4-small", 4))],
        ["bare", () => startBare("bare", `${dir}/bare-small`)],
        ["s3rver", () => startS3rver("s3rver", `${dir}/s3rver-small`)],
      ]);
      log(`${location.name}: scanner cost`);
      results.scannerCost = await measureScannerCost(`${dir}/scanner`, {
        // Turns alternate between rounds (the second server of a round runs slower): 4 at least.
        rounds: Math.max(4, plan.smallRounds),
        phaseMs: plan.phaseMs,
        smallCount: plan.smallCount,
        filler: { small: plan.smallCount, large: 2 },
      }, log);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The small-object cases, with the compared servers all running and taking turns: each case is
 * measured plan.smallRounds times per server and each server's best round is kept. This VM's
 * speed drifts by tens of percent within minutes, so figures of different servers taken
 * minutes apart would compare the drift more than the servers.
 */
async function smallInAlternation(
  location: string,
  starts: [string, () => Promise<RunningTarget>][],
): Promise<void> {
  const running: { name: string; target: RunningTarget; client: BenchClient }[] = [];
  try {
    for (const [name, start] of starts) {
      const target = await start();
      const client = new BenchClient(target);
      running.push({ name, target, client });
      await client.createBucket("bench");
    }
    for (const size of plan.smallSizes) {
      for (const c of plan.smallConcurrency) {
        const best = new Map<string, Partial<Record<SmallOp, Latency>>>();
        for (let round = 1; round <= plan.smallRounds; round++) {
          for (const { name, target, client } of running) {
            const what = `${location}: ${name} small ${size} B × c${c}, round ${round}`;
            log(what);
            await attempt(what, target, async () => {
              const ops = await smallObjects(
                client,
                target,
                "bench",
                size,
                c,
                plan.smallCount,
                plan.phaseMs,
                round,
              );
              const kept = best.get(name) ?? {};
              for (const [op, figures] of Object.entries(ops) as [SmallOp, Latency][]) {
                const previous = kept[op];
                if (!previous || figures.opsPerSecond > previous.opsPerSecond) kept[op] = figures;
              }
              best.set(name, kept);
            });
          }
        }
        for (const [name, ops] of best) {
          for (const [op, figures] of Object.entries(ops)) {
            results.small.push({ location, size, concurrency: c, op, target: name, ...figures });
          }
        }
      }
    }
  } finally {
    for (const { target } of running) await target.stop();
  }
}

function drives(dir: string, name: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${dir}/${name}/d${i + 1}`);
}

log("ISA-L encode");
results.encode = await measureEncode();
log("authorization (in process)");
results.authorization = measureAuthorization();
for (const location of plan.locations) await runLocation(location);
results.notes.push(`Total benchmark time: ${((performance.now() - started) / 1000).toFixed(0)} s.`);

const outDir = `${ROOT}bench/results`;
await Deno.mkdir(outDir, { recursive: true });
const stem = `${outDir}/${results.date}${variant.replace(" --", "-")}`;
const markdown = renderMarkdown(results);
await Deno.writeTextFile(
  `${stem}.md`,
  markdown + `\n![throughput](${stem.split("/").pop()}.svg)\n`,
);
await Deno.writeTextFile(`${stem}.svg`, renderChart(results, "tmpfs"));
await Deno.writeTextFile(`${stem}.json`, JSON.stringify(results, null, 2));
console.log(markdown);
log(`wrote ${stem}.md, .svg and .json`);
