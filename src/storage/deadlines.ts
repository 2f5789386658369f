/**
 * Deadlines of drive calls, kept by one timer for all of them: a timer per call costs ~4 µs
 * (set + clear), four per small GET, one per drive per listed key. The watchdog checks every
 * call in flight each TICK_MS, so a deadline fires up to TICK_MS late. Its timer only keeps
 * the process alive while calls are in flight.
 */

/** How often deadlines are checked (their precision). */
export const TICK_MS = 50;

export interface Deadline {
  /** Epoch ms after which `expire` runs. */
  at: number;
  expire: () => void;
}

const calls = new Set<Deadline>();
let timer: ReturnType<typeof setInterval> | undefined;

function tick(): void {
  const now = Date.now();
  for (const call of calls) {
    if (call.at > now) continue;
    calls.delete(call);
    call.expire();
  }
  if (calls.size === 0) Deno.unrefTimer(timer as unknown as number);
}

/** Runs `call.expire` once `call.at` has passed, unless cleared first. */
export function watch(call: Deadline): void {
  calls.add(call);
  if (timer === undefined) timer = setInterval(tick, TICK_MS);
  else if (calls.size === 1) Deno.refTimer(timer as unknown as number);
}

export function clear(call: Deadline): void {
  if (calls.delete(call) && calls.size === 0) Deno.unrefTimer(timer as unknown as number);
}
