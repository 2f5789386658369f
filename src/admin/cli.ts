/**
 * `flashstor admin info|heal|kms`: the admin API's client in the server's binary. Requests are
 * SigV4-signed with the root credentials (FLASHSTOR_ROOT_USER / FLASHSTOR_ROOT_PASSWORD, or
 * flags). `heal` starts a heal and follows it to its end: a progress bar on a terminal, one
 * line every few seconds otherwise. `kms` prints the key service's JSON answers.
 */
import { type SigningTarget, signRequest } from "../auth/sign-request.ts";
import type { HealProgress } from "../object/layer.ts";
import { ADMIN_PREFIX } from "./api.ts";

export const ADMIN_USAGE = `Usage:
  flashstor admin info --endpoint URL [--json]
  flashstor admin heal [BUCKET[/PREFIX]] [--deep] --endpoint URL [--no-wait]
  flashstor admin kms status|list|create ID|rotate ID|rewrap --endpoint URL
                       the key service: whether it is configured, its master keys, a new key,
                       a new version of a key (and the re-wrap pass it starts), the passes

Flags:
  --endpoint URL       the server, e.g. http://127.0.0.1:9000
  --access-key KEY     default: FLASHSTOR_ROOT_USER
  --secret-key SECRET  default: FLASHSTOR_ROOT_PASSWORD
  --region REGION      the signing region (default: FLASHSTOR_REGION, else us-east-1)
  --deep               heal: read and verify every shard, parity included
  --no-wait            heal: print the task and return without following it
  --json               info: print the server's JSON as it is`;

/** How often a running heal is polled. */
const POLL_MS = 500;
/** Plain-output progress lines are this far apart at least. */
const LINE_MS = 5_000;
/** Consecutive failed polls before giving up on following a heal. */
const POLL_FAILURES = 20;

class UsageError extends Error {}
class ApiError extends Error {}

interface Options {
  target: SigningTarget;
  positional: string[];
  flags: Set<string>;
}

const VALUED = ["--endpoint", "--access-key", "--secret-key", "--region"];
type Command = "info" | "heal" | "kms";
const BOOLEAN: Record<Command, string[]> = {
  info: ["--json"],
  heal: ["--deep", "--no-wait"],
  kms: [],
};
const MAX_POSITIONAL: Record<Command, number> = { info: 0, heal: 1, kms: 2 };

function parse(
  command: Command,
  args: string[],
  env: (name: string) => string | undefined,
): Options {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (VALUED.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined || value === "") throw new UsageError(`${name} needs a value`);
      values.set(name, value);
    } else if (BOOLEAN[command].includes(name) && inline === undefined) {
      flags.add(name);
    } else if (arg.startsWith("-")) {
      throw new UsageError(`unknown flag ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length > MAX_POSITIONAL[command]) {
    throw new UsageError(`unexpected argument ${positional.at(-1)}`);
  }
  const endpoint = values.get("--endpoint");
  if (!endpoint) throw new UsageError("--endpoint URL is required");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--endpoint ${endpoint} is not http:// or https://`);
  }
  const accessKey = values.get("--access-key") ?? env("FLASHSTOR_ROOT_USER");
  const secretKey = values.get("--secret-key") ?? env("FLASHSTOR_ROOT_PASSWORD");
  if (!accessKey || !secretKey) {
    throw new UsageError(
      "credentials needed: FLASHSTOR_ROOT_USER and FLASHSTOR_ROOT_PASSWORD, or --access-key " +
        "and --secret-key",
    );
  }
  const region = values.get("--region") ?? env("FLASHSTOR_REGION") ?? "us-east-1";
  return { target: { endpoint: url.origin, accessKey, secretKey, region }, positional, flags };
}

