/**
 * One node's share of the distributed locks (dsync's lock server): a table of granted read and
 * write locks with their holders, refreshed by the holders and expired when they stop.
 * OWNER: distributed locks helper (see /work/notes/issue14-contract.md).
 */
import type { InternodeRouter } from "./internode.ts";

export interface LockServerOptions {
  /** A lock not refreshed for this long is dropped (ms; DEFAULT_LOCK_EXPIRY_MS otherwise). */
  expiryMs?: number;
}

export class LockServer {
  constructor(readonly options: LockServerOptions = {}) {}
}

/** Serves `server` to the peers (internode service "lock"). */
export function serveLocks(router: InternodeRouter, server: LockServer): void {
  void router;
  void server;
}
