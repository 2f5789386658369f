/**
 * Starts the real Flashstor server as a subprocess (scripts/flashstor) on a loopback port with
 * temporary drive directories, for integration tests. No part of the server is mocked.
 */

import { S3Client } from "@aws-sdk/client-s3";

const ROOT = new URL("../..", import.meta.url).pathname;
export const DENO = `${ROOT}.deno/bin/deno`;
export const FLASHSTOR = `${ROOT}scripts/flashstor`;
export const ACCESS_KEY = "testadmin";
export const SECRET_KEY = "testsecret-1234";

export interface ServerOptions {
  /** Number of drives (default 4) under a fresh temp dir, or explicit drive paths. */
  drives?: number | string[];
  args?: string[];
  env?: Record<string, string>;
  /** Reuse an existing temp dir (drives d1..dN inside it), e.g. after a kill. */
  dir?: string;
  /** Wait for this path to answer 200 (default /flashstor/health/live). */
  readyPath?: string;
  /** https when the server is started with certs. */
  scheme?: "http" | "https";
  /** Listen address (default 127.0.0.1:0, a free port). */
  address?: string;
  /** How long to wait for the server to serve S3 (default 30 s). */
  startTimeoutMs?: number;
}

export interface TestServer {
  endpoint: string;
  port: number;
  dir: string;
  drives: string[];
  process: Deno.ChildProcess;
  /** Everything the server printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM and wait; the temp dir stays (call cleanup to remove it). */
  stop(): Promise<Deno.CommandStatus>;
  /** SIGKILL and wait. */
  kill(): Promise<Deno.CommandStatus>;
  /** Stops if running and removes the temp dir. */
  cleanup(): Promise<void>;
}

const LISTENING = /listening on (https?):\/\/([^\s:]+|\[[^\]]+\]):(\d+)/;

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "flashstor-test-" });
  const drives = Array.isArray(options.drives)
    ? options.drives
    : Array.from({ length: options.drives ?? 4 }, (_, i) => `${dir}/d${i + 1}`);
  const command = new Deno.Command(FLASHSTOR, {
    args: [
      "server",
      "--address",
      options.address ?? "127.0.0.1:0",
      ...(options.args ?? []),
      ...drives,
    ],
    env: {
      FLASHSTOR_ROOT_USER: ACCESS_KEY,
      FLASHSTOR_ROOT_PASSWORD: SECRET_KEY,
      ...options.env,
    },
    stdout: "piped",
    stderr: "piped",
  });
  const process = command.spawn();
  let output = "";
  let resolvePort: (port: number) => void;
  const portKnown = new Promise<number>((resolve) => resolvePort = resolve);
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      const match = LISTENING.exec(output);
      if (match) resolvePort(Number(match[3]));
    }
  };
  const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
  let exited = false;
  const status = process.status.then(async (s) => {
    exited = true;
    await pumps;
    return s;
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  const startMs = options.startTimeoutMs ?? 30_000;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`server did not start in ${startMs / 1000} s:\n${output}`)),
      startMs,
    );
  });
  const died = status.then((s) => {
    throw new Error(`server exited with ${s.code} before listening:\n${output}`);
  });
  died.catch(() => {}); // only the race below cares; a later, deliberate exit is not an error
  try {
    const port = await Promise.race([portKnown, died, timeout]);
    const scheme = options.scheme ?? "http";
    const endpoint = `${scheme}://127.0.0.1:${port}`;
    const stop = async (signal: Deno.Signal) => {
      if (!exited) {
        try {
          process.kill(signal);
        } catch { /* already gone */ }
      }
      return await status;
    };
    const server: TestServer = {
      endpoint,
      port,
      dir,
      drives,
      process,
      output: () => output,
      stop: () => stop("SIGTERM"),
      kill: () => stop("SIGKILL"),
      cleanup: async () => {
        await stop("SIGKILL");
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
    if (scheme === "http") {
      await waitForReady(endpoint, options.readyPath ?? "/flashstor/health/live");
    }
    return server;
  } catch (err) {
    try {
      process.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    if (!options.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function waitForReady(endpoint: string, path: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(endpoint + path);
      await response.body?.cancel();
      if (response.ok) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${endpoint}${path} did not become ready`);
}

/** An AWS SDK v3 client for the server, with the SDK's default checksum behaviour. */
export function s3Client(server: TestServer, options: { pathStyle?: boolean } = {}): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: options.pathStyle ?? true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
}

/** Runs `fn` against a fresh server and an SDK client for it, then removes both. */
export async function withServer(
  fn: (server: TestServer, client: S3Client) => Promise<void>,
  options: ServerOptions = {},
): Promise<void> {
  const server = await startServer(options);
  const client = s3Client(server);
  try {
    await fn(server, client);
  } finally {
    client.destroy();
    await server.cleanup();
  }
}
