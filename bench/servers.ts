/**
 * The servers a benchmark drives, each a subprocess on 127.0.0.1 so that its CPU and RSS are
 * its own: Flashstor (scripts/flashstor), the bare Deno handler (bench/bare-server.ts) and
 * s3rver (bench/s3rver-server.ts).
 */

import { S3Client } from "@aws-sdk/client-s3";
import type { S3Target } from "./signer.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DENO = `${ROOT}.deno/bin/deno`;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

export interface RunningTarget extends S3Target {
  pid: number;
  /** Every process of a target made of several (a cluster's nodes); `[pid]` otherwise. */
  pids?: readonly number[];
  /** Resident set size of the server process, in bytes. */
  rss(): Promise<number>;
  /** The last lines the server printed (to explain a failed case). */
  recentOutput(): string;
  stop(): Promise<void>;
}

async function spawnListening(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  credentials: { accessKey: string; secretKey: string },
): Promise<RunningTarget> {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 30_000);
    const decoder = new TextDecoder();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        output += decoder.decode(chunk, { stream: true });
        const match = LISTENING.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
        if (output.length > 1 << 20) output = output.slice(-4096);
      }
    };
    pump(child.stdout);
    pump(child.stderr);
    child.status.then((s) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${s.code}:\n${output}`));
    });
  });
  return {
    name,
    endpoint,
    region: "us-east-1",
    ...credentials,
    pid: child.pid,
    rss: () => processRss(child.pid),
    recentOutput: () => output.slice(-4096),
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      await child.status;
      clearTimeout(killer);
    },
  };
}

/** `fn` with an SDK v3 client of `target` (for the few calls a bench makes through it). */
export async function withSdk<T>(
  target: RunningTarget,
  fn: (s3: S3Client) => Promise<T>,
): Promise<T> {
  const s3 = new S3Client({
    endpoint: target.endpoint,
    region: target.region,
    forcePathStyle: true,
    credentials: { accessKeyId: target.accessKey, secretAccessKey: target.secretKey },
  });
  try {
    return await fn(s3);
  } finally {
    s3.destroy();
  }
}

/** CPU time the target's processes have used, in seconds (see processCpuSeconds). */
export async function targetCpuSeconds(target: RunningTarget): Promise<number> {
  const seconds = await Promise.all((target.pids ?? [target.pid]).map(processCpuSeconds));
  return seconds.reduce((a, b) => a + b, 0);
}

/** CPU time (user + system, all threads) the process has used, in seconds. */
export async function processCpuSeconds(pid: number): Promise<number> {
  return cpuSecondsOfStat(await Deno.readTextFile(`/proc/${pid}/stat`));
}

/** utime + stime of a /proc/<pid>[/task/<tid>]/stat text, in seconds. */
export function cpuSecondsOfStat(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** USER_HZ, the unit of /proc/<pid>/stat times: 100 on every Linux ABI Deno runs on. */
const CLOCK_TICKS = 100;

export async function processRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

/**
 * `checkout`: another Flashstor checkout to run (a baseline revision), this one by default;
 * `address`: where it listens (a cluster node's own address), a free loopback port by default.
 */
export function startFlashstor(
  name: string,
  drives: string[],
  extraArgs: string[] = [],
  checkout = ROOT,
  address = "127.0.0.1:0",
): Promise<RunningTarget> {
  const credentials = { accessKey: "benchadmin", secretKey: "benchsecret-1234" };
  return spawnListening(
    name,
    `${checkout.replace(/\/?$/, "/")}scripts/flashstor`,
    ["server", "--address", address, ...extraArgs, ...drives],
    { FLASHSTOR_ROOT_USER: credentials.accessKey, FLASHSTOR_ROOT_PASSWORD: credentials.secretKey },
    credentials,
  );
}

export function startBare(name: string, dir: string): Promise<RunningTarget> {
  return spawnListening(
    name,
    DENO,
    ["run", "--quiet", "-A", `${ROOT}bench/bare-server.ts`, dir],
    {},
    { accessKey: "unused", secretKey: "unused" },
  );
}

export function startS3rver(name: string, dir: string): Promise<RunningTarget> {
  return spawnListening(
    name,
    DENO,
    ["run", "--quiet", "-A", `${ROOT}bench/s3rver-server.ts`, dir],
    {},
    { accessKey: "S3RVER", secretKey: "S3RVER" },
  );
}
