/**
 * In-process micro-benchmark of the object layer (Pools over XlStorage) on small objects and
 * listings, without HTTP, auth or a client. Reports wall time, CPU time of the whole process
 * (the event loop plus the threads that run file-system calls; other load on the machine
 * disturbs it less) and, when /proc is readable (-A), CPU time of the main thread, the one
 * that runs all JavaScript. Run with Deno's --cpu-prof to see where that time goes.
 *
 *   .deno/bin/deno run -A bench/small-ops.ts [--dir /dev/shm] [--drives 4] [--parity 2]
 *     [--size 4096] [--concurrency 16] [--count 2000] [--list 2000]
 *
 * With the server's own permissions instead of -A (source scripts/permissions.sh, then
 * "${PERMISSION_FLAGS[@]}"; /dev paths need -A, so pass --dir elsewhere), every path-based
 * file-system call also pays Deno's permission check.
 */
import { cpuUsage } from "node:process";
import { parseArgs } from "node:util";
import { openLocalDrive } from "../src/storage/local-drive.ts";
import { loadOrInitFormat } from "../src/storage/format.ts";
import { Pools } from "../src/object/pools.ts";
import { cpuSecondsOfStat } from "./servers.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string", default: "/dev/shm" },
    drives: { type: "string", default: "4" },
    parity: { type: "string", default: "2" },
    size: { type: "string", default: "4096" },
    concurrency: { type: "string", default: "16" },
    count: { type: "string", default: "2000" },
    list: { type: "string", default: "2000" },
  },
});
const driveCount = Number(values.drives);
const size = Number(values.size);
const concurrency = Number(values.concurrency);
const count = Number(values.count);
const listObjects = Number(values.list);

const body = new Uint8Array(size);
crypto.getRandomValues(body.subarray(0, Math.min(size, 65536)));
const stream = (n = size) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(body.subarray(0, n));
      c.close();
    },
  });

/** Runs `n` jobs on `concurrency` workers; returns ops/s and p50/p99 in ms. */
async function run(n: number, job: (i: number) => Promise<unknown>) {
  let next = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const cpu0 = cpuUsage();
  const main0 = mainThreadMs();
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      const t0 = performance.now();
      await job(i);
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const used = cpuUsage(cpu0);
  const main = mainThreadMs();
  const mainPerOp = main === undefined || main0 === undefined
    ? ""
    : `  main ${((main - main0) * 1000 / n).toFixed(0)} µs/op`;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * n))];
  return `${(n / seconds).toFixed(0).padStart(7)} ops/s  p50 ${at(0.5).toFixed(2)} ms  p99 ${
    at(0.99).toFixed(2)
  } ms  cpu ${((used.user + used.system) / n).toFixed(0)} µs/op${mainPerOp}`;
}

/** CPU time of the main thread in ms (10 ms resolution), if /proc may be read. */
function mainThreadMs(): number | undefined {
  try {
    return cpuSecondsOfStat(Deno.readTextFileSync(`/proc/self/task/${Deno.pid}/stat`)) * 1000;
  } catch {
    return undefined;
  }
}

async function smallObjects(layer: Pools): Promise<void> {
  const key = (i: number) => `small/${size}/${i}`;
  const put = (i: number) => layer.putObject("bench", key(i), stream(), { size, metadata: {} });
  await layer.makeBucket("bench");
  console.log(`PUT    ${await run(count, put)}`);
  console.log(`PUT'   ${await run(count, put)}  (replacing)`);
  const get = async (i: number) => {
    const { body } = await layer.getObject("bench", key(i));
    for await (const _ of body) { /* drain */ }
  };
  console.log(`GET    ${await run(count, get)}`);
  console.log(`HEAD   ${await run(count, (i) => layer.getObjectInfo("bench", key(i)))}`);
  console.log(`DELETE ${await run(count, (i) => layer.deleteObject("bench", key(i)))}`);
}

/** Full listings (1000 keys a page) of a bucket of `listObjects` tiny objects. */
async function listings(layer: Pools): Promise<void> {
  await layer.makeBucket("listing");
  const name = (i: number) => `list/${String(i).padStart(6, "0")}`;
  await run(
    listObjects,
    (i) => layer.putObject("listing", name(i), stream(16), { size: 16, metadata: {} }),
  );
  const list = async () => {
    let marker: string | undefined;
    let keys = 0;
    for (let page = 0; page < listObjects; page++) {
      const r = await layer.listObjects("listing", { maxKeys: 1000, marker });
      keys += r.objects.length;
      if (!r.isTruncated) break;
      marker = r.nextMarker ?? r.objects.at(-1)?.name;
    }
    if (keys !== listObjects) throw new Error(`listed ${keys} of ${listObjects}`);
  };
  const result = await run(Math.max(4, concurrency), list);
  console.log(`LIST   ${result}  (full listings of ${listObjects} keys, 1000 a page)`);
}

const root = await Deno.makeTempDir({ dir: values.dir, prefix: "flashstor-ol-" });
try {
  const paths = Array.from({ length: driveCount }, (_, i) => `${root}/d${i + 1}`);
  const storages = await Promise.all(paths.map((p) => openLocalDrive(p)));
  const format = await loadOrInitFormat(storages, { setCount: 1, setDriveCount: driveCount });
  const layer = new Pools(format.sets, {
    parity: Number(values.parity),
    deploymentId: format.deploymentId,
  });
  console.log(`${driveCount} drives, parity ${values.parity}, ${size} B, c${concurrency}`);
  if (count > 0) await smallObjects(layer);
  if (listObjects > 0) await listings(layer);
  await layer.close();
} finally {
  await Deno.remove(root, { recursive: true });
}
