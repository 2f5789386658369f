/**
 * Which drives make the deployment, where they are, and which are this node's. Every node is
 * given the same command line (MinIO's syntax, `http://node{1...4}:9000/mnt/disk{1...4}`) and
 * finds its own drives by matching its listen address; the others are its peers'. Drives are
 * put in format order so that every erasure set spreads evenly across the nodes.
 */
import type { SetLayout } from "./endpoints.ts";

/** One drive of the deployment. */
export interface DriveEndpoint {
  /** As the operator names it: "/mnt/d1", or "http://node2:9000/mnt/d1". */
  endpoint: string;
  /** Its path on the node that holds it. */
  path: string;
  /** host:port of the node that holds it ("" in a single-node deployment). */
  node: string;
  /** Held by this node. */
  local: boolean;
}

/** One node of the deployment. */
export interface NodeEndpoint {
  /** host:port, as in the drive URLs. */
  node: string;
  /** Base URL of its API, e.g. http://node2:9000 (the scheme of the drive URLs). */
  url: string;
  local: boolean;
}

export interface Topology {
  /** Every drive in format order: set 1's drives, then set 2's, … */
  drives: DriveEndpoint[];
  /** Nodes in the order they first appear in the command line; nodes[0] formats new drives. */
  nodes: NodeEndpoint[];
  /** This node. */
  self: NodeEndpoint;
  /** More than one node: drives of peers are reached over the internode API. */
  distributed: boolean;
  layout: SetLayout;
}

/** Paths of this node's drives (for the privilege drop, permissions, the drive locks). */
export function localPaths(topology: Topology): string[] {
  return topology.drives.filter((d) => d.local).map((d) => d.path);
}
