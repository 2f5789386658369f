/**
 * The listener: serves the S3 app over HTTP and shuts it down gracefully. Each HTTP engine is
 * one small function from (config, app) to a RunningServer; startServer picks one and announces
 * the address in the line the test harness and operators look for.
 */

import type { Config } from "./config.ts";
import type { ObjectLayer } from "./object/layer.ts";
import { type App, createApp } from "./s3/app.ts";

export interface RunningServer {
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout). */
  shutdown(): Promise<void>;
  /** Resolves once the listener has closed. */
  finished: Promise<void>;
}

/** Waits for `work` at most `ms`; returns either way. */
async function within(work: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deno's own HTTP/1.1 server (Deno.serve). */
function serveDeno(config: Config, app: App): RunningServer {
  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    onListen: () => {},
    onError: (err) => {
      console.error("flashstor: unhandled error in a request:", err);
      return new Response(null, { status: 500 });
    },
  }, (request, info) => {
    const addr = info.remoteAddr;
    return app.fetch(request, { remoteAddr: "hostname" in addr ? addr.hostname : "" });
  });
  return {
    port: server.addr.port,
    shutdown: () => within(server.shutdown(), config.shutdownTimeoutMs),
    finished: server.finished,
  };
}

function displayHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

export function startServer(config: Config, layer: ObjectLayer): Promise<RunningServer> {
  const app = createApp({ config, layer });
  const server = serveDeno(config, app);
  console.log(`flashstor: listening on http://${displayHost(config.hostname)}:${server.port}`);
  return Promise.resolve(server);
}
