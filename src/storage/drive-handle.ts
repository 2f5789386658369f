/**
 * A drive as the erasure layer sees it: a handle that always exists, whatever the drive does.
 * It delegates every StorageAPI call to the real drive (local or remote) and adds what a
 * failing drive needs around it:
 * - a state: online, offline (with the reason) or healing (formatted anew, being rebuilt);
 *   an offline handle answers DiskNotFound at once, so a quorum is counted without waiting;
 * - a deadline on every call (streams: on every chunk, never on the whole stream, so a large
 *   shard is not cut off) and an optional AbortSignal; a call past its deadline fails with
 *   DiskTimeout and takes the drive offline, so one stuck drive never stalls a request that
 *   has quorum elsewhere;
 * - identity: once the deployment's format is known, an error that may mean a lost drive
 *   (a missing volume, an I/O error, a refused write) re-reads format.json — at most once a
 *   second, in the background — and a missing or foreign one takes the drive offline.
 * The drive monitor (drive-monitor.ts) probes offline handles and brings them back.
 */
import {
  type CallOptions,
  type DiskInfo,
  type FileWriter,
  type ReadStreamOptions,
  type StorageAPI,
  SYSTEM_VOLUME,
  TMP_DIR,
  type VolumeInfo,
  type WalkEntry,
  type WalkOptions,
} from "./api.ts";
import {
  DiskAccessDenied,
  DiskFull,
  DiskNotFound,
  DiskTimeout,
  FileNotFound,
  NotADirectory,
  StorageError,
  VolumeNotFound,
} from "./errors.ts";
import { FORMAT_FILE, parseFormat } from "./format.ts";
import { clear, type Deadline, watch } from "./deadlines.ts";

export type DriveState = "online" | "offline" | "healing";

/** What a handle opens: a drive that can also move its contents aside (see quarantine). */
export interface OpenedDrive extends StorageAPI {
  /** Moves everything the drive holds into a quarantine directory; its path, if any moved. */
  quarantine(): Promise<string | undefined>;
}

/** Which drive of which deployment the handle must find in format.json. */
export interface DriveIdentity {
  deploymentId: string;
  driveId: string;
}

export interface StateChange {
  drive: DriveHandle;
  from: DriveState;
  to: DriveState;
  reason: string;
}

export interface DriveHandleOptions {
  /** Opens (or reopens) the drive; its errors leave the handle offline. */
  open: () => Promise<OpenedDrive>;
  /** Deadline of each call and of each chunk of a stream, ms (DEFAULT_DRIVE_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Where state changes are logged (console.error by default). */
  log?: (line: string) => void;
}

/** "A few seconds": a drive that takes longer for one call is treated as failed. */
export const DEFAULT_DRIVE_TIMEOUT_MS = 5_000;
/** Calls whose work grows with the data (deleting a tree, fsyncing a shard): 12 deadlines. */
const BULK_FACTOR = 12;
/** Errors re-read the identity at most this often (the monitor reads it every second too). */
const RECHECK_INTERVAL_MS = 1_000;

const PROBE_BYTES = new TextEncoder().encode("probe\n");

export class DriveHandle implements StorageAPI {
  #drive?: OpenedDrive;
  #state: DriveState = "offline";
  #reason = "not opened yet";
  #identity?: DriveIdentity;
  #lastErrorCheck = 0;
  #checking?: Promise<boolean>;
  readonly #listeners = new Set<(change: StateChange) => void>();
  readonly timeoutMs: number;
  readonly #log: (line: string) => void;

  constructor(readonly endpoint: string, private readonly options: DriveHandleOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_DRIVE_TIMEOUT_MS;
    this.#log = options.log ?? console.error;
  }

  /** A handle over `drive`, opened (tests and tools that hold a drive already). */
  static async of(drive: OpenedDrive, options: Partial<DriveHandleOptions> = {}) {
    const handle = new DriveHandle(drive.endpoint, {
      open: () => Promise.resolve(drive),
      ...options,
    });
    await handle.connect();
    return handle;
  }

  get state(): DriveState {
    return this.#state;
  }

