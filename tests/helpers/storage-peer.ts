/**
 * A storage peer inside the test process: a real InternodeRouter serving drives with
 * serveDrives on a real HTTP server (127.0.0.1) — the front door with the server's default
 * limits, as `flashstor server` runs, or Deno.serve (`--http-engine deno`) — and remote drive
 * handles over PeerClients to it: the wire, the server and the client of peer storage, without
 * a cluster's processes.
 */
import { InternodeAuth } from "../../src/cluster/internode-auth.ts";
import { InternodeRouter } from "../../src/cluster/internode.ts";
import { PeerClient } from "../../src/cluster/internode-client.ts";
import { serveDrives } from "../../src/cluster/storage-server.ts";
import { serveFrontDoor } from "../../src/http/front-door.ts";
import type { DriveHandle } from "../../src/storage/drive-handle.ts";
import { openRemoteDrive, RemoteDrive } from "../../src/storage/rest-storage.ts";
import type { DriveEndpoint } from "../../src/cluster/topology.ts";

export const ROOT = { accessKey: "peeradmin", secretKey: "peeradmin-secret" };

export interface StoragePeer {
  node: string;
  url: string;
  /** Serves `drive` under its path (what `drive=` names). */
  serve(path: string, drive: DriveHandle): void;
  /** The endpoint of a drive of this peer. */
  endpoint(path: string): DriveEndpoint;
  /** A handle over the peer's drive at `path`, opened. */
  open(path: string, timeoutMs?: number): Promise<DriveHandle>;
  /** The drive without a handle. */
  remote(path: string, timeoutMs?: number): RemoteDrive;
  client: PeerClient;
  close(): Promise<void>;
}

/** Which HTTP server the peer runs (the product's engines). */
export type PeerEngine = "flashstor" | "deno";

export interface StoragePeerOptions {
  engine?: PeerEngine;
  /** Serve https with this certificate (the client trusts it). */
  tls?: { cert: string; key: string };
  /** The front door's body-rate window (its default otherwise). */
  bodyRateWindowMs?: number;
}

export function startStoragePeer(
  engineOrOptions: PeerEngine | StoragePeerOptions = {},
): StoragePeer {
  const { engine = "flashstor", tls, bodyRateWindowMs } = typeof engineOrOptions === "string"
    ? { engine: engineOrOptions }
    : engineOrOptions;
  const drives = new Map<string, DriveHandle>();
  // The server's own name plays no part in verifying its callers' tokens.
  const router = new InternodeRouter(new InternodeAuth(ROOT, "storage-peer"));
  serveDrives(router, drives);
  const server = serve(engine, (request) => router.handle(request), tls, bodyRateWindowMs);
  const node = `127.0.0.1:${server.port}`;
  const url = `${tls ? "https" : "http"}://${node}`;
  const caCerts = tls ? [tls.cert] : undefined;
  const httpClient = Deno.createHttpClient({ caCerts });
  const client = new PeerClient(url, node, new InternodeAuth(ROOT, "127.0.0.1:1"), httpClient, {
    caCerts,
  });
  const endpoint = (path: string): DriveEndpoint => ({
    endpoint: `${url}${path}`,
    path,
    node,
    local: false,
  });
  return {
    node,
    url,
    client,
    serve: (path, drive) => drives.set(path, drive),
    endpoint,
    open: async (path, timeoutMs) => {
      const handle = openRemoteDrive(endpoint(path), client, { timeoutMs, log: () => {} });
      await handle.connect();
      return handle;
    },
    remote: (path, timeoutMs) => new RemoteDrive(endpoint(path), client, timeoutMs),
    close: async () => {
      client.close();
      await server.stop();
      httpClient.close();
    },
  };
}

function serve(
  engine: PeerEngine,
  handler: (request: Request) => Promise<Response>,
  tls?: { cert: string; key: string },
  bodyRateWindowMs?: number,
): { port: number; stop: () => Promise<void> } {
  if (engine === "deno") {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {}, ...tls },
      handler,
    );
    return { port: server.addr.port, stop: () => server.shutdown() };
  }
  // The defaults of src/config.ts.
  const door = serveFrontDoor(handler, {
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: 10_000,
    idleTimeoutMs: 30_000,
    minBodyRate: 1024,
    bodyRateWindowMs,
    tls,
  });
  return { port: door.port, stop: () => door.shutdown(1_000) };
}
