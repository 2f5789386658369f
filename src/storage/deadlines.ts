/**
 * Deadlines of drive calls, kept by one timer for all of them: a timer per call costs ~4 µs
 * (set + clear), four per small GET, one per drive per listed key. The watchdog checks every
 * call in flight each TICK_MS, so a deadline fires up to TICK_MS late. Its timer only keeps
 * the process alive while calls are in flight.
 *
 * A tick that comes much later than TICK_MS means this process did not run (a stalled event
 * loop, a starved CPU at start-up): answers the drives gave meanwhile may still wait in its
 * queue, so that time is not counted against them — every deadline moves on by the stall.
 */

/** How often deadlines are checked (their precision). */
export const TICK_MS = 50;
/** A gap between ticks beyond this much over TICK_MS is a stall of the process. */
const STALL_MS = 500;

export interface Deadline {
  /** Epoch ms after which `expire` runs. */
  at: number;
  expire: () => void;
}

const calls = new Set<Deadline>();
let timer: ReturnType<typeof setInterval> | undefined;
let lastTick = 0;

function tick(): void {
  const now = Date.now();
  const stall = now - lastTick - TICK_MS;
  lastTick = now;
  for (const call of calls) {
    if (stall > STALL_MS) call.at += stall;
    if (call.at > now) continue;
    calls.delete(call);
    call.expire();
  }
  if (calls.size === 0) Deno.unrefTimer(timer as unknown as number);
}

/** Runs `call.expire` once `call.at` has passed, unless cleared first. */
export function watch(call: Deadline): void {
  calls.add(call);
  if (timer === undefined) {
    lastTick = Date.now();
    timer = setInterval(tick, TICK_MS);
  } else if (calls.size === 1) Deno.refTimer(timer as unknown as number);
}

export function clear(call: Deadline): void {
  if (calls.delete(call) && calls.size === 0) Deno.unrefTimer(timer as unknown as number);
}