  /** Why the drive is offline ("" otherwise). */
  get reason(): string {
    return this.#state === "offline" ? this.#reason : "";
  }

  /** Online or healing: the drive takes reads and writes. */
  get available(): boolean {
    return this.#state !== "offline";
  }

  /** The drive was opened once at least (probe() can reach it). */
  get opened(): boolean {
    return this.#drive !== undefined;
  }

  /**
   * Opens the drive through the opener. The first successful open makes the handle online
   * (the start, before any format is known); later ones only attach the drive, for the monitor
   * to check it before bringing it back. Failures leave it offline and are rethrown.
   */
  async connect(): Promise<void> {
    const first = this.#drive === undefined && this.#reason === "not opened yet";
    try {
      this.#drive = await this.options.open();
    } catch (err) {
      const reason = err instanceof NotADirectory
        ? "it is not a directory"
        : err instanceof Error
        ? err.message
        : String(err);
      // At the start the state is offline already: say why once.
      if (first) this.log(`is offline: ${reason}`);
      this.setState("offline", reason);
      throw err;
    }
    if (first) this.#state = "online";
  }

  /** From now on, format.json must name this drive of this deployment. */
  expect(identity: DriveIdentity): void {
    this.#identity = identity;
  }

  /** Changes the state (logged once per change); the heal of a healing drive ends it. */
  setState(to: DriveState, reason = ""): void {
    const from = this.#state;
    if (to === "offline") this.#reason = reason || "unknown";
    if (from === to) return;
    this.#state = to;
    const why = reason ? `: ${reason}` : "";
    this.log(
      to === "offline"
        ? `offline: ${this.#reason}`
        : from === "offline"
        ? (to === "online" ? `back online${why}` : `back, ${to}${why}`)
        : `${to}${why}`,
    );
    for (const listener of this.#listeners) listener({ drive: this, from, to, reason });
  }

  /** Logs one line about this drive ("flashstor: drive <endpoint> <message>"). */
  log(message: string): void {
    this.#log(`flashstor: drive ${this.endpoint} ${message}`);
  }

  /** Calls `listener` on every state change; returns the function that stops it. */
  onStateChange(listener: (change: StateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Runs `fn` on the drive whatever the state, under the deadline (the monitor's probes).
   * DiskNotFound when the drive was never opened.
   */
  probe<T>(fn: (drive: OpenedDrive) => Promise<T>): Promise<T> {
    const drive = this.#drive;
    if (!drive) return Promise.reject(new DiskNotFound(`${this.endpoint}: ${this.#reason}`));
    return this.#deadline(() => fn(drive), "probe", this.timeoutMs);
  }

  /**
   * Re-reads format.json (and, with `writable`, writes a file in the temp area); a drive
   * that fails either is taken offline. True when it passed.
   */
  async verify(writable: boolean): Promise<boolean> {
    const identity = this.#identity;
    try {
      if (identity) {
        const format = parseFormat(await this.probe((d) => d.readAll(SYSTEM_VOLUME, FORMAT_FILE)));
        if (format.id !== identity.deploymentId) {
          throw new StorageError(`${FORMAT_FILE} belongs to another deployment (${format.id})`);
        }
        if (format.xl.this !== identity.driveId) {
          throw new StorageError(`${FORMAT_FILE} names another drive (${format.xl.this})`);
        }
      }
      if (writable) {
        const path = `${TMP_DIR}/probe-${crypto.randomUUID()}`;
        // A full drive works: it must stay online to take the deletes that free it.
        const wrote = await this.probe((d) => d.writeAll(SYSTEM_VOLUME, path, PROBE_BYTES))
          .then(() => true, (err) => {
            if (err instanceof DiskFull) return false;
            throw err;
          });
        if (wrote) await this.probe((d) => d.delete(SYSTEM_VOLUME, path));
      }
      return true;
    } catch (err) {
      const reason = err instanceof FileNotFound || err instanceof VolumeNotFound
        ? `${FORMAT_FILE} is missing (drive wiped or not mounted)`
        : err instanceof Error
        ? err.message
        : String(err);
      this.setState("offline", reason);
      return false;
    }
  }

  /** Background identity check after an error that may mean the drive is lost. */
  #recheck(err: unknown): void {
    if (this.#state === "offline" || this.#checking) return;
    if (Date.now() - this.#lastErrorCheck < RECHECK_INTERVAL_MS) return;
    this.#lastErrorCheck = Date.now();
    const writable = !(err instanceof VolumeNotFound);
    this.#checking = this.verify(writable).finally(() => this.#checking = undefined);
  }

  /** Runs one call of the StorageAPI: offline → DiskNotFound at once; deadline; error checks. */
  #call<T>(
    method: string,
    options: CallOptions | undefined,
    fn: (drive: OpenedDrive, signal: AbortSignal) => Promise<T>,
    bulk = false,
  ): Promise<T> {
    const drive = this.#drive;
    if (this.#state === "offline" || !drive) {
      return Promise.reject(new DiskNotFound(`drive ${this.endpoint} offline: ${this.#reason}`));
    }
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    const ms = bulk ? this.timeoutMs * BULK_FACTOR : this.timeoutMs;
    return this.#deadline((signal) => fn(drive, signal), method, ms, options?.signal);
  }

  /**
   * Settles with `work`, or rejects when `ms` pass first (DiskTimeout, the drive goes offline)
   * or `signal` aborts (its reason); either aborts the signal `work` was given, so that a
   * drive that can stop (a peer's request) does. Errors that may mean a lost drive start an
   * identity check.
   */
  #deadline<T>(
    work: (signal: AbortSignal) => Promise<T>,
    what: string,
    ms: number,
    signal?: AbortSignal,
  ): Promise<T> {
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const stop = (reason: unknown) => {
        done();
        settled = true;
        controller.abort(reason);
        reject(reason);
      };
      const aborted = () => stop(signal!.reason);
      const deadline: Deadline = {
        at: Date.now() + ms,
        expire: () => {
          const reason = `no answer to ${what} in ${ms / 1000} s`;
          this.setState("offline", reason);
          stop(new DiskTimeout(`drive ${this.endpoint}: ${reason}`));
        },
      };
      const done = () => {
        clear(deadline);
        signal?.removeEventListener("abort", aborted);
      };
      watch(deadline);
      signal?.addEventListener("abort", aborted, { once: true });
      let running: Promise<T>;
      try {
        running = work(controller.signal);
      } catch (err) {
        running = Promise.reject(err);
      }
      running.then((value) => {
        done();
        resolve(value);
      }, (err) => {
        done();
        // After a timeout or an abort, the late answer says nothing about the drive.
        if (!settled && mayMeanLostDrive(err)) this.#recheck(err);
        reject(err);
      });
    });
  }

  diskInfo(options?: CallOptions): Promise<DiskInfo> {
    return this.#call("diskInfo", options, (d, signal) => d.diskInfo({ signal }));
  }

  /** A bucket directory is only made on a drive whose format.json is this deployment's. */
  makeVolume(volume: string, options?: CallOptions): Promise<void> {
    return this.#call("makeVolume", options, async (d, signal) => {
      if (this.#identity && !await this.verify(false)) {
        throw new DiskNotFound(`drive ${this.endpoint} offline: ${this.#reason}`);
      }
      await d.makeVolume(volume, { signal });
    });
  }

  listVolumes(options?: CallOptions): Promise<VolumeInfo[]> {
    return this.#call("listVolumes", options, (d, signal) => d.listVolumes({ signal }));
  }

  statVolume(volume: string, options?: CallOptions): Promise<VolumeInfo> {
    return this.#call("statVolume", options, (d, signal) => d.statVolume(volume, { signal }));
  }

  deleteVolume(volume: string, force?: boolean, options?: CallOptions): Promise<void> {
    return this.#call(
      "deleteVolume",
      options,
      (d, signal) => d.deleteVolume(volume, force, { signal }),
      force,
    );
  }

  listDir(volume: string, path: string, options?: CallOptions): Promise<string[]> {
    return this.#call("listDir", options, (d, signal) => d.listDir(volume, path, { signal }));
  }

  /** Each entry of the walk gets its own deadline; the walk as a whole has none. */
  async *walkDir(volume: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
    const iterator = await this.#call(
      "walkDir",
      options,
      (d) => Promise.resolve(d.walkDir(volume, options)[Symbol.asyncIterator]()),
    );
    try {
      for (;;) {
        const next = await this.#call("walkDir", options, () => iterator.next());
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Bounded by the deadline: a stuck drive must not hold the listing.
      await this.#deadline(
        () => Promise.resolve(iterator.return?.()),
        "walkDir",
        this.timeoutMs,
      ).catch(() => {});
    }
  }

  readAll(volume: string, path: string, options?: CallOptions): Promise<Uint8Array> {
    return this.#call("readAll", options, (d, signal) => d.readAll(volume, path, { signal }));
  }

  writeAll(volume: string, path: string, data: Uint8Array, options?: CallOptions): Promise<void> {
    return this.#call(
      "writeAll",
      options,
      (d, signal) => d.writeAll(volume, path, data, { signal }),
    );
  }

  /** Each write gets a deadline, the close (fsync) a bulk one; abort never throws. */
  async createFile(volume: string, path: string, options?: CallOptions): Promise<FileWriter> {
    const writer = await this.#call(
      "createFile",
      options,
      (d) => d.createFile(volume, path, options),
    );
    return {
      write: (data) => this.#call("write", options, () => writer.write(data)),
      // The fsync of a large shard flushes all of it: a bulk deadline, not a chunk's.
      close: () => this.#call("close", options, () => writer.close(), true),
      abort: () => this.#deadline(() => writer.abort(), "abort", this.timeoutMs).catch(() => {}),
    };
  }

  /** The stream gets an idle deadline: each chunk must come within the timeout. */
  async readFileStream(
    volume: string,
    path: string,
    offset: number,
    length: number,
    options?: ReadStreamOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    const stream = await this.#call(
      "readFileStream",
      options,
      (d) => d.readFileStream(volume, path, offset, length, options),
    );
    const reader = stream.getReader();
    const release = () => reader.cancel().catch(() => {});
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const chunk = await this.#call("read", options, () => reader.read());
          if (chunk.done) controller.close();
          else controller.enqueue(chunk.value);
        } catch (err) {
          release();
          throw err;
        }
      },
      cancel: release,
    }, { highWaterMark: 0 });
  }

  statFile(volume: string, path: string, options?: CallOptions): Promise<{ size: number }> {
    return this.#call("statFile", options, (d, signal) => d.statFile(volume, path, { signal }));
  }

  renameData(
    srcVolume: string,
    srcPath: string,
    dstVolume: string,
    object: string,
    dataDir: string,
    metadata: Uint8Array,
    replacedDataDir?: string,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    return this.#call(
      "renameData",
      options,
      (d, signal) =>
        d.renameData(srcVolume, srcPath, dstVolume, object, dataDir, metadata, replacedDataDir, {
          signal,
        }),
    );
  }

  deleteObject(
    volume: string,
    object: string,
    dataDir?: string,
    options?: CallOptions,
  ): Promise<void> {
    return this.#call(
      "deleteObject",
      options,
      (d, signal) => d.deleteObject(volume, object, dataDir, { signal }),
    );
  }

  deleteVersion(
    volume: string,
    object: string,
    versionId: string,
    options?: CallOptions,
  ): Promise<void> {
    return this.#call(
      "deleteVersion",
      options,
      (d, signal) => d.deleteVersion(volume, object, versionId, { signal }),
    );
  }

  delete(volume: string, path: string, recursive?: boolean, options?: CallOptions): Promise<void> {
    return this.#call(
      "delete",
      options,
      (d, signal) => d.delete(volume, path, recursive, { signal }),
      recursive,
    );
  }
}

/**
 * Errors that an intact drive does not give for ordinary requests: a missing volume (a wiped
 * drive has none), a refused write (read-only mount), an I/O error, anything untyped.
 */
function mayMeanLostDrive(err: unknown): boolean {
  if (err instanceof RangeError || err instanceof DOMException) return false;
  return err instanceof VolumeNotFound || err instanceof DiskNotFound ||
    err instanceof DiskAccessDenied || !(err instanceof StorageError);
}
