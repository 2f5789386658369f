/**
 * `flashstor healthcheck`: the container HEALTHCHECK, run by the server binary itself because
 * the slim image has no curl or wget. main.ts dispatches it before anything else:
 *
 *   if (Deno.args[0] === "healthcheck") Deno.exit(await runHealthcheck(Deno.args.slice(1)));
 *
 * Usage: flashstor healthcheck [--url URL] [--timeout SECONDS]
 * Exit status 0 when GET URL answers 200 within the timeout, 1 otherwise (reason on stderr),
 * 2 on bad arguments.
 */

import { HEALTH_LIVE_PATH } from "./health.ts";

export const DEFAULT_HEALTHCHECK_URL = `http://127.0.0.1:9000${HEALTH_LIVE_PATH}`;

export async function runHealthcheck(args: string[]): Promise<number> {
  let url = DEFAULT_HEALTHCHECK_URL;
  let timeoutSeconds = 5;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--help" || args[i] === "-h") {
      console.log(USAGE);
      return 0;
    }
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag !== "--url" && flag !== "--timeout") return usage(`unknown argument ${flag}`);
    const value = inline ?? args[++i];
    if (value === undefined) return usage(`${flag} needs a value`);
    if (flag === "--url") url = value;
    else timeoutSeconds = Number(value);
  }
  if (!(timeoutSeconds > 0)) return usage("--timeout must be a positive number of seconds");
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000) });
    await response.body?.cancel();
    if (response.status === 200) return 0;
    console.error(`healthcheck: ${url} answered ${response.status}`);
  } catch (err) {
    const reason = err instanceof Error
      ? err.message + (err.cause instanceof Error ? ` (${err.cause.message})` : "")
      : String(err);
    console.error(`healthcheck: ${url}: ${reason}`);
  }
  return 1;
}

const USAGE = "usage: flashstor healthcheck [--url URL] [--timeout SECONDS]";

function usage(problem: string): number {
  console.error(`healthcheck: ${problem}\n${USAGE}`);
  return 2;
}