/** A signed admin API call; the parsed JSON answer, or ApiError with the server's message. */
async function call(
  target: SigningTarget,
  method: string,
  api: string,
  body?: string,
): Promise<unknown> {
  const path = ADMIN_PREFIX + api;
  const headers = signRequest(target, method, path);
  if (body !== undefined) headers.set("content-type", "application/json");
  let response: Response;
  try {
    response = await fetch(target.endpoint + path, { method, headers, body });
  } catch (err) {
    throw new ApiError(`${target.endpoint}: ${(err as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
    throw new ApiError(
      `${method} ${path}: ${response.status} ${code ?? ""}${message ? `: ${message}` : ""}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new ApiError(`${method} ${path}: the answer is not JSON`);
  }
}

/** 1536 → "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** One line of progress: counts, bytes, rate and ETA (once the total is known). */
export function progressLine(p: HealProgress, elapsedSeconds: number, barWidth = 0): string {
  const total = p.objectsTotal;
  const fraction = total ? Math.min(1, p.objectsScanned / total) : undefined;
  const parts: string[] = [];
  if (barWidth > 0 && fraction !== undefined) {
    const filled = Math.round(fraction * barWidth);
    parts.push(`[${"#".repeat(filled)}${".".repeat(barWidth - filled)}]`);
  }
  if (fraction !== undefined) parts.push(`${Math.floor(fraction * 100)}%`);
  parts.push(`${p.objectsScanned}${total !== undefined ? `/${total}` : ""} objects`);
  const ofTotal = p.bytesTotal !== undefined ? ` of ${formatBytes(p.bytesTotal)}` : "";
  parts.push(`${p.objectsHealed} healed (${formatBytes(p.bytesHealed)}${ofTotal})`);
  if (p.objectsFailed > 0) parts.push(`${p.objectsFailed} failed`);
  if (elapsedSeconds > 0) {
    parts.push(
      `${formatBytes(p.bytesHealed / elapsedSeconds)}/s, ` +
        `${(p.objectsScanned / elapsedSeconds).toFixed(1)} objects/s`,
    );
    if (total !== undefined && p.objectsScanned > 0 && p.state === "running") {
      const left = Math.max(0, total - p.objectsScanned) * elapsedSeconds / p.objectsScanned;
      parts.push(`ETA ${formatDuration(left)}`);
    }
  }
  return parts.join("  ");
}

interface InfoDrive {
  endpoint: string;
  state: string;
  total: number;
  free: number;
}

function renderInfo(info: Record<string, unknown>): string {
  const lines = [`flashstor ${info.version}, deployment ${info.deploymentId ?? "?"}`];
  const sets = (info.sets ?? []) as { dataShards: number; parityShards: number }[];
  if (sets.length > 0) {
    lines.push(
      `${sets.length} erasure set(s) of ${sets[0].dataShards} data + ${sets[0].parityShards} ` +
        "parity drives",
    );
  }
  lines.push("drives:");
  for (const d of (info.drives ?? []) as InfoDrive[]) {
    const space = d.total > 0 ? `  ${formatBytes(d.free)} free of ${formatBytes(d.total)}` : "";
    lines.push(`  ${d.endpoint}  ${d.state}${space}`);
  }
  lines.push(`heal queue: ${info.healQueueLength ?? 0} object(s)`);
  const tasks = (info.healTasks ?? []) as HealProgress[];
  if (tasks.length > 0) lines.push("heal tasks:");
  for (const t of tasks) {
    const what = t.kind === "drive"
      ? `drive ${t.drive}`
      : `${t.request?.bucket ?? "everything"}${t.request?.prefix ? `/${t.request.prefix}` : ""}` +
        `${t.request?.deep ? " (deep)" : ""}`;
    lines.push(`  ${t.id}  ${what}  ${t.state}  ${progressLine(t, 0)}`);
  }
  const scanner = info.scanner as Record<string, unknown> | undefined;
  if (scanner) {
    lines.push(
      "scanner: " +
        Object.entries(scanner).map(([k, v]) =>
          `${k} ${typeof v === "object" ? JSON.stringify(v) : v}`
        ).join(", "),
    );
  }
  const usage = (info.usage ?? []) as { bucket: string; objects: number; bytes: number }[];
  if (usage.length > 0) lines.push("usage:");
  for (const u of usage) {
    lines.push(`  ${u.bucket}  ${u.objects} objects  ${formatBytes(u.bytes)}`);
  }
  return lines.join("\n");
}

async function heal(options: Options, out: (line: string) => void): Promise<number> {
  const [scope] = options.positional;
  const slash = scope?.indexOf("/") ?? -1;
  const request = {
    ...(scope ? { bucket: slash < 0 ? scope : scope.slice(0, slash) } : {}),
    ...(scope && slash >= 0 && slash < scope.length - 1 ? { prefix: scope.slice(slash + 1) } : {}),
    deep: options.flags.has("--deep"),
  };
  let progress = await call(
    options.target,
    "POST",
    "heal",
    JSON.stringify(request),
  ) as HealProgress;
  out(`heal ${progress.id} started`);
  if (options.flags.has("--no-wait")) return 0;
  const start = Date.now();
  const tty = Deno.stdout.isTerminal();
  let printed = 0;
  let failures = 0;
  const encoder = new TextEncoder();
  while (progress.state === "running") {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      progress = await call(options.target, "GET", `heal/${progress.id}`) as HealProgress;
      failures = 0;
    } catch (err) {
      if (++failures >= POLL_FAILURES) throw err;
      continue;
    }
    const elapsed = (Date.now() - start) / 1000;
    if (tty) {
      Deno.stdout.writeSync(encoder.encode(`\r\x1b[K${progressLine(progress, elapsed, 30)}`));
    } else if (Date.now() - printed >= LINE_MS && progress.state === "running") {
      out(progressLine(progress, elapsed));
      printed = Date.now();
    }
  }
  if (tty) Deno.stdout.writeSync(encoder.encode("\r\x1b[K"));
  out(`heal ${progress.id} ${progress.state}${progress.error ? `: ${progress.error}` : ""}`);
  out(progressLine(progress, (Date.now() - start) / 1000));
  return progress.state === "done" && progress.objectsFailed === 0 ? 0 : 1;
}

