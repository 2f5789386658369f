/**
 * Workloads: large-object throughput, small-object latency, listing, and memory. Every loop
 * is bounded in count and in time.
 */

import { parseArgs } from "node:util";
import type { BenchClient } from "./signer.ts";
import { KeepAliveConnection } from "./http1.ts";
import { type RunningTarget, targetCpuSeconds } from "./servers.ts";

export const MiB = 1024 * 1024;

/** 1 MiB of random bytes (random so that nothing downstream can compress or dedupe it). */
export const PATTERN = (() => {
  const bytes = new Uint8Array(MiB);
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, i + 65536));
  }
  return bytes;
})();

export interface Throughput {
  putMBps: number;
  getMBps: number;
  /** Highest RSS of the server seen while the workload ran. */
  peakRss: number;
}

/**
 * Runs `count` jobs on `concurrency` workers (a job learns its worker's number); stops taking
 * new jobs after `deadline` ms.
 */
export async function pool(
  count: number,
  concurrency: number,
  job: (i: number, worker: number) => Promise<void>,
  deadline = Infinity,
): Promise<{ done: number; seconds: number; latencies: number[]; errors: number }> {
  let next = 0;
  let errors = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const worker = async (_: unknown, w: number) => {
    while (next < count && performance.now() - started < deadline) {
      const i = next++;
      const t0 = performance.now();
      try {
        await job(i, w);
        latencies.push(performance.now() - t0);
      } catch (err) {
        // A server that fails requests is measured on the ones it served, with the failures
        // counted; one that fails most of them has no meaningful figure.
        if (++errors > Math.max(10, (latencies.length + errors) / 10)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return {
    done: latencies.length,
    seconds: (performance.now() - started) / 1000,
    latencies,
    errors,
  };
}

/** Samples the server's RSS every 100 ms while `work` runs. */
async function withPeakRss<T>(target: RunningTarget, work: () => Promise<T>) {
  let peak = await target.rss();
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, await target.rss().catch(() => 0));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    return { result: await work(), peak: () => peak };
  } finally {
    running = false;
    await sampler;
  }
}

export async function largeObjects(
  client: BenchClient,
  target: RunningTarget,
  bucket: string,
  size: number,
  concurrency: number,
  count: number,
): Promise<Throughput> {
  const key = (i: number) => `large/${size}/${concurrency}/${i}`;
  const body = { size, pattern: PATTERN };
  const put = await withPeakRss(
    target,
    () => pool(count, concurrency, (i) => client.put(bucket, key(i), body)),
  );
  const get = await withPeakRss(target, () =>
    pool(count, concurrency, async (i) => {
      const n = await client.get(bucket, key(i));
      if (n !== size) throw new Error(`GET returned ${n} bytes, expected ${size}`);
    }));
  // Clean-up, not measured: a failed DELETE (s3rver answers some concurrent ones with 500)
  // leaves an object in the run's temporary directory and must not discard the figures.
  await pool(count, concurrency, (i) => client.delete(bucket, key(i)).catch(() => {}));
  return {
    putMBps: (count * size) / MiB / put.result.seconds,
    getMBps: (count * size) / MiB / get.result.seconds,
    peakRss: Math.max(put.peak(), get.peak()),
  };
}

export interface Latency {
  opsPerSecond: number;
  p50: number;
  p99: number;
  ops: number;
  /** Requests the server failed (not counted in the figures). */
  errors: number;
  /**
   * CPU time the server used per request (µs, all its threads and processes), when measured:
   * ops/s on a shared 2-core machine moves with whatever else runs; this is the server's own cost.
   */
  cpuPerOp?: number;
}

/** The nearest-rank `p`th percentile of ascending `sorted`. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function latency(
  run: { done: number; seconds: number; latencies: number[]; errors: number },
): Latency {
  const sorted = run.latencies.slice().sort((a, b) => a - b);
  return {
    opsPerSecond: run.done / run.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    ops: run.done,
    errors: run.errors,
  };
}

export type SmallOp = "PUT" | "GET" | "HEAD" | "DELETE";

const WARM_UP_MS = 300;

/**
 * PUT, GET, HEAD, DELETE of `count` objects of `size` bytes, each phase bounded by time (what
 * a slow DELETE leaves behind stays: every case writes keys of its own). Each
 * worker keeps one connection alive, and every request of a phase is signed before it starts.
 */
export async function smallObjects(
  client: BenchClient,
  target: RunningTarget,
  bucket: string,
  size: number,
  concurrency: number,
  count: number,
  phaseMs: number,
  round = 1,
  ops: SmallOp[] = ["PUT", "GET", "HEAD", "DELETE"],
): Promise<Partial<Record<SmallOp, Latency>>> {
  const body = PATTERN.subarray(0, size);
  // Keys of their own per round: a round after one whose DELETEs ran out of time would
  // otherwise measure replacing objects, not creating them.
  const path = (i: number) => `/${bucket}/small/${size}/${concurrency}/${round}/${i}`;
  const { hostname, port } = new URL(client.target.endpoint);
  const connections = Array.from(
    { length: concurrency },
    () => new KeepAliveConnection(hostname, Number(port)),
  );
  /** `requests` requests of `op` over keys 0..keys-1 (cycling), bounded by `deadline` ms. */
  const phase = async (op: SmallOp, keys: number, requests = keys, deadline = Infinity) => {
    const heads = Array.from(
      { length: keys },
      (_, i) => client.signedHead(op, path(i), op === "PUT" ? size : undefined),
    );
    const cpu0 = await targetCpuSeconds(target);
    const run = await pool(requests, concurrency, async (n, w) => {
      const i = n % keys;
      const reply = await connections[w].request(
        heads[i],
        op === "PUT" ? body : undefined,
        op === "HEAD",
      );
      if (reply.status >= 300) {
        throw new Error(`${op} ${path(i)}: ${reply.status} ${reply.error ?? ""}`);
      }
      if (op === "GET" && reply.bytes !== size) {
        throw new Error(`GET returned ${reply.bytes} bytes, expected ${size}`);
      }
    }, deadline);
    const cpu = await targetCpuSeconds(target) - cpu0;
    return { ...latency(run), cpuPerOp: (cpu * 1e6) / (run.done + run.errors) };
  };
  const results: Partial<Record<SmallOp, Latency>> = {};
  try {
    const put = await phase("PUT", count, count, phaseMs);
    if (ops.includes("PUT")) results.PUT = put;
    const written = put.ops;
    for (const op of ["GET", "HEAD"] as const) {
      if (!ops.includes(op)) continue;
      // Reads are timed in their steady state: an untimed warm-up (the JIT of the server and
      // of the client), then phaseMs of requests cycling over the written keys.
      await phase(op, written, Infinity, WARM_UP_MS);
      results[op] = await phase(op, written, Infinity, phaseMs);
    }
    const deleted = await phase("DELETE", written, written, phaseMs);
    if (ops.includes("DELETE")) results.DELETE = deleted;
  } finally {
    for (const connection of connections) connection.close();
  }
  return results;
}

/** Fills a bucket with `objects` tiny objects (untimed). */
export async function fillBucket(client: BenchClient, bucket: string, objects: number) {
  const body = { size: 16, pattern: PATTERN };
  await pool(objects, 64, (i) => client.put(bucket, `list/${String(i).padStart(6, "0")}`, body));
}

/**
 * `concurrency` clients paging through a bucket (1000 keys a page), each from its first page
 * to its last and again, for `phaseMs`; latency per page. The phase ends with the pages in
 * flight, not with whole listings: at 64 clients a listing of 10 pages took over two minutes.
 * Every listing that completes must have seen `expectedKeys` keys.
 */
export async function listing(
  client: BenchClient,
  bucket: string,
  expectedKeys: number,
  concurrency: number,
  phaseMs: number,
): Promise<Latency> {
  const cursors = Array.from({ length: concurrency }, () => ({
    token: undefined as string | undefined,
    keys: 0,
  }));
  const run = await pool(Infinity, concurrency, async (_, worker) => {
    const cursor = cursors[worker];
    const page = await client.listPage(bucket, cursor.token);
    cursor.keys += page.keys;
    cursor.token = page.next;
    if (page.next !== undefined) return;
    const keys = cursor.keys;
    cursor.keys = 0;
    if (keys !== expectedKeys) throw new Error(`listed ${keys} keys, expected ${expectedKeys}`);
  }, phaseMs);
  return latency({
    done: run.done,
    seconds: run.seconds,
    latencies: run.latencies,
    errors: run.errors,
  });
}

/** RSS added per idle keep-alive connection: `count` connections each served one request. */
export async function rssPerIdleConnection(
  target: RunningTarget,
  count: number,
): Promise<{ before: number; after: number; perConnection: number }> {
  const { hostname, port } = new URL(target.endpoint);
  const before = await target.rss();
  const connections: Deno.Conn[] = [];
  const request = new TextEncoder().encode(
    `GET /flashstor/health/live HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`,
  );
  const buffer = new Uint8Array(4096);
  try {
    for (let i = 0; i < count; i++) {
      const conn = await Deno.connect({ hostname, port: Number(port) });
      connections.push(conn);
      await conn.write(request);
      await conn.read(buffer);
    }
    await new Promise((r) => setTimeout(r, 500));
    const after = await target.rss();
    return { before, after, perConnection: (after - before) / count };
  } finally {
    for (const conn of connections) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
  }
}

/** The plan of a standalone A/B bench: rounds of timed phases over `count` objects. */
export interface RoundsPlan {
  rounds: number;
  phaseMs: number;
  count: number;
}

/**
 * The command line the standalone A/B benches share (--rounds, --phase-ms, --count, --dir and
 * the string options named in `extra`; `args`, Deno.args by default), and a scratch directory
 * removed afterwards.
 */
export async function roundsBench(
  prefix: string,
  defaultCount: number,
  extra: string[],
  run: (
    dir: string,
    plan: RoundsPlan,
    options: Record<string, string | undefined>,
  ) => Promise<void>,
  args: string[] = Deno.args,
): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      rounds: { type: "string", default: "4" },
      "phase-ms": { type: "string", default: "3000" },
      count: { type: "string", default: String(defaultCount) },
      dir: { type: "string" },
      ...Object.fromEntries(extra.map((name) => [name, { type: "string" as const }])),
    },
  });
  const options = values as Record<string, string | undefined>;
  const dir = await Deno.makeTempDir({ dir: options.dir, prefix });
  try {
    await run(dir, {
      rounds: Number(options.rounds),
      phaseMs: Number(options["phase-ms"]),
      count: Number(options.count),
    }, options);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** "A× throughput, B× CPU" of `a` against `b`. */
export function ratioOf(
  a: { opsPerSecond: number; cpuPerOpUs: number },
  b: { opsPerSecond: number; cpuPerOpUs: number },
): string {
  return `${(a.opsPerSecond / b.opsPerSecond).toFixed(3)}× throughput, ` +
    `${(a.cpuPerOpUs / b.cpuPerOpUs).toFixed(3)}× CPU`;
}
