/**
 * Paces background work (the scanner) behind foreground requests, as MinIO's dynamic sleeper:
 * after each unit of work it waits `factor` times what the unit took (capped at maxSleepMs),
 * so the work uses at most 1/(1+factor) of the time it runs in; and while `busy()` says
 * requests are in flight it waits on, up to busyFactor times what the unit took (at least
 * minBusyWaitMs), so that under load the work takes at most 1/(1+busyFactor) of the time, and a
 * server that is never idle still gets scanned, slowly.
 */
export interface PaceOptions {
  factor: number;
  maxSleepMs: number;
  /** True while foreground requests are being served. */
  busy: () => boolean;
  busyFactor: number;
  minBusyWaitMs: number;
}

/** How often a busy server is looked at again. */
const BUSY_POLL_MS = 25;

export class Pacer {
  constructor(readonly options: PaceOptions) {}

  /** Waits after a unit of work that started at `started` (performance.now()). */
  async after(started: number, signal?: AbortSignal): Promise<void> {
    const { factor, maxSleepMs, busy, busyFactor, minBusyWaitMs } = this.options;
    const took = performance.now() - started;
    await sleep(Math.min(maxSleepMs, took * factor), signal);
    const budget = Math.max(minBusyWaitMs, took * busyFactor);
    for (let waited = 0; busy() && waited < budget; waited += BUSY_POLL_MS) {
      await sleep(BUSY_POLL_MS, signal);
    }
  }
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    }, ms);
    const abort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", abort, { once: true });
  });
}
