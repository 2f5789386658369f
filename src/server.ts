/**
 * The listener: serves the S3 app over HTTP(S) and shuts it down gracefully. Each HTTP engine
 * is one small function from (config, app, tls) to a RunningServer; startServer picks one
 * (config.httpEngine) and announces the address in the line the test harness and operators
 * look for. TLS is on when the certs dir holds public.crt and private.key (loadTls, which
 * main runs before touching the drives, as it does checkListenAddress).
 */

import type { Config } from "./config.ts";
import { serveFrontDoor, type TlsFiles } from "./http/front-door.ts";
import type { RequestHandler } from "./service-gate.ts";
import { loadCertificates } from "./security/certs.ts";
import { installCrashGuard } from "./observe/crash-guard.ts";

export interface RunningServer {
  port: number;
  /** Where clients reach it, e.g. http://127.0.0.1:9000 (loopback when bound to all). */
  url: string;
  /** Says in the log that S3 is served (the line operators and the test harness wait for). */
  announce(): void;
  /** Stops accepting, lets in-flight requests finish (up to the shutdown timeout). */
  shutdown(): Promise<void>;
  /** Resolves once the listener has closed. */
  finished: Promise<void>;
}

/** What an engine gives startServer: a running server, and a certificate swap if it can. */
interface Engine extends Omit<RunningServer, "url" | "announce"> {
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
function serveDeno(config: Config, app: RequestHandler, tls: TlsFiles | undefined): Engine {
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
    return app(request, { remoteAddr: "hostname" in addr ? addr.hostname : "" });
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
function serveFlashstor(config: Config, app: RequestHandler, tls: TlsFiles | undefined): Engine {
  const door = serveFrontDoor(async (request, info) => {
    try {
      return await app(request, info);
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

/**
 * The certificate to serve with, or undefined for plain HTTP (no certs, or a certs dir Deno
 * may not read). Throws CertificateError for a certs dir that holds anything else.
 */
export async function loadTls(config: Config): Promise<TlsFiles | undefined> {
  return await loadCertificates(config.certsDir).catch((err) => {
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    console.log(`flashstor: no read permission for ${config.certsDir}: serving plain HTTP`);
    return undefined;
  });
}

function displayHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/** The host clients on this machine use: loopback when listening on every address. */
function clientHost(hostname: string): string {
  if (hostname === "0.0.0.0") return "127.0.0.1";
  if (hostname === "::") return "[::1]";
  return displayHost(hostname);
}

/** A listen failure in words a newcomer can act on, naming the address. */
function listenError(config: Config, err: unknown): unknown {
  const address = `${displayHost(config.hostname)}:${config.port}`;
  if (err instanceof Deno.errors.AddrInUse) {
    return new Error(
      `cannot listen on ${address}: the address is already in use (another flashstor or ` +
        `program listens there); stop it or choose another with --address`,
    );
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new Error(
      `cannot listen on ${address}: permission denied (ports below 1024 need root); ` +
        `choose another with --address`,
    );
  }
  if (err instanceof Deno.errors.AddrNotAvailable) {
    return new Error(`cannot listen on ${address}: no such address on this machine`);
  }
  return err;
}

/**
 * Fails, naming the address, when the listen address cannot be bound: checked before the
 * drives are opened and formatted (MinIO checks its port the same way), so that a server
 * started twice stops here rather than after touching anything.
 */
export function checkListenAddress(config: Config): void {
  if (config.port === 0) return;
  try {
    Deno.listen({ hostname: config.hostname, port: config.port }).close();
  } catch (err) {
    throw listenError(config, err);
  }
}

/** SIGHUP: new certificate from the certs dir; never the default action (exit). */
function onHangup(config: Config, server: Engine): () => void {
  const reload = async (): Promise<string> => {
    if (!server.reloadTls) return `SIGHUP: no certificate to reload (${config.httpEngine} engine)`;
    const files = await loadCertificates(config.certsDir);
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

/** Serves `handler` (a ServiceGate's) with the certificate `tls` (from loadTls; undefined:
 *  plain HTTP). */
export function startServer(
  config: Config,
  handler: RequestHandler,
  tls: TlsFiles | undefined,
): RunningServer {
  installCrashGuard();
  const serve = config.httpEngine === "deno" ? serveDeno : serveFlashstor;
  let server: Engine;
  try {
    server = serve(config, handler, tls);
  } catch (err) {
    throw listenError(config, err);
  }
  const hangup = onHangup(config, server);
  Deno.addSignalListener("SIGHUP", hangup);
  const scheme = tls ? "https" : "http";
  return {
    port: server.port,
    announce: () =>
      console.log(
        `flashstor: listening on ${scheme}://${displayHost(config.hostname)}:${server.port}` +
          ` (${config.httpEngine} engine)`,
      ),
    url: `${scheme}://${clientHost(config.hostname)}:${server.port}`,
    shutdown: () => {
      Deno.removeSignalListener("SIGHUP", hangup);
      return server.shutdown();
    },
    finished: server.finished,
  };
}
