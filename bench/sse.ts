/**
 * Encryption at rest's cost, in one run on one flashstor 2+2 server (drives on a tmpfs when one
 * can be mounted, so the software is what is measured): 256 MiB PUT and GET (c1) plain vs SSE-S3 vs
 * SSE-C, and 4 KiB PUT and GET (c16, keep-alive, bounded count) plain vs SSE-S3 (a bucket whose
 * default encryption is SSE-S3, so the small-object load sends no extra headers). Rounds take
 * the cases in rotating order (the three large PUTs, then the three large GETs, each the
 * second GET of its object) and the median figure of each is kept (a single large GET's
 * rate moves ±40% from round to round here, with whichever garbage collection it meets: the
 * best of the rounds is an outlier); every figure comes with the server's CPU per operation,
 * and the encrypted / plain ratio (issue 15 targets ≥ 0.8×).
 * Large requests are signed with every SSE header (tests/s3_raw.ts) and go over fetch, the
 * same client for every mode; each encrypted PUT's answer must name its encryption.
 *
 *   .deno/bin/deno run -A bench/sse.ts [--rounds 4] [--phase-ms 3000] [--count 2000]
 *     [--dir DIR] [--large-mib 256]        (deno task bench:sse: --rounds 6)
 */
import { PutBucketEncryptionCommand } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { toBase64 } from "../src/bytes.ts";
import { signRequest } from "../tests/s3_raw.ts";
import { BenchClient } from "./signer.ts";
import { MiB, PATTERN, percentile, roundsBench, smallObjects } from "./load.ts";
import { type RunningTarget, startFlashstor, targetCpuSeconds, withSdk } from "./servers.ts";
import { mountTmpfs, unmount } from "../tests/helpers/mounts.ts";

type Mode = "plain" | "SSE-S3" | "SSE-C";
const LARGE_MODES: Mode[] = ["plain", "SSE-S3", "SSE-C"];
const SMALL_MODES: Mode[] = ["plain", "SSE-S3"];
const SMALL_SIZE = 4096;
const CONCURRENCY = 16;
const CUSTOMER_KEY = crypto.getRandomValues(new Uint8Array(32));

/** The request headers of a PUT in `mode`, and of a GET (SSE-C only: the key again). */
function sseHeaders(mode: Mode, op: "PUT" | "GET"): Record<string, string> {
  if (mode === "SSE-S3") return op === "PUT" ? { "x-amz-server-side-encryption": "AES256" } : {};
  if (mode === "plain") return {};
  return {
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": toBase64(CUSTOMER_KEY),
    "x-amz-server-side-encryption-customer-key-md5": createHash("md5").update(CUSTOMER_KEY)
      .digest("base64"),
  };
}

/** A request signed with all of `headers` (the bench client signs only its own three). */
async function signedFetch(
  target: RunningTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Uint8Array<ArrayBuffer>,
): Promise<Response> {
  const { host } = new URL(target.endpoint);
  const credentials = { accessKey: target.accessKey, secretKey: target.secretKey };
  const signed = signRequest({ method, path, headers, credentials }, host).headers;
  delete signed["host"];
  const response = await fetch(target.endpoint + path, { method, headers: signed, body });
  if (!response.ok) {
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  }
  return response;
}

interface Figure {
  /** MB/s (large) or requests/s (small). */
  rate: number;
  /** Server CPU per operation: seconds per GiB (large) or µs per request (small). */
  cpu: number;
}

type Row = { case: string; mode: Mode; figure: Figure };

/** MB/s and server CPU s/GiB of `work` moving `bytes`. */
async function timed(
  target: RunningTarget,
  bytes: number,
  work: () => Promise<void>,
): Promise<Figure> {
  const cpu0 = await targetCpuSeconds(target);
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  return {
    rate: bytes / MiB / seconds,
    cpu: (await targetCpuSeconds(target) - cpu0) / (bytes / (1024 * MiB)),
  };
}

/** A PUT of the large body in `mode`, whose answer must name its encryption. */
function largePut(target: RunningTarget, body: Uint8Array<ArrayBuffer>, mode: Mode) {
  return timed(target, body.byteLength, async () => {
    const response = await signedFetch(
      target,
      "PUT",
      `/large/${mode}`,
      sseHeaders(mode, "PUT"),
      body,
    );
    await response.body?.cancel();
    const named = response.headers.get("x-amz-server-side-encryption") ??
      response.headers.get("x-amz-server-side-encryption-customer-algorithm");
    if ((mode === "plain") !== (named === null)) {
      throw new Error(`PUT ${mode}: the answer names encryption ${named}`);
    }
  });
}

