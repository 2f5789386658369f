/**
 * In-process namespace locks: one readers-writer lock per key (bucket/object). Writers hold it
 * only for their commit, readers for as long as they read the object's files, so a commit
 * never removes a data directory under a reader. Waiters are served in arrival order, which
 * keeps a stream of readers from starving a writer. A waiter whose timeout passes or whose
 * signal aborts leaves the queue with LockTimeout. Entries vanish when unused.
 */

import { LockTimeout } from "./errors.ts";
import { holding, type Locker, type LockOptions, type Release } from "./locker.ts";

interface Waiter {
  write: boolean;
  wake: () => void;
}

interface Entry {
  readers: number;
  writer: boolean;
  queue: Waiter[];
}

export class NamespaceLocks implements Locker {
  readonly #entries = new Map<string, Entry>();

  read(key: string, options?: LockOptions): Promise<Release> {
    return this.#acquire(key, false, options);
  }

  write(key: string, options?: LockOptions): Promise<Release> {
    return this.#acquire(key, true, options);
  }

  withWrite<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return holding(this.write(key, options), fn);
  }

  withRead<T>(key: string, fn: () => Promise<T>, options?: LockOptions): Promise<T> {
    return holding(this.read(key, options), fn);
  }

  #acquire(key: string, write: boolean, options: LockOptions = {}): Promise<Release> {
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
    const { signal, timeoutMs } = options;
    const refused = () => new LockTimeout(`${write ? "write" : "read"} lock on ${key} not granted`);
    if (signal?.aborted || timeoutMs === 0) return Promise.reject(refused());
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", giveUp);
      };
      const waiter: Waiter = {
        write,
        wake: () => {
          settle();
          resolve(grant());
        },
      };
      // Leaving the queue may let those behind in (readers behind a writer that gave up).
      const giveUp = () => {
        settle();
        e.queue.splice(e.queue.indexOf(waiter), 1);
        this.#wake(key, e);
        reject(refused());
      };
      signal?.addEventListener("abort", giveUp, { once: true });
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        timer = setTimeout(giveUp, timeoutMs);
      }
      e.queue.push(waiter);
    });
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
