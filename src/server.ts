/**
 * The listener: serves the S3 app over HTTP(S) and shuts it down gracefully. Each HTTP engine
 * is one small function from (config, app, tls) to a RunningServer; startServer picks one
 * (config.httpEngine) and announces the address in the line the test harness and operators
 * look for. TLS is on when the certs dir holds public.crt and private.key.
 */

import type { Config } from "./config.ts";
import { serveFrontDoor, type TlsFiles } from "./http/front-door.ts";
import type { ObjectLayer } from "./object/layer.ts";
import { type App, createApp } from "./s3/app.ts";

export interface RunningServer {
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout). */
  shutdown(): Promise<void>;
  /** Resolves once the listener has closed. */
  finished: Promise<void>;
}

/** What an engine gives startServer: a running server, and a certificate swap if it can. */
interface Engine extends RunningServer {
  reloadTls?(tls: TlsFiles): Promise<void>;
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

/** Deno's own HTTP/1.1 server (Deno.serve): no timeouts, 100 Continue before the handler. */
function serveDeno(config: Config, app: App, tls: TlsFiles | undefined): Engine {
  const server = Deno.serve({
    hostname: config.hostname,
    port: config.port,
    ...tls,
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

/**
 * The hardened front door (src/http): header deadline, idle timeout, minimum body rate,
 * 100 Continue only once the handler reads the body, strict parsing, certificate reload.
 */
function serveFlashstor(config: Config, app: App, tls: TlsFiles | undefined): Engine {
  const door = serveFrontDoor(async (request, info) => {
    try {
      return await app.fetch(request, info);
    } catch (err) {
      console.error("flashstor: unhandled error in a request:", err);
      return new Response(null, { status: 500 });
    }
  }, {
    hostname: config.hostname,
    port: config.port,
    tls,
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    minBodyRate: config.minBodyRate,
  });
  return {
    port: door.port,
    shutdown: () => door.shutdown(config.shutdownTimeoutMs),
    finished: door.finished,
    reloadTls: tls ? (files) => door.setTls(files) : undefined,
  };
}

/** `<certsDir>/public.crt` and `private.key`, or undefined when they are not there. */
async function loadCerts(certsDir: string): Promise<TlsFiles | undefined> {
  try {
    const [cert, key] = await Promise.all([
      Deno.readTextFile(`${certsDir}/public.crt`),
      Deno.readTextFile(`${certsDir}/private.key`),
    ]);
    return { cert, key };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

function displayHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** SIGHUP: new certificate from the certs dir; never the default action (exit). */
function onHangup(config: Config, server: Engine): () => void {
  const reload = async (): Promise<string> => {
    if (!server.reloadTls) return `SIGHUP: no certificate to reload (${config.httpEngine} engine)`;
    const files = await loadCerts(config.certsDir);
    if (!files) throw new Error(`no public.crt and private.key in ${config.certsDir}`);
    await server.reloadTls(files);
    return `reloaded the TLS certificate from ${config.certsDir}`;
  };
  return () => {
    reload().then(
      (message) => console.log(`flashstor: ${message}`),
      (err) => console.error(`flashstor: certificate reload failed, keeping the old one: ${err}`),
    );
  };
}

export async function startServer(config: Config, layer: ObjectLayer): Promise<RunningServer> {
  const app = createApp({ config, layer });
  const tls = await loadCerts(config.certsDir).catch((err) => {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    console.log(`flashstor: no read permission for ${config.certsDir}: serving plain HTTP`);
    return undefined;
  });
  const serve = config.httpEngine === "deno" ? serveDeno : serveFlashstor;
  const server = serve(config, app, tls);
  const hangup = onHangup(config, server);
  Deno.addSignalListener("SIGHUP", hangup);
  const scheme = tls ? "https" : "http";
  console.log(
    `flashstor: listening on ${scheme}://${displayHost(config.hostname)}:${server.port}` +
      ` (${config.httpEngine} engine)`,
  );
  return {
    port: server.port,
    shutdown: () => {
      Deno.removeSignalListener("SIGHUP", hangup);
      return server.shutdown();
    },
    finished: server.finished,
  };
}
