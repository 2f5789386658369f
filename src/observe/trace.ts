/**
 * Request ids (sent as `x-amz-request-id`), per-request phase timings, and the request a piece
 * of asynchronous work belongs to.
 *
 * An id is 16 upper-case hex digits like S3's: 44 bits of milliseconds since the epoch from a
 * monotonic clock, then a 20-bit counter that starts at a random value. Ids of one process are
 * unique unless it issues more than 2^20 ids within one millisecond; the random start keeps
 * ids of different nodes apart in practice, and ids sort roughly by time.
 */

import { AsyncLocalStorage } from "node:async_hooks";

const COUNTER_BITS = 20;
const COUNTER_MASK = (1 << COUNTER_BITS) - 1;

let counter = crypto.getRandomValues(new Uint32Array(1))[0] & COUNTER_MASK;

export const REQUEST_ID_HEADER = "x-amz-request-id";

export function newRequestId(): string {
  const ms = Math.floor(performance.timeOrigin + performance.now());
  counter = (counter + 1) & COUNTER_MASK;
  // ms < 2^44 until the year 2527; the sum stays below 2^64 and exact in a bigint.
  const id = (BigInt(ms) << BigInt(COUNTER_BITS)) | BigInt(counter);
  return id.toString(16).toUpperCase().padStart(16, "0");
}

export type Phase = "auth" | "storage";

/** Milliseconds spent per phase (summed over repeated entries) and in the whole request. */
export interface PhaseTimings {
  authMs?: number;
  storageMs?: number;
  totalMs: number;
}

/**
 * Timings of one request. Phases may be entered several times (e.g. storage for a copy's
 * read and write); their durations add up. `finish()` freezes the total.
 */
export class RequestTrace {
  readonly id: string;
  readonly startedAt = new Date();
  readonly #start = performance.now();
  readonly #phases = new Map<Phase, number>();
  #total: number | undefined;

  constructor(id: string = newRequestId()) {
    this.id = id;
  }

  /** Starts timing `phase`; call the returned function when it ends. */
  begin(phase: Phase): () => void {
    const start = performance.now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#phases.set(phase, (this.#phases.get(phase) ?? 0) + performance.now() - start);
    };
  }

  /** Runs `action` as `phase`, counting its time whether it resolves or throws. */
  async time<T>(phase: Phase, action: () => Promise<T>): Promise<T> {
    const end = this.begin(phase);
    try {
      return await action();
    } finally {
      end();
    }
  }

  /** Ends the request (idempotent) and returns its timings. */
  finish(): PhaseTimings {
    this.#total ??= performance.now() - this.#start;
    return this.timings();
  }

  /** Timings so far; the total runs until finish(). */
  timings(): PhaseTimings {
    const timings: PhaseTimings = { totalMs: this.#total ?? performance.now() - this.#start };
    const auth = this.#phases.get("auth");
    const storage = this.#phases.get("storage");
    if (auth !== undefined) timings.authMs = auth;
    if (storage !== undefined) timings.storageMs = storage;
    return timings;
  }
}

const currentTrace = new AsyncLocalStorage<RequestTrace>();

/**
 * Runs `work` on behalf of `trace`'s request: whatever it starts, however asynchronously,
 * finds the trace with traceOfCurrentWork (Deno carries it into unhandledrejection events).
 */
export function runInTrace<T>(trace: RequestTrace, work: () => T): T {
  return currentTrace.run(trace, work);
}

/** The trace of the request the running code belongs to, if any. */
export function traceOfCurrentWork(): RequestTrace | undefined {
  return currentTrace.getStore();
}