/** A GET of the large object in `mode`, read to its end. */
function largeGet(target: RunningTarget, size: number, mode: Mode) {
  return timed(target, size, async () => {
    const response = await signedFetch(target, "GET", `/large/${mode}`, sseHeaders(mode, "GET"));
    let received = 0;
    for await (const chunk of response.body!) received += chunk.byteLength;
    if (received !== size) throw new Error(`GET ${mode}: ${received} bytes`);
  });
}

/** The 4 KiB bucket of `mode`; an SSE-S3 bucket encrypts by default (checked with a probe). */
async function smallBucket(target: RunningTarget, mode: Mode): Promise<string> {
  const bucket = `small-${mode.toLowerCase()}`;
  await new BenchClient(target).createBucket(bucket);
  if (mode === "plain") return bucket;
  await withSdk(target, (s3) =>
    s3.send(
      new PutBucketEncryptionCommand({
        Bucket: bucket,
        ServerSideEncryptionConfiguration: {
          Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
        },
      }),
    ));
  const probe = await signedFetch(target, "PUT", `/${bucket}/probe`, {}, PATTERN.slice(0, 16));
  await probe.body?.cancel();
  if (probe.headers.get("x-amz-server-side-encryption") !== "AES256") {
    throw new Error(`${bucket}: a PUT without headers is not encrypted by default`);
  }
  return bucket;
}

async function measure(
  dir: string,
  plan: { rounds: number; phaseMs: number; count: number; largeBytes: number },
  log: (message: string) => void,
): Promise<{ rows: Row[]; engine: string }> {
  // The server inherits this process's environment: the key service's root key, SSE-C on loopback.
  Deno.env.set(
    "FLASHSTOR_KMS_SECRET_KEY",
    `bench:${toBase64(crypto.getRandomValues(new Uint8Array(32)))}`,
  );
  Deno.env.set("FLASHSTOR_SSE_C_OVER_HTTP", "loopback");
  const drives = Array.from({ length: 4 }, (_, i) => `${dir}/d${i + 1}`);
  const target = await startFlashstor("flashstor 2+2", drives, ["--scanner-interval", "0"]);
  try {
    const engine = /AES-GCM by [\w/-]+/.exec(target.recentOutput())?.[0] ??
      "AES-GCM engine unnamed";
    const client = new BenchClient(target);
    await client.createBucket("large");
    const body = new Uint8Array(plan.largeBytes);
    for (let at = 0; at < body.byteLength; at += MiB) {
      body.set(PATTERN.subarray(0, body.byteLength - at), at);
    }
    const buckets = new Map<Mode, string>();
    for (const mode of SMALL_MODES) buckets.set(mode, await smallBucket(target, mode));
    const seen = new Map<string, { case: string; mode: Mode; figures: Figure[] }>();
    const keep = (kase: string, mode: Mode, figure: Figure) => {
      const key = `${kase} ${mode}`;
      if (!seen.has(key)) seen.set(key, { case: kase, mode, figures: [] });
      seen.get(key)!.figures.push(figure);
    };
    const size = `${plan.largeBytes / MiB} MiB`;
    for (let round = 1; round <= plan.rounds; round++) {
      // Rotating order: whichever goes last on this shared machine may run slower.
      const rotate = (modes: Mode[]) => modes.map((_, i) => modes[(i + round) % modes.length]);
      // Every PUT, then every GET: a GET right after its own mode's PUT meets the state that
      // PUT left (measured: a plain GET takes ~0.08 s/GiB less of the request thread right
      // after a plain PUT than after other GETs; an encrypted GET the same either way).
      for (const mode of rotate(LARGE_MODES)) {
        log(`sse: ${size} PUT ${mode}, round ${round}`);
        keep(`${size} PUT`, mode, await largePut(target, body, mode));
      }
      for (const mode of rotate(LARGE_MODES)) {
        log(`sse: ${size} GET ${mode}, round ${round}`);
        // The GET measured is the second: the first pays for collecting the PUTs' garbage.
        await largeGet(target, body.byteLength, mode);
        keep(`${size} GET`, mode, await largeGet(target, body.byteLength, mode));
      }
      for (const mode of LARGE_MODES) {
        await (await signedFetch(target, "DELETE", `/large/${mode}`, {})).body?.cancel();
      }
      for (const mode of rotate(SMALL_MODES)) {
        log(`sse: 4 KiB ${mode}, round ${round}`);
        const figures = await smallObjects(
          client,
          target,
          buckets.get(mode)!,
          SMALL_SIZE,
          CONCURRENCY,
          plan.count,
          plan.phaseMs,
          round,
          ["PUT", "GET"],
        );
        for (const op of ["PUT", "GET"] as const) {
          const f = figures[op];
          if (!f) throw new Error(`no 4 KiB ${op} figures`);
          keep(`4 KiB ${op} c${CONCURRENCY}`, mode, {
            rate: f.opsPerSecond,
            cpu: f.cpuPerOp ?? NaN,
          });
        }
      }
    }
    const rows = [...seen.values()].map((s) => ({
      case: s.case,
      mode: s.mode,
      figure: {
        rate: median(s.figures.map((f) => f.rate)),
        cpu: median(s.figures.map((f) => f.cpu)),
      },
    }));
    return { rows, engine };
  } finally {
    await target.stop();
  }
}

