/**
 * The process-level backstop: an error nobody handled (a rejected promise without a handler,
 * an exception thrown from a timer or a microtask) must never end the server, whoever sent the
 * request that caused it. Each one is logged once, with the id of the request it belongs to
 * when the async context tells (see trace.ts), and counted for the metrics. Handlers still
 * answer their own errors: this only catches what slipped past them.
 */

import { traceOfCurrentWork } from "./trace.ts";

export type UnhandledKind = "rejection" | "exception";

const counts: Record<UnhandledKind, number> = { rejection: 0, exception: 0 };
/** Errors already reported: one failure often rejects several derived promises. */
const reported = new WeakSet<object>();
let installed = false;

/** How many unhandled errors the guard has caught so far, by kind. */
export function unhandledErrorCounts(): Readonly<Record<UnhandledKind, number>> {
  return counts;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

function report(kind: UnhandledKind, error: unknown, log: (line: string) => void): void {
  if (typeof error === "object" && error !== null) {
    if (reported.has(error)) return;
    reported.add(error);
  }
  counts[kind]++;
  const id = traceOfCurrentWork()?.id;
  log(`flashstor: unhandled ${kind}${id ? ` in request ${id}` : ""}: ${describe(error)}`);
}

/** Installs the guard (once per process; later calls do nothing). */
export function installCrashGuard(log: (line: string) => void = console.error): void {
  if (installed) return;
  installed = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    report("rejection", event.reason, log);
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    report("exception", event.error, log);
  });
}
