/**
 * Starts the real Flashstor server as a subprocess (scripts/flashstor) on a loopback port with
 * temporary drive directories, for integration tests. No part of the server is mocked.
 *
 * With `FLASHSTOR_TEST_TOPOLOGY=NxD` (e.g. `4x2`, `deno task test:cluster`) `startServer` starts
 * a cluster of N nodes with D drives each instead, and answers with node 1 as the TestServer (its
 * stop and kill act on every node; starting again with its `dir` restarts the same cluster), so
 * the client suites run unchanged against a node of a cluster.
 */

import { S3Client } from "@aws-sdk/client-s3";
import { startCluster, type TestCluster } from "./cluster.ts";

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

/** The cluster shape `startServer` stands up instead of one server, if any. */
export const TEST_TOPOLOGY = parseTopology(Deno.env.get("FLASHSTOR_TEST_TOPOLOGY"));

function parseTopology(
  value: string | undefined,
): { nodes: number; drivesPerNode: number } | undefined {
  if (!value) return undefined;
  const match = /^(\d+)x(\d+)$/.exec(value);
  if (!match || Number(match[1]) < 2 || Number(match[2]) < 1) {
    throw new Error(`FLASHSTOR_TEST_TOPOLOGY: expected NODESxDRIVES (e.g. 4x2), got ${value}`);
  }
  return { nodes: Number(match[1]), drivesPerNode: Number(match[2]) };
}

/**
 * Runs `fn` against `server`: when it fails, the end of the server's output is printed first.
 * The server is then cleaned up (stopped only, its directory kept, with `keepDir`).
 */
export async function serving<T>(
  server: TestServer,
  fn: (server: TestServer) => Promise<T>,
  keepDir = false,
): Promise<T> {
  try {
    return await fn(server);
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await (keepDir ? server.stop() : server.cleanup());
  }
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  // The cluster harness names each node's address; everything else is a test's "one server".
  if (TEST_TOPOLOGY && options.address === undefined) return await startClusterServer(options);
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

/** Ports of the clusters this process started in topology mode, by directory (for restarts). */
const clusterPorts = new Map<string, number[]>();

async function startClusterServer(options: ServerOptions): Promise<TestServer> {
  const { nodes, drivesPerNode } = TEST_TOPOLOGY!;
  if (options.drives !== undefined || options.scheme === "https") {
    throw new Error(
      "FLASHSTOR_TEST_TOPOLOGY: this test chooses its own drives or TLS; run it without the topology",
    );
  }
  const ports = options.dir === undefined ? undefined : clusterPorts.get(options.dir);
  if (options.dir !== undefined && !ports) {
    throw new Error(`FLASHSTOR_TEST_TOPOLOGY: ${options.dir} is not a cluster this run started`);
  }
  const cluster: TestCluster = await startCluster({
    nodes,
    drivesPerNode,
    args: options.args,
    env: options.env,
    reuse: options.dir && ports ? { dir: options.dir, ports } : undefined,
  });
  clusterPorts.set(cluster.dir, cluster.ports);
  const first = cluster.node(0);
  const all = cluster.nodes.filter((n): n is TestServer => n !== undefined);
  const each = async (op: (node: TestServer) => Promise<Deno.CommandStatus>) =>
    (await Promise.all(all.map(op)))[0];
  return {
    ...first,
    dir: cluster.dir,
    output: () => all.map((n, i) => `--- node ${i + 1}\n${n.output()}`).join("\n"),
    stop: () => each((n) => n.stop()),
    kill: () => each((n) => n.kill()),
    cleanup: () => cluster.cleanup(),
  };
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
