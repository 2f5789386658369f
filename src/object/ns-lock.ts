/**
 * In-process namespace locks: one readers-writer lock per key (bucket/object). Writers hold it
 * only for their commit, readers for as long as they read the object's files, so a commit
 * never removes a data directory under a reader. Waiters are served in arrival order, which
 * keeps a stream of readers from starving a writer. Entries vanish when unused.
 */

import type { Locker, Release } from "./locker.ts";

interface Entry {
  readers: number;
  writer: boolean;
  queue: { write: boolean; wake: () => void }[];
}

export class NamespaceLocks implements Locker {
  readonly #entries = new Map<string, Entry>();

  read(key: string): Promise<Release> {
    return this.#acquire(key, false);
  }

  write(key: string): Promise<Release> {
    return this.#acquire(key, true);
  }

  /** Runs `fn` under the write lock of `key`. */
  async withWrite<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.write(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Runs `fn` under the read lock of `key`. */
  async withRead<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.read(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #acquire(key: string, write: boolean): Promise<Release> {
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { readers: 0, writer: false, queue: [] };
      this.#entries.set(key, entry);
    }
    const e = entry;
    const grant = (): Release => {
      if (write) e.writer = true;
      else e.readers++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        if (write) e.writer = false;
        else e.readers--;
        this.#wake(key, e);
      };
    };
    const free = !e.writer && e.queue.length === 0 && (!write || e.readers === 0);
    if (free) return Promise.resolve(grant());
    return new Promise((resolve) => e.queue.push({ write, wake: () => resolve(grant()) }));
  }

  #wake(key: string, e: Entry): void {
    while (e.queue.length > 0 && !e.writer) {
      const next = e.queue[0];
      if (next.write && e.readers > 0) break;
      e.queue.shift();
      next.wake();
      if (next.write) break;
    }
    if (!e.writer && e.readers === 0 && e.queue.length === 0) this.#entries.delete(key);
  }
}
