/**
 * The heal queue (MinIO's MRF, "most recently failed"): objects that a write missed on some
 * drive, or that a read found damaged, healed one at a time in the background. Bounded and
 * deduplicated. With a journal (mrf-journal.ts) what is queued survives a restart: new entries
 * are written in batches (one segment per batch, while the previous batch is being written),
 * and a segment is removed once all its objects are done. A heal that fails (a drive still
 * offline) is retried later with exponential backoff, and given up after `maxAttempts`: the
 * scanner finds the object again.
 */
import type { HealJournal, QueuedObject } from "./mrf-journal.ts";

export interface HealQueueOptions {
  /** Objects held at most; more are dropped (default 10 000). */
  capacity?: number;
  journal?: HealJournal;
  /** Delay before the first retry, doubled at each attempt (default 1 s). */
  retryDelayMs?: number;
  /** Longest delay between retries (default 10 min). */
  maxRetryDelayMs?: number;
  /** Attempts before an object is given up (default 12: about an hour of retries). */
  maxAttempts?: number;
}

interface Entry extends QueuedObject {
  attempts: number;
  /** Not tried again before this time (ms since the epoch). */
  due: number;
  /** The journal segment recording it, once written. */
  segment?: string;
  /** Waiting in the batch for the journal. */
  unjournaled?: boolean;
}

/** Objects per journal segment. */
const SEGMENT_LIMIT = 1000;

const key = (bucket: string, object: string) => `${bucket}/${object}`;

export class HealQueue {
  readonly #pending = new Map<string, Entry>();
  /** Entries not yet written to the journal. */
  #unjournaled: Entry[] = [];
  /** Live entries per journal segment. */
  readonly #segments = new Map<string, number>();
  #worker?: Promise<void>;
  #flusher?: Promise<void>;
  #restoring?: Promise<void>;
  #sleep?: { wake: () => void };
  readonly #waiters: (() => void)[] = [];
  #closed = false;
  readonly #capacity: number;
  readonly #retryDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #maxAttempts: number;

  constructor(
    private readonly heal: (bucket: string, object: string) => Promise<unknown>,
    private readonly options: HealQueueOptions = {},
  ) {
    this.#capacity = options.capacity ?? 10_000;
    this.#retryDelayMs = options.retryDelayMs ?? 1_000;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 600_000;
    this.#maxAttempts = options.maxAttempts ?? 12;
  }

  get size(): number {
    return this.#pending.size;
  }

  enqueue(bucket: string, object: string): void {
    this.#add(bucket, object);
  }

  /**
   * A drive came back: every object waiting for a retry is due now, instead of after its backoff
   * (which grows to minutes over a long outage), as their heal was waiting for that drive.
   */
  retryNow(): void {
    for (const entry of this.#pending.values()) entry.due = 0;
    this.#wake();
  }

  /**
   * Re-queues what the journal holds (the previous run's queue), compacted into one segment,
   * then removes the segments read. Runs once, in the background; close() waits for it.
   */
  restore(): Promise<void> {
    const journal = this.options.journal;
    this.#restoring ??= journal
      ? journal.load().then(async ({ segments, objects }) => {
        for (const { bucket, object } of objects) this.#add(bucket, object);
        await this.#flusher;
        // The old segments go only once the compacted one holds everything they did.
        if ([...this.#pending.values()].every((e) => e.segment)) {
          await Promise.all(segments.map((s) => journal.remove(s)));
        }
      }).catch(() => {})
      : Promise.resolve();
    return this.#restoring;
  }

  /** Resolves once no object is due: the queue is empty or waits only for retries. */
  async idle(): Promise<void> {
    for (;;) {
      const busy = this.#flusher ?? (this.#worker && !this.#sleep ? this.#changed() : undefined);
      if (!busy) return;
      await busy;
    }
  }

  /** Stops taking work and waits for the object being healed (its journal entry stays). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#restoring;
    this.#pending.clear();
    this.#wake();
    await this.#flusher;
    await this.#worker;
  }

  /** Adds an object (or puts a retried entry back) unless closed, full or already queued. */
  #add(bucket: string, object: string, entry?: Entry): void {
    const k = key(bucket, object);
    if (this.#closed || this.#pending.has(k) || this.#pending.size >= this.#capacity) return;
    const added = entry ?? { bucket, object, attempts: 0, due: 0 };
    this.#pending.set(k, added);
    if (!added.segment && !added.unjournaled && this.options.journal) {
      added.unjournaled = true;
      this.#unjournaled.push(added);
      this.#flusher ??= this.#flush();
    }
    this.#worker ??= this.#drain();
    if (added.due <= Date.now()) this.#wake();
  }

  /** Writes the unjournaled entries, batch after batch, until none is left. */
  async #flush(): Promise<void> {
    const journal = this.options.journal!;
    // Batch what the current request (and those beside it) queue.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (this.#unjournaled.length > 0) {
      const taken = this.#unjournaled.splice(0, SEGMENT_LIMIT);
      for (const e of taken) e.unjournaled = false;
      const queued = (e: Entry) => !e.segment && this.#pending.get(key(e.bucket, e.object)) === e;
      const batch = taken.filter(queued);
      if (batch.length === 0) continue;
      const segment = await journal.append(batch).catch(() => undefined);
      if (!segment) continue;
      // Entries healed while the segment was written no longer count.
      const live = batch.filter(queued);
      for (const e of live) e.segment = segment;
      if (live.length > 0) this.#segments.set(segment, live.length);
      else await journal.remove(segment).catch(() => {});
    }
    this.#flusher = undefined;
  }

  /** An entry is done (healed or given up): its segment goes once nothing else lives in it. */
  async #done(entry: Entry): Promise<void> {
    const segment = entry.segment;
    if (!segment || !this.#segments.has(segment)) return;
    const left = this.#segments.get(segment)! - 1;
    if (left > 0) {
      this.#segments.set(segment, left);
      return;
    }
    this.#segments.delete(segment);
    await this.options.journal?.remove(segment).catch(() => {});
  }

  /** The first entry that is due, or the time the earliest one will be. */
  #next(): Entry | number | undefined {
    let earliest: number | undefined;
    const now = Date.now();
    for (const entry of this.#pending.values()) {
      if (entry.due <= now) return entry;
      earliest = Math.min(earliest ?? entry.due, entry.due);
    }
    return earliest;
  }

  async #drain(): Promise<void> {
    // Let the request that found the damage finish first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (!this.#closed) {
      const next = this.#next();
      if (next === undefined) break;
      if (typeof next === "number") {
        await this.#wait(next - Date.now());
        continue;
      }
      const k = key(next.bucket, next.object);
      // Out of the queue while healed: damage found meanwhile queues the object again.
      this.#pending.delete(k);
      try {
        await this.heal(next.bucket, next.object);
        await this.#done(next);
      } catch {
        next.attempts++;
        const requeued = next.attempts < this.#maxAttempts && !this.#closed &&
          !this.#pending.has(k);
        if (requeued) {
          const delay = this.#retryDelayMs * 2 ** (next.attempts - 1);
          next.due = Date.now() + Math.min(delay, this.#maxRetryDelayMs);
          this.#add(next.bucket, next.object, next);
        } else if (!this.#closed) await this.#done(next);
      }
    }
    this.#worker = undefined;
    this.#notify();
  }

  /** Resolves at the worker's next change: it goes to sleep or ends. */
  #changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #notify(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /** Sleeps until `ms` have passed or new work (or close) wakes the worker. */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#sleep = undefined;
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.#sleep = { wake };
      this.#notify();
    });
  }

  #wake(): void {
    this.#sleep?.wake();
  }
}
