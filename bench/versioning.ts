/**
 * Versioning's cost on the hot path: 4 KiB PUT, GET and DELETE (c16, keep-alive) on one
 * flashstor 2+2 server, in an unversioned bucket and in one with versioning Enabled (each PUT a
 * new version id, each DELETE a delete marker), in alternating rounds, the best round of each
 * kept. Target: the versioned bucket's throughput ≥ 0.9× the unversioned one's. With
 * `--baseline DIR` (a checkout of another revision, e.g. `git worktree add /tmp/base <rev>`,
 * with its `.deno` and `node_modules`), the unversioned bucket is also measured on that
 * revision's server, in the same rounds: what the versioned object format costs everyone.
 *
 *   .deno/bin/deno run -A bench/versioning.ts [--rounds 4] [--phase-ms 3000] [--dir /tmp]
 *     [--baseline DIR]
 */
import { PutBucketVersioningCommand } from "@aws-sdk/client-s3";
import { BenchClient } from "./signer.ts";
import { ratioOf, roundsBench, smallObjects, type SmallOp } from "./load.ts";
import { type RunningTarget, startFlashstor, withSdk } from "./servers.ts";

const OPS: SmallOp[] = ["PUT", "GET", "DELETE"];
/** The unversioned and the versioned bucket, and the unversioned one on the baseline. */
type Bucket = "plain" | "versioned" | "baseline";

export interface VersioningRow {
  bucket: Bucket;
  op: SmallOp;
  opsPerSecond: number;
  cpuPerOpUs: number;
}

async function enableVersioning(target: RunningTarget, bucket: string): Promise<void> {
  await withSdk(target, (s3) =>
    s3.send(
      new PutBucketVersioningCommand({
        Bucket: bucket,
        VersioningConfiguration: { Status: "Enabled" },
      }),
    ));
}

export async function measureVersioning(
  dir: string,
  plan: { rounds: number; phaseMs: number; count: number; baseline?: string },
  log: (message: string) => void,
): Promise<VersioningRow[]> {
  const drives = (name: string) => Array.from({ length: 4 }, (_, i) => `${dir}/${name}/d${i + 1}`);
  const target = await startFlashstor("flashstor 2+2", drives("versioning"));
  const baseline = plan.baseline === undefined
    ? undefined
    : await startFlashstor("baseline 2+2", drives("baseline"), [], plan.baseline);
  try {
    const client = new BenchClient(target);
    await client.createBucket("plain");
    await client.createBucket("versioned");
    await enableVersioning(target, "versioned");
    const baselineClient = baseline && new BenchClient(baseline);
    await baselineClient?.createBucket("plain");
    const buckets: Bucket[] = baseline
      ? ["plain", "versioned", "baseline"]
      : ["plain", "versioned"];
    const best = new Map<string, VersioningRow>();
    for (let round = 1; round <= plan.rounds; round++) {
      // Rotating order: whichever goes last on this shared machine may run slower.
      const turns = buckets.map((_, i) => buckets[(i + round) % buckets.length]);
      for (const bucket of turns) {
        log(`versioning: ${bucket}, round ${round}`);
        const onBaseline = bucket === "baseline";
        const figures = await smallObjects(
          onBaseline ? baselineClient! : client,
          onBaseline ? baseline! : target,
          onBaseline ? "plain" : bucket,
          4096,
          16,
          plan.count,
          plan.phaseMs,
          round,
          OPS,
        );
        for (const op of OPS) {
          const figure = figures[op];
          if (!figure) throw new Error(`no ${op} figures`);
          const key = `${bucket} ${op}`;
          const seen = best.get(key);
          best.set(key, {
            bucket,
            op,
            opsPerSecond: Math.max(seen?.opsPerSecond ?? 0, figure.opsPerSecond),
            cpuPerOpUs: Math.min(seen?.cpuPerOpUs ?? Infinity, figure.cpuPerOp ?? Infinity),
          });
        }
      }
    }
    return [...best.values()];
  } finally {
    await target.stop();
    await baseline?.stop();
  }
}

if (import.meta.main) {
  await roundsBench("flashstor-versioning-", 2000, ["baseline"], async (dir, plan, options) => {
    const rows = await measureVersioning(
      dir,
      { ...plan, baseline: options.baseline },
      (m) => console.error(m),
    );
    const row = (bucket: Bucket, op: SmallOp) =>
      rows.find((r) => r.bucket === bucket && r.op === op)!;
    const figure = (r: VersioningRow) =>
      `${r.opsPerSecond.toFixed(0)} (${r.cpuPerOpUs.toFixed(0)})`;
    const withBaseline = options.baseline !== undefined;
    console.log(
      "| 4 KiB × c16 | unversioned ops/s (µs CPU) | versioned ops/s (µs CPU) | " +
        "versioned / unversioned |" +
        (withBaseline ? " baseline unversioned | unversioned / baseline |" : ""),
    );
    console.log(`|---|---|---|---|${withBaseline ? "---|---|" : ""}`);
    for (const op of OPS) {
      const [plain, versioned] = [row("plain", op), row("versioned", op)];
      const base = withBaseline ? row("baseline", op) : undefined;
      console.log(
        `| ${op} | ${figure(plain)} | ${figure(versioned)} | ${ratioOf(versioned, plain)} |` +
          (base ? ` ${figure(base)} | ${ratioOf(plain, base)} |` : ""),
      );
    }
  });
}
