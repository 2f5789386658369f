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
  /**
   * Stop waiting (LockTimeout) after this long; the locker's default otherwise. 0: one attempt,
   * no waiting for a holder to let go (a lock that is someone's job only when free).
   */
  timeoutMs?: number;
  /**
   * Called when a lock held is lost: too few lock servers still know it (its refreshes failed
   * for the expiry time), so others may take it. Never for in-process locks.
   */
  onLost?: (reason: Error) => void;
}

export interface Locker {
  read(key: string, options?: LockOptions): Promise<Release>;
  write(key: string, options?: LockOptions): Promise<Release>;
  /** Runs `fn` under the read lock of `key`, released on every path. */
  withRead<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
  /** Runs `fn` under the write lock of `key`, released on every path. */
  withWrite<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T>;
}

/** Runs `fn` once `lock` is granted and releases it on every path (both lockers' with*). */
export async function holding<T>(lock: Promise<Release>, fn: () => Promise<T>): Promise<T> {
  const release = await lock;
  try {
    return await fn();
  } finally {
    release();
  }
}
