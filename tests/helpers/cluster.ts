/**
 * Starts a real Flashstor cluster for integration tests: N server processes on loopback ports,
 * each with D drive directories, all given the same command line (as operators run it), e.g.
 * `http://127.0.0.1:P1/tmp/x/n1/d{1...2} http://127.0.0.1:P2/tmp/x/n2/d{1...2} …`.
 */
import { S3Client } from "@aws-sdk/client-s3";
import {
  ACCESS_KEY,
  SECRET_KEY,
  type ServerOptions,
  startServer,
  type TestServer,
} from "./server.ts";

export interface ClusterOptions {
  /** Nodes (default 4). */
  nodes?: number;
  /** Drives per node (default 2). */
  drivesPerNode?: number;
  /** Extra server flags, the same on every node. */
  args?: string[];
  env?: Record<string, string>;
  /** Start only these nodes (0-based; default all); the others with startNode later. */
  start?: number[];
  /** Reuse a cluster's directory and ports (after stopping it). */
  reuse?: { dir: string; ports: number[] };
}

export interface TestCluster {
  dir: string;
  ports: number[];
  /** The command line's drive arguments, as every node gets them. */
  endpoints: string[];
  /** Running nodes by index (undefined: not started, or stopped). */
  nodes: (TestServer | undefined)[];
  /** A node that must be running. */
  node(i: number): TestServer;
  /** Starts node i with the cluster's command line (plus `extra` options). */
  startNode(i: number, extra?: Partial<ServerOptions>): Promise<TestServer>;
  /** SIGKILL node i and wait for it. */
  kill(i: number): Promise<void>;
  /** SIGTERM every node. */
  stop(): Promise<void>;
  /** Kills every node and removes the directory. */
  cleanup(): Promise<void>;
}

/** Free loopback ports, all bound at once so that they differ. */
export function freePorts(count: number): number[] {
  const listeners = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

export async function startCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const count = options.nodes ?? 4;
  const perNode = options.drivesPerNode ?? 2;
  const dir = options.reuse?.dir ?? await Deno.makeTempDir({ prefix: "flashstor-cluster-" });
  const ports = options.reuse?.ports ?? freePorts(count);
  const endpoints = ports.map((port, i) =>
    `http://127.0.0.1:${port}${dir}/n${i + 1}/d{1...${perNode}}`
  );
  const nodes: (TestServer | undefined)[] = Array(count).fill(undefined);
  const cluster: TestCluster = {
    dir,
    ports,
    endpoints,
    nodes,
    node(i) {
      const node = nodes[i];
      if (!node) throw new Error(`node ${i + 1} is not running`);
      return node;
    },
    async startNode(i, extra = {}) {
      const node = await startServer({
        drives: endpoints,
        address: `127.0.0.1:${ports[i]}`,
        dir,
        args: options.args,
        startTimeoutMs: 60_000,
        ...extra,
        env: { ...options.env, ...extra.env },
      });
      nodes[i] = node;
      return node;
    },
    async kill(i) {
      await nodes[i]?.kill();
      nodes[i] = undefined;
    },
    async stop() {
      await Promise.all(nodes.map((n) => n?.stop()));
      nodes.fill(undefined);
    },
    async cleanup() {
      await Promise.all(nodes.map((n) => n?.kill()));
      nodes.fill(undefined);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  const which = options.start ?? Array.from({ length: count }, (_, i) => i);
  try {
    await Promise.all(which.map((i) => cluster.startNode(i)));
  } catch (err) {
    await cluster.cleanup();
    throw err;
  }
  return cluster;
}

/** An AWS SDK v3 client for one node. */
export function nodeClient(node: TestServer): S3Client {
  return new S3Client({
    endpoint: node.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
}
