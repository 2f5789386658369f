/**
 * The hardened HTTP/1.1 front door: listens (TCP or TLS), runs one Connection per client,
 * sweeps deadlines on a single timer, and shuts down gracefully. Serves any fetch-style
 * handler, so the S3 app runs unchanged behind it or behind Deno.serve.
 */

import { Connection, type Handler } from "./connection.ts";

export type { Handler } from "./connection.ts";

export interface TlsFiles {
  /** PEM certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
}

export interface FrontDoorOptions {
  hostname: string;
  port: number;
  tls?: TlsFiles;
  /** A complete request head is due this long after accept, or after an idle wait ends. */
  headerTimeoutMs: number;
  /** How long a keep-alive connection may wait for the first byte of its next request, and
   * how long one socket write may stay stuck on a client that does not read. */
  idleTimeoutMs: number;
  /** Bytes/s a request body must average over `bodyRateWindowMs`; slower uploads get 408. */
  minBodyRate: number;
  /** Default 10 s. */
  bodyRateWindowMs?: number;
  /** Default 64 KiB, as Deno.serve. */
  maxHeaderBytes?: number;
  /** Default 128, as Deno.serve. */
  maxHeaders?: number;
  /** Unread request body drained to keep a connection alive (default 256 KiB). */
  drainLimit?: number;
}

export interface FrontDoor {
  port: number;
  /** Resolves when the listener and every connection are closed. */
  finished: Promise<void>;
  /** Stops accepting, closes idle connections, lets requests in flight finish for up to
   * `deadlineMs`, then closes whatever is left. */
  shutdown(deadlineMs: number): Promise<void>;
  /** New certificate and key: connections accepted once this resolves use them. Rejects
   * (and keeps the old certificate) when Deno refuses the new one. */
  setTls(tls: TlsFiles): Promise<void>;
}

export function serveFrontDoor(handler: Handler, options: FrontDoorOptions): FrontDoor {
  const connectionOptions = {
    handler,
    scheme: options.tls ? "https" as const : "http" as const,
    defaultHost: options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname,
    headerTimeoutMs: options.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    minBodyRate: options.minBodyRate,
    bodyRateWindowMs: options.bodyRateWindowMs ?? 10_000,
    maxHeaderBytes: options.maxHeaderBytes ?? 64 * 1024,
    maxHeaders: options.maxHeaders ?? 128,
    drainLimit: options.drainLimit ?? 256 * 1024,
  };
  const connections = new Set<Connection>();
  const tasks = new Set<Promise<void>>();
  let stopping = false;

  const listen = (tls: TlsFiles | undefined, port: number): Deno.Listener =>
    tls
      ? Deno.listenTls({ hostname: options.hostname, port, cert: tls.cert, key: tls.key })
      : Deno.listen({ hostname: options.hostname, port });

  let currentTls = options.tls;
  let listener = listen(currentTls, options.port);
  const port = (listener.addr as Deno.NetAddr).port;
  /** Listeners closed on purpose, whose accept loops must end quietly. */
  const retired = new WeakSet<Deno.Listener>();

  const track = (task: Promise<void>) => {
    tasks.add(task);
    // then(f, f), not finally: a promise derived by finally would reject unobserved with a
    // failing task (its failure is `finished`'s business, which waits with allSettled).
    const untrack = () => void tasks.delete(task);
    task.then(untrack, untrack);
  };
  const acceptLoop = async (from: Deno.Listener): Promise<void> => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await from.accept();
      } catch (err) {
        if (retired.has(from)) return;
        // A client that gave up before accept costs nothing; anything else (out of file
        // descriptors…) is waited out instead of spinning.
        const peerGone = err instanceof Deno.errors.ConnectionAborted ||
          err instanceof Deno.errors.ConnectionReset;
        if (!peerGone) await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      const connection = new Connection(conn, connectionOptions);
      connections.add(connection);
      connection.run();
      track(connection.closedSignal.then(() => void connections.delete(connection)));
    }
  };
  let accepting = acceptLoop(listener);
  track(accepting);

  const retire = async (old: Deno.Listener): Promise<void> => {
    retired.add(old);
    try {
      old.close();
    } catch {
      // already closed
    }
    await accepting;
  };

  /**
   * Deno's TLS listener takes its certificate once and sharing a port between listeners
   * (SO_REUSEPORT) is unstable in Deno, so a reload replaces the listener: the port is free
   * once the old accept has been cancelled. Connections arriving in between are refused.
   */
  const replaceListener = async (tls: TlsFiles): Promise<void> => {
    await retire(listener);
    let failure: unknown;
    for (let attempt = 0;; attempt++) {
      try {
        listener = listen(tls, port);
        currentTls = tls;
        break;
      } catch (err) {
        if (err instanceof Deno.errors.AddrInUse && attempt < 50) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          continue;
        }
        // A certificate Deno refuses: keep serving with the previous one.
        failure = err;
        listener = listen(currentTls, port);
        break;
      }
    }
    accepting = acceptLoop(listener);
    track(accepting);
    if (stopping) await retire(listener);
    if (failure) throw failure;
  };
  let reloads = Promise.resolve();

  const sweepEvery = Math.min(
    1000,
    Math.max(20, Math.min(options.headerTimeoutMs, options.idleTimeoutMs) / 10),
  );
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const connection of connections) connection.tick(now);
  }, sweepEvery);

  const finished = (async () => {
    while (tasks.size > 0) await Promise.allSettled([...tasks]);
    clearInterval(sweeper);
  })();

  return {
    port,
    finished,
    async shutdown(deadlineMs: number): Promise<void> {
      if (!stopping) {
        stopping = true;
        retire(listener);
        for (const connection of connections) connection.shutdown();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise((resolve) => timer = setTimeout(resolve, deadlineMs));
      await Promise.race([finished, deadline]);
      clearTimeout(timer);
      for (const connection of connections) connection.close();
      await finished;
    },
    setTls(tls: TlsFiles): Promise<void> {
      if (!options.tls) return Promise.reject(new Error("the front door was started without TLS"));
      const reload = reloads.then(() => stopping ? undefined : replaceListener(tls));
      reloads = reload.catch(() => {});
      track(reloads); // keeps `finished` pending between the old listener and the new one
      return reload;
    },
  };
}
