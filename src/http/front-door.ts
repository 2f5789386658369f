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
  /** How long a keep-alive connection may wait for the first byte of its next request. */
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
  /** New certificate and key: connections accepted from now on use them. */
  setTls(tls: TlsFiles): void;
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

  // TLS listeners share the port (SO_REUSEPORT) so a certificate reload can open a new
  // listener before closing the old one without refusing anyone in between.
  const listen = (tls: TlsFiles | undefined, port: number): Deno.Listener =>
    tls
      ? Deno.listenTls({
        hostname: options.hostname,
        port,
        cert: tls.cert,
        key: tls.key,
        reusePort: true,
      })
      : Deno.listen({ hostname: options.hostname, port });

  let listener = listen(options.tls, options.port);
  const port = (listener.addr as Deno.NetAddr).port;

  const track = (task: Promise<void>) => {
    tasks.add(task);
    task.finally(() => tasks.delete(task));
  };
  const acceptLoop = async (from: Deno.Listener): Promise<void> => {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await from.accept();
      } catch (err) {
        if (stopping || from !== listener || err instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: back off instead of spinning.
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
      const connection = new Connection(conn, connectionOptions);
      connections.add(connection);
      track(connection.run().finally(() => connections.delete(connection)));
    }
  };
  track(acceptLoop(listener));

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

  const closeListener = (old: Deno.Listener) => {
    try {
      old.close();
    } catch {
      // already closed
    }
  };

  return {
    port,
    finished,
    async shutdown(deadlineMs: number): Promise<void> {
      if (!stopping) {
        stopping = true;
        closeListener(listener);
        for (const connection of connections) connection.shutdown();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise((resolve) => timer = setTimeout(resolve, deadlineMs));
      await Promise.race([finished, deadline]);
      clearTimeout(timer);
      for (const connection of connections) connection.close();
      await finished;
    },
    setTls(tls: TlsFiles): void {
      if (!options.tls) throw new Error("the front door was started without TLS");
      if (stopping) return;
      const old = listener;
      listener = listen(tls, port);
      track(acceptLoop(listener));
      closeListener(old);
    },
  };
}
