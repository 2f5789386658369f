/**
 * The audit log: one JSON line per request, written off the request path.
 *
 * `log()` only appends to a bounded in-memory queue and wakes the background writer; it never
 * awaits, so a slow disk or a blocked stdout cannot slow requests down. When `capacity` entries
 * are pending (queued or being written), further entries are dropped and counted in `dropped`.
 */

import type { RequestTrace } from "./trace.ts";

export interface AuditEntry {
  /** ISO 8601 time the request arrived. */
  time: string;
  requestId: string;
  /** Empty for anonymous requests. */
  accessKey: string;
  /** S3 operation name, e.g. "PutObject". */
  operation: string;
  bucket?: string;
  object?: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  durationMs: number;
  remoteAddress: string;
  /** Milliseconds per phase (see RequestTrace). */
  timings: { authMs?: number; storageMs?: number };
}

/** What the request handler knows; time, id, duration and timings come from the trace. */
export type AuditFields = Omit<AuditEntry, "time" | "requestId" | "durationMs" | "timings">;

/** The entry of a finished request: finishes `trace` and takes its id, start and timings. */
export function auditEntry(trace: RequestTrace, fields: AuditFields): AuditEntry {
  const { authMs, storageMs, totalMs } = trace.finish();
  return {
    time: trace.startedAt.toISOString(),
    requestId: trace.id,
    ...fields,
    durationMs: totalMs,
    timings: { authMs, storageMs },
  };
}

/** Where lines go. Deno.FsFile and Deno.stdout satisfy it; a write may be partial. */
export interface AuditSink {
  write(data: Uint8Array): Promise<number>;
}

export interface AuditLogOptions {
  /** Maximum pending entries (queued or being written). Default 10 000. */
  capacity?: number;
  /** Lines written per batch at most. Default 512. */
  batchSize?: number;
}

export const DEFAULT_AUDIT_CAPACITY = 10_000;

/** Logs not closed yet, for closeAuditLogs() at shutdown. */
const openLogs = new Set<AuditLog>();

export class AuditLog {
  readonly #sinks: AuditSink[];
  readonly #owned: Deno.FsFile[];
  readonly #capacity: number;
  readonly #batchSize: number;
  readonly #encoder = new TextEncoder();
  #queue: AuditEntry[] = [];
  #writing = 0;
  #wake: (() => void) | undefined;
  #closed = false;
  #idle: (() => void)[] = [];
  readonly #writer: Promise<void>;
  /** Entries dropped because the queue was full or the log closed. */
  dropped = 0;
  /** Entries written to every sink. */
  written = 0;
  /** Failed sink writes; their lines are lost for that sink, the writer goes on. */
  writeErrors = 0;

  /** `owned` files are closed by close(); other sinks (stdout) are left open. */
  constructor(sinks: AuditSink[], options: AuditLogOptions = {}, owned: Deno.FsFile[] = []) {
    if (sinks.length === 0) throw new RangeError("an audit log needs at least one sink");
    this.#sinks = sinks;
    this.#owned = owned;
    this.#capacity = options.capacity ?? DEFAULT_AUDIT_CAPACITY;
    this.#batchSize = options.batchSize ?? 512;
    if (!(this.#capacity >= 1 && this.#batchSize >= 1)) {
      throw new RangeError("audit capacity and batch size must be at least 1");
    }
    this.#writer = this.#run();
    openLogs.add(this);
  }

  /**
   * Opens the configured destinations: a file (appended to, created 0640) and/or stdout.
   * Synchronous, so the S3 app can open its log while it is built (before a privilege drop,
   * which the open file descriptor survives).
   */
  static open(
    destinations: { path?: string; stdout?: boolean },
    options: AuditLogOptions = {},
  ): AuditLog {
    const sinks: AuditSink[] = [];
    const owned: Deno.FsFile[] = [];
    if (destinations.path !== undefined) {
      const file = Deno.openSync(destinations.path, {
        append: true,
        create: true,
        mode: 0o640,
      });
      sinks.push(file);
      owned.push(file);
    }
    if (destinations.stdout) sinks.push(Deno.stdout);
    return new AuditLog(sinks, options, owned);
  }

  /** Entries waiting or being written. */
  get pending(): number {
    return this.#queue.length + this.#writing;
  }

  /** Queues `entry` (owned by the log from now on) or drops it; never waits. */
  log(entry: AuditEntry): void {
    if (this.#closed || this.pending >= this.#capacity) {
      this.dropped++;
      return;
    }
    this.#queue.push(entry);
    if (this.#wake) {
      const wake = this.#wake;
      this.#wake = undefined;
      wake();
    }
  }

  /** Resolves once everything queued so far has been written. */
  flush(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Stops accepting entries, writes what is queued, closes the files it opened. */
  async close(): Promise<void> {
    if (this.#closed) return this.#writer;
    this.#closed = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    await this.#writer;
    for (const file of this.#owned) file.close();
    openLogs.delete(this);
  }

  async #run(): Promise<void> {
    while (true) {
      if (this.#queue.length === 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
        if (this.#closed) return;
        await new Promise<void>((resolve) => this.#wake = resolve);
        continue;
      }
      let batch: AuditEntry[];
      if (this.#queue.length <= this.#batchSize) {
        batch = this.#queue;
        this.#queue = [];
      } else {
        batch = this.#queue.splice(0, this.#batchSize);
      }
      this.#writing = batch.length;
      const bytes = this.#encoder.encode(batch.map((e) => JSON.stringify(e) + "\n").join(""));
      let allWritten = true;
      for (const sink of this.#sinks) {
        try {
          await writeAll(sink, bytes);
        } catch {
          this.writeErrors++;
          allWritten = false;
        }
      }
      if (allWritten) this.written += batch.length;
      this.#writing = 0;
    }
  }
}

/** The audit log of `--audit-log FLAG`: a file path, "-" for stdout, undefined for none. */
export function openAuditLog(
  flag: string | undefined,
  options: AuditLogOptions = {},
): AuditLog | undefined {
  if (flag === undefined) return undefined;
  return AuditLog.open(flag === "-" ? { stdout: true } : { path: flag }, options);
}

/**
 * Writes out and closes every audit log still open: the last step of a graceful shutdown, once
 * the server has finished its requests (whose entries are then queued).
 */
export async function closeAuditLogs(): Promise<void> {
  await Promise.all([...openLogs].map((log) => log.close()));
}

async function writeAll(sink: AuditSink, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const n = await sink.write(bytes.subarray(offset));
    if (n <= 0) throw new Error("audit sink accepted no bytes");
    offset += n;
  }
}
