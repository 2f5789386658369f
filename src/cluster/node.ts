/**
 * A node of a cluster, assembled: the internode API served through the gate, the peers'
 * clients, this node's drives served to them, the bootstrap checks, every drive of the
 * deployment as a handle (local, or a peer's over HTTP), and the distributed locker. main.ts
 * calls joinCluster only when the drives name more than one node.
 */
import type { DriveHandle } from "../storage/drive-handle.ts";
import { DiskNotFound } from "../storage/errors.ts";
import {
  FormatPending,
  type FormatResult,
  type Layout,
  loadOrInitFormat,
} from "../storage/format.ts";
import { openRemoteDrive } from "../storage/rest-storage.ts";
import type { ServiceGate } from "../service-gate.ts";
import type { Locker } from "../object/locker.ts";
import { InternodeAuth, type RootCredentials } from "./internode-auth.ts";
import { InternodeRouter } from "./internode.ts";
import { PeerClient } from "./internode-client.ts";
import type { Topology } from "./topology.ts";
import { serveDrives } from "./storage-server.ts";
import { LockServer, serveLocks } from "./lock-server.ts";
import { DistributedLocker } from "./dsync.ts";
import { bootstrap } from "./bootstrap.ts";
import { MetadataSync } from "./metadata-sync.ts";

export interface ClusterOptions {
  topology: Topology;
  root: RootCredentials;
  gate: ServiceGate;
  /** This node's drives, opened, by path. */
  localDrives: ReadonlyMap<string, DriveHandle>;
  /** Deadline of each drive call (remote drives too). */
  driveTimeoutMs?: number;
  /** Lock servers drop a lock not refreshed for this long (ms). */
  lockExpiryMs?: number;
  /** CA certificates (PEM) that sign the peers' certificates, for https endpoints. */
  caCerts?: string[];
}

export interface ClusterNode {
  /** Every drive of the deployment, in format order. */
  drives: DriveHandle[];
  locker: Locker;
  /** Keeps IAM and bucket metadata in step with the peers (attach once they are loaded). */
  metadata: MetadataSync;
  peers: readonly PeerClient[];
  /**
   * The deployment's format: nodes[0] formats a new deployment, the others wait for it; each
   * node formats only its own unformatted drives. Retried (said in the log and the 503s) while
   * the peers start.
   */
  format(layout: Layout): Promise<FormatResult>;
  /**
   * At shutdown, after the last request: stops the metadata sync's timers and waits for the
   * lock releases in flight, so a stopped node leaves no lock for the peers to wait out.
   */
  close(): Promise<void>;
}

/** Between attempts to settle the format while peers start. */
const FORMAT_RETRY_MS = 1_000;

/** Serves the internode API, waits for the peers (bootstrap), and opens the peers' drives. */
export async function joinCluster(options: ClusterOptions): Promise<ClusterNode> {
  const { topology, gate } = options;
  const auth = new InternodeAuth(options.root, topology.self.node);
  const httpClient = options.caCerts?.length
    ? Deno.createHttpClient({ caCerts: options.caCerts })
    : undefined;
  const router = new InternodeRouter(auth);
  const peers = topology.nodes.filter((n) => !n.local).map((n) =>
    new PeerClient(n.url, n.node, auth, httpClient, {
      pooled: ["storage", "lock"],
      caCerts: options.caCerts,
    })
  );
  const byNode = new Map(peers.map((p) => [p.node, p]));
  serveDrives(router, options.localDrives);
  const lockServer = new LockServer({ expiryMs: options.lockExpiryMs });
  serveLocks(router, lockServer);
  const metadata = new MetadataSync(router, peers, gate);
  gate.serveInternode(router);
  await bootstrap({
    topology,
    router,
    peers,
    onWaiting: (reason) => gate.waiting = reason,
  });
  gate.waiting = "the deployment's format is being loaded";
  const drives = topology.drives.map((d) =>
    d.local
      ? options.localDrives.get(d.path)!
      : openRemoteDrive(d, byNode.get(d.node)!, { timeoutMs: options.driveTimeoutMs })
  );
  const local = topology.drives.map((d) => d.local);
  const first = topology.nodes[0];
  const formatter = first.local ? undefined : first.node;
  const format = async (layout: Layout) => {
    let said = "";
    for (;;) {
      try {
        return await loadOrInitFormat(drives, layout, { local, formatter });
      } catch (err) {
        if (!(err instanceof FormatPending || err instanceof DiskNotFound)) throw err;
        if (err.message !== said) {
          said = err.message;
          console.log(`flashstor: format: ${said}; retrying`);
          // The details (peers' addresses) go to the log only.
          gate.waiting = "waiting for the deployment's format (peers starting)";
        }
      }
      await new Promise((resolve) => setTimeout(resolve, FORMAT_RETRY_MS));
    }
  };
  const locker = new DistributedLocker(lockServer, peers);
  const close = async () => {
    metadata.close();
    await locker.drain();
  };
  return { drives, locker, metadata, peers, format, close };
}