/** The median of `values` (of an even count, the upper of the middle two). */
const median = (values: number[]) => percentile(values.toSorted((a, b) => a - b), 50);

/**
 * Without --dir: a tmpfs mounted for the run (root; the server's permissions refuse drives
 * under /dev/shm), or the system's temp dir, said so.
 */
async function scratchDir(): Promise<{ args: string[]; note: string; done: () => Promise<void> }> {
  if (Deno.args.includes("--dir")) {
    return { args: Deno.args, note: "the --dir given", done: () => Promise.resolve() };
  }
  const dir = await Deno.makeTempDir({ prefix: "flashstor-sse-tmpfs-" });
  const mounted = await mountTmpfs(dir, 3072).then(() => true, () => false);
  return {
    args: [...Deno.args, "--dir", dir],
    note: mounted ? "a tmpfs" : "a temp dir on disk (no tmpfs: not root?)",
    done: async () => {
      if (mounted) await unmount(dir);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

if (import.meta.main) {
  const scratch = await scratchDir();
  try {
    await roundsBench("flashstor-sse-", 2000, ["large-mib"], async (dir, plan, options) => {
      const largeBytes = Number(options["large-mib"] ?? 256) * MiB;
      console.error(`sse bench: drives in ${dir}, ${scratch.note}`);
      const { rows, engine } = await measure(dir, { ...plan, largeBytes }, (m) => console.error(m));
      report(rows, `drives on ${scratch.note}, ${engine}, median of ${plan.rounds} rounds`);
    }, scratch.args);
  } finally {
    await scratch.done();
  }
}

function report(rows: Row[], setting: string): void {
  const cases = [...new Set(rows.map((r) => r.case))];
  const cell = (kase: string, mode: Mode) => rows.find((r) => r.case === kase && r.mode === mode);
  console.log(
    `\`.deno/bin/deno run -A bench/sse.ts ${Deno.args.join(" ")}\` — ${setting}\n`,
  );
  console.log(
    "| case | plain | SSE-S3 | SSE-S3 / plain | SSE-C | SSE-C / plain |\n|---|---|---|---|---|---|",
  );
  for (const kase of cases) {
    const small = kase.startsWith("4 KiB");
    const unit = small ? "req/s (µs CPU)" : "MB/s (CPU s/GiB)";
    const show = (r?: Row) =>
      r ? `${r.figure.rate.toFixed(0)} (${r.figure.cpu.toFixed(small ? 0 : 2)})` : "—";
    const ratio = (r?: Row) => {
      const plain = cell(kase, "plain");
      return r && plain
        ? `${(r.figure.rate / plain.figure.rate).toFixed(2)}× rate, ` +
          `${(r.figure.cpu / plain.figure.cpu).toFixed(2)}× CPU`
        : "—";
    };
    const [plain, s3, c] = LARGE_MODES.map((m) => cell(kase, m));
    console.log(
      `| ${kase}, ${unit} | ${show(plain)} | ${show(s3)} | ${ratio(s3)} | ${show(c)} | ${
        ratio(c)
      } |`,
    );
  }
}
