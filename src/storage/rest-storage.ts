/**
 * A peer's drive as a StorageAPI: every method over the internode API (service "storage") to
 * the node that holds it, with streamed shard reads and writes. Wrapped in a DriveHandle like a
 * local drive, so deadlines, offline marking and probing back work the same.
 * OWNER: peer storage helper (see /work/notes/issue14-contract.md).
 */
import { DriveHandle } from "./drive-handle.ts";
import type { PeerClient } from "../cluster/internode-client.ts";
import type { DriveEndpoint } from "../cluster/topology.ts";

export interface RemoteDriveOptions {
  /** Deadline of each call and of each chunk of a stream (DriveHandle's default otherwise). */
  timeoutMs?: number;
}

/** The handle of a peer's drive; offline until the peer answers (the monitor probes it). */
export function openRemoteDrive(
  drive: DriveEndpoint,
  peer: PeerClient,
  options: RemoteDriveOptions = {},
): DriveHandle {
  return new DriveHandle(drive.endpoint, {
    open: () => Promise.reject(new Error(`not implemented: ${peer.node}${drive.path}`)),
    timeoutMs: options.timeoutMs,
  });
}
