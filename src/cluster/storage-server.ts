/**
 * The server side of peer storage: serves this node's drives to its peers (internode service
 * "storage"). Only the drives of this node are reachable, by the path the command line names.
 * OWNER: peer storage helper (see /work/notes/issue14-contract.md).
 */
import type { InternodeRouter } from "./internode.ts";
import type { DriveHandle } from "../storage/drive-handle.ts";

/** Serves `drives` (by path on this node) to the peers. */
export function serveDrives(router: InternodeRouter, drives: ReadonlyMap<string, DriveHandle>) {
  void drives;
  void router;
}
