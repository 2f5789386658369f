/**
 * Namespace locks as the object layer uses them: a readers-writer lock per key (bucket/object,
 * an upload, a part). Writers hold it for their commit, readers while they read an object's
 * files, so a commit never removes a data directory under a reader. Two implementations: the
 * in-process one (ns-lock.ts, a single node) and the distributed one (cluster/dsync.ts: granted
 * by a quorum of the nodes, refreshed while held, expired by the nodes when its holder dies).
 */

/** Gives the lock back; calling it again does nothing. Never throws, never waits. */
export type Release = () => void;

export interface LockOptions {
  /** Stop waiting (LockTimeout) when this aborts: the request it serves has gone. */
  signal?: AbortSignal;
  /** Stop waiting (LockTimeout) after this long; the locker's default otherwise. */
  timeoutMs?: number;
}

export interface Locker {
  read(key: string, options?: LockOptions): Promise<Release>;
  write(key: string, options?: LockOptions): Promise<Release>;
  /** Runs `fn` under the read lock of `key`, released on every path. */
  withRead<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
  /** Runs `fn` under the write lock of `key`, released on every path. */
  withWrite<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
}
