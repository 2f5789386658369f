/**
 * Shared pieces of the real-client tests (tests/client_*_test.ts): running a client binary with a
 * clean environment, deterministic test data, and file trees to sync.
 */

import { createHash } from "node:crypto";
import { AssertionError } from "node:assert";
import { ACCESS_KEY, SECRET_KEY } from "./server.ts";

export const MiB = 1024 * 1024;

/** Writes an s3cmd config for the root credentials and the server on `port`; returns `path`. */
export async function writeS3cmdConfig(path: string, port: number): Promise<string> {
  const host = `127.0.0.1:${port}`;
  await Deno.writeTextFile(
    path,
    [
      "[default]",
      `access_key = ${ACCESS_KEY}`,
      `secret_key = ${SECRET_KEY}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      "use_https = False",
      "signature_v2 = False",
      "bucket_location = us-east-1",
      "",
    ].join("\n"),
  );
  return path;
}

/** True when `path` exists; prints why the caller's tests are skipped when it does not. */
export function clientPresent(test: string, path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    console.log(`${test}: skipped, ${path} is absent (run scripts/setup --test to install it)`);
    return false;
  }
}

/** The environment of an AWS CLI or boto3 run: these credentials, none of the machine's files. */
export function awsEnv(accessKey = ACCESS_KEY, secretKey = SECRET_KEY): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: accessKey,
    AWS_SECRET_ACCESS_KEY: secretKey,
    AWS_DEFAULT_REGION: "us-east-1",
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_PAGER: "",
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command` with only `env` (plus a PATH and a UTF-8 locale) and captures its output. */
export async function run(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<RunResult> {
  const output = await new Deno.Command(command, {
    args,
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Like run, but fails the test unless the command exits 0; returns stdout. */
export async function runOk(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<string> {
  const result = await run(command, args, env);
  if (result.code !== 0) {
    throw new AssertionError({
      message: `${command} ${
        args.join(" ")
      } exited ${result.code}:\n${result.stderr}\n${result.stdout}`,
    });
  }
  return result.stdout;
}

/** `size` bytes that differ per `seed` and do not repeat with any short period. */
export function patterned(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

export function md5Hex(...chunks: Uint8Array[]): string {
  const hash = createHash("md5");
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest("hex");
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The S3 ETag of a multipart upload of `bytes` in parts of `partSize` (without quotes). */
export function multipartEtag(bytes: Uint8Array, partSize: number): string {
  const digests: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += partSize) {
    digests.push(createHash("md5").update(bytes.subarray(offset, offset + partSize)).digest());
  }
  return `${md5Hex(...digests)}-${digests.length}`;
}

export async function writeTree(root: string, tree: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(tree)) {
    const file = `${root}/${path}`;
    await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
}

export async function readTree(root: string, dir = ""): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory) Object.assign(files, await readTree(root, path));
    else files[path] = await Deno.readTextFile(`${root}/${path}`);
  }
  return files;
}

/** A small tree with nesting, a space and a non-ASCII name. */
export const TREE: Record<string, string> = {
  "top.txt": "top level\n",
  "a/one.txt": "first\n",
  "a/b/two.txt": "second, deeper\n",
  "a/b/with space.txt": "spaces in names\n",
  "c/ü.txt": "unicode name\n",
};

/**
 * The start of a boto3 script: `s3`, a path-style client of the endpoint in argv[1] that does
 * not retry, and `code(call)`, the [code, status] of the S3 error a call fails with (None if
 * it succeeds).
 */
export const BOTO3_PRELUDE = String.raw`
import datetime, json, sys, urllib.request, boto3
from botocore.config import Config
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

def code(call):
    try:
        call()
        return None
    except ClientError as e:
        return [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
`;

/** Runs a boto3 script (after BOTO3_PRELUDE) against `endpoint`; what it printed, as JSON. */
export async function boto3Json(
  python: string,
  script: string,
  server: { endpoint: string; dir: string },
): Promise<unknown> {
  const env = { ...awsEnv(), HOME: server.dir };
  return JSON.parse(await runOk(python, ["-c", script, server.endpoint], env));
}

/**
 * The interpreter of the first python3 on PATH (the pyenv one here) whose boto3 is at least
 * 1.`minor`, or undefined with the reason printed for `test` (Debian's boto3 1.26 predates
 * the checksums and conditional writes of current SDKs).
 */
export async function modernBoto3(test: string, minor = 36): Promise<string | undefined> {
  const probe = "import sys, boto3; print(sys.executable, boto3.__version__)";
  const result = await run("python3", ["-c", probe], {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
  }).catch(() => undefined);
  const [executable, version] = result?.code === 0 ? result.stdout.trim().split(" ") : [];
  const [major, found] = (version ?? "0.0").split(".").map(Number);
  if (executable !== undefined && (major > 1 || (major === 1 && found >= minor))) {
    return executable;
  }
  console.log(`${test}: boto3 skipped, no python3 on PATH with boto3 >= 1.${minor}`);
  return undefined;
}
