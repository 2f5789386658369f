/**
 * Distributed namespace locks (MinIO's dsync): a lock is granted by a quorum of the nodes' lock
 * servers, acquired with timeout and retry, refreshed while held, released on every path.
 * OWNER: distributed locks helper (see /work/notes/issue14-contract.md).
 */
import type { Locker, LockOptions, Release } from "../object/locker.ts";
import type { PeerClient } from "./internode-client.ts";
import type { LockServer } from "./lock-server.ts";

export class DistributedLocker implements Locker {
  constructor(readonly local: LockServer, readonly peers: readonly PeerClient[]) {}
  read(key: string, options?: LockOptions): Promise<Release> {
    return Promise.reject(new Error(`not implemented: ${key} ${options}`));
  }
  write(key: string, options?: LockOptions): Promise<Release> {
    return Promise.reject(new Error(`not implemented: ${key} ${options}`));
  }
  withRead<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return this.read(key, options).then(fn);
  }
  withWrite<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return this.write(key, options).then(fn);
  }
}
