/**
 * Keeps IAM and bucket metadata the same on every node: a change returns only after the online
 * peers have reloaded it (bumped their epochs); a node that may have missed changes (a peer came
 * back, this process stalled) reloads before it authorizes anything.
 * OWNER: metadata sync helper (see /work/notes/issue14-contract.md).
 */
import type { InternodeRouter } from "./internode.ts";
import type { ServiceGate } from "../service-gate.ts";
import type { PeerClient } from "./internode-client.ts";
import type { IamStore } from "../iam/store.ts";
import type { ConfigBucketMetadataStore } from "../bucket/metadata-store.ts";

export interface SyncedStores {
  iam: IamStore;
  buckets: ConfigBucketMetadataStore;
}

export class MetadataSync {
  /** `gate` lets every request wait for a reload this node needs before it is served. */
  constructor(
    readonly router: InternodeRouter,
    readonly peers: readonly PeerClient[],
    readonly gate: ServiceGate,
  ) {}
  /** Starts keeping `stores` in step with the peers. */
  attach(stores: SyncedStores): void {
    void stores;
  }
}