/** The kms/* API a `kms` command line asks for: method and path. */
function kmsCall(positional: string[]): [string, string] {
  const [action, keyId] = positional;
  const withId = action === "create" || action === "rotate";
  if (withId !== (keyId !== undefined)) {
    throw new UsageError(withId ? `kms ${action} needs a key id` : "unexpected argument " + keyId);
  }
  const key = `kms/keys/${encodeURIComponent(keyId ?? "")}`;
  if (action === "status" || action === "rewrap") return ["GET", `kms/${action}`];
  if (action === "list") return ["GET", "kms/keys"];
  if (action === "create") return ["POST", key];
  if (action === "rotate") return ["POST", `${key}/rotate`];
  throw new UsageError(
    `kms${action ? ` ${action}` : ""}: expected status, list, create, rotate or rewrap`,
  );
}

/** Runs `flashstor admin …`; the exit code. */
export async function runAdmin(
  args: string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    (command === undefined ? console.error : console.log)(ADMIN_USAGE);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(ADMIN_USAGE);
    return 0;
  }
  try {
    if (command !== "info" && command !== "heal" && command !== "kms") {
      throw new UsageError(`unknown command ${command}`);
    }
    const options = parse(command, rest, env);
    if (command === "heal") return await heal(options, console.log);
    if (command === "kms") {
      const [method, api] = kmsCall(options.positional);
      console.log(JSON.stringify(await call(options.target, method, api), null, 2));
      return 0;
    }
    const info = await call(options.target, "GET", "info") as Record<string, unknown>;
    console.log(options.flags.has("--json") ? JSON.stringify(info, null, 2) : renderInfo(info));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`flashstor admin: ${err.message}\n\n${ADMIN_USAGE}`);
      return 2;
    }
    if (err instanceof ApiError) {
      console.error(`flashstor admin: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
