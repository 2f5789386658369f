/**
 * A peer's drive as a StorageAPI: every method over the internode API (service "storage") to
 * the node that holds it, with streamed shard reads and writes. Wrapped in a DriveHandle like a
 * local drive, so deadlines, offline marking and probing back work the same: a peer that
 * cannot be reached or refuses us is DiskNotFound, its errors come back as the classes its
 * drive threw (storage-wire.ts).
 *
 * Small calls take the handle's deadline as their signal. The streamed calls (createFile,
 * readFileStream, walkDir) are given only the caller's signal by the handle, which then times
 * each chunk: until the peer's answer starts they carry a deadline of their own (a backstop
 * that ends the request once the handle has given up on it), and after that the handle's
 * cancel or abort ends it.
 */
import { DriveHandle, type OpenedDrive } from "./drive-handle.ts";
import type {
  CallOptions,
  DiskInfo,
  FileWriter,
  ReadStreamOptions,
  VolumeInfo,
  WalkEntry,
  WalkOptions,
} from "./api.ts";
import { DiskNotFound, DiskTimeout, FileCorrupt, StorageError } from "./errors.ts";
import {
  PeerCallError,
  type PeerCallOptions,
  PeerClient,
  PeerUnreachable,
  type PeerUpload,
} from "../cluster/internode-client.ts";
import type { DriveEndpoint } from "../cluster/topology.ts";
import { RemoteFileWriter, RemoteWalk } from "./rest-streams.ts";
import {
  Frame,
  FrameReader,
  parseErrorFrame,
  storageErrorOf,
  WireFormatError,
} from "../cluster/storage-wire.ts";

export interface RemoteDriveOptions {
  /** Deadline of each call and of each chunk of a stream (DriveHandle's default otherwise). */
  timeoutMs?: number;
  /** Where the handle logs its state changes (console.error by default). */
  log?: (line: string) => void;
}

/** Failed opens wait this long before the next, doubling up to OPEN_BACKOFF_MAX_MS. */
const OPEN_BACKOFF_MS = 250;
const OPEN_BACKOFF_MAX_MS = 4_000;
const DEFAULT_TIMEOUT_MS = 5_000;
/** A stream's own deadline until its answer starts: a backstop behind the handle's. */
const STREAM_START_FACTOR = 2;

type Query = PeerCallOptions["query"];

/** The StorageAPI of one drive of one peer. */
export class RemoteDrive implements OpenedDrive {
  readonly endpoint: string;

  constructor(
    readonly drive: DriveEndpoint,
    readonly peer: PeerClient,
    readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    this.endpoint = drive.endpoint;
  }

  /** Calls `method` on the peer's drive; errors come back typed. */
  async #call(method: string, query: Query, options?: PeerCallOptions): Promise<Response> {
    try {
      return await this.peer.call("storage", method, {
        ...options,
        query: { drive: this.drive.path, ...query },
      });
    } catch (err) {
      throw this.#typed(err, options?.signal);
    }
  }

  /** A failure as the drive's caller expects it: typed, DiskNotFound for the network. */
  #typed(err: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted) return signal.reason;
    if (err instanceof PeerCallError) {
      if (err.code === "InternodeAccessDenied") {
        return new DiskNotFound(`${this.endpoint}: the peer refuses us: ${err.message}`);
      }
      return storageErrorOf(err.wire);
    }
    if (err instanceof PeerUnreachable) return new DiskNotFound(`${this.endpoint}: ${err.message}`);
    if (err instanceof StorageError || err instanceof RangeError) return err;
    // A body cut midway (the peer died while answering), a malformed answer.
    const message = err instanceof Error ? err.message : String(err);
    return new DiskNotFound(`${this.endpoint}: ${message}`);
  }

  async #json<T>(method: string, query: Query, options?: CallOptions): Promise<T> {
    const response = await this.#call(method, query, options);
    try {
      return await response.json() as T;
    } catch (err) {
      throw this.#typed(err, options?.signal);
    }
  }

  async #bytes(response: Response, signal?: AbortSignal): Promise<Uint8Array> {
    try {
      return new Uint8Array(await response.arrayBuffer());
    } catch (err) {
      throw this.#typed(err, signal);
    }
  }

  /** A call answered without a body. */
  async #do(method: string, query: Query, options?: PeerCallOptions): Promise<void> {
    const response = await this.#call(method, query, { method: "POST", ...options });
    await response.body?.cancel();
  }

  async diskInfo(options?: CallOptions): Promise<DiskInfo> {
    const info = await this.#json<DiskInfo>("diskInfo", {}, options);
    return { ...info, endpoint: this.endpoint };
  }

  makeVolume(volume: string, options?: CallOptions): Promise<void> {
    return this.#do("makeVolume", { volume }, options);
  }

  listVolumes(options?: CallOptions): Promise<VolumeInfo[]> {
    return this.#json("listVolumes", {}, options);
  }

  statVolume(volume: string, options?: CallOptions): Promise<VolumeInfo> {
    return this.#json("statVolume", { volume }, options);
  }

  deleteVolume(volume: string, force?: boolean, options?: CallOptions): Promise<void> {
    return this.#do("deleteVolume", { volume, force: force ? 1 : undefined }, options);
  }

  listDir(volume: string, path: string, options?: CallOptions): Promise<string[]> {
    return this.#json("listDir", { volume, path }, options);
  }

  walkDir(volume: string, options: WalkOptions): AsyncIterable<WalkEntry> {
    const query = {
      volume,
      prefix: options.prefix,
      startAfter: options.startAfter,
      namesOnly: options.withMetadata === false ? 1 : undefined,
    };
    return { [Symbol.asyncIterator]: () => new RemoteWalk(this, query, options.signal) };
  }

  /** Starts a streamed answer: a deadline until it starts, the caller's signal always. */
  async stream(
    method: string,
    query: Query,
    signal: AbortSignal | undefined,
  ): Promise<{ body: ReadableStream<Uint8Array>; abort: AbortController }> {
    const start = this.#start(method, signal);
    try {
      const response = await this.#call(method, query, { stream: true, signal: start.signal });
      if (!response.body) throw new WireFormatError(`${this.endpoint}: ${method} without a body`);
      return { body: response.body, abort: start.abort };
    } finally {
      start.started();
    }
  }

  /**
   * The signal of a streamed call: the caller's, and a backstop deadline (DiskTimeout) that
   * holds until `started()` says the answer began.
   */
  #start(method: string, signal?: AbortSignal) {
    signal?.throwIfAborted();
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new DiskTimeout(`${this.endpoint}: no answer to ${method}`)),
      this.timeoutMs * STREAM_START_FACTOR,
    );
    return {
      abort,
      signal: signal ? AbortSignal.any([signal, abort.signal]) : abort.signal,
      started: () => clearTimeout(timer),
    };
  }

  readAll(volume: string, path: string, options?: CallOptions): Promise<Uint8Array> {
    return this.#call("readAll", { volume, path }, options).then((r) =>
      this.#bytes(r, options?.signal)
    );
  }

  writeAll(volume: string, path: string, data: Uint8Array, options?: CallOptions): Promise<void> {
    return this.#do("writeAll", { volume, path }, { ...options, method: "PUT", body: data });
  }

  /** Resolves once the peer created the file (its OPEN frame), rejects with its error. */
  async createFile(volume: string, path: string, options?: CallOptions): Promise<FileWriter> {
    const start = this.#start("createFile", options?.signal);
    let upload: PeerUpload | undefined;
    try {
      upload = await this.peer.upload("storage", "createFile", {
        query: { drive: this.drive.path, volume, path },
        signal: start.signal,
      });
      const answer = await upload.answer;
      if (!answer.body) throw new WireFormatError(`${this.endpoint}: createFile without a body`);
      const frames = new FrameReader(answer.body.getReader());
      const first = await frames.next();
      if (first?.kind === Frame.ERROR) throw parseErrorFrame(first.payload);
      if (first?.kind !== Frame.OPEN) {
        throw new WireFormatError(`${this.endpoint}: createFile answered without OPEN`);
      }
      return new RemoteFileWriter(this, upload, frames);
    } catch (err) {
      upload?.abort();
      throw this.#typed(err, start.signal);
    } finally {
      start.started();
    }
  }

  /** Chunks are as the network brings them: `chunkSize` does not apply. */
  async readFileStream(
    volume: string,
    path: string,
    offset: number,
    length: number,
    options?: ReadStreamOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    if (
      !(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0)
    ) {
      throw new RangeError(`invalid range ${offset}+${length} of ${path}`);
    }
    const query = { volume, path, offset, length };
    const call = await this.stream("readFileStream", query, options?.signal);
    const reader = call.body.getReader();
    let received = 0;
    // A stream that ends short or breaks (the peer died, its drive failed) is the drive's error.
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          call.abort.abort();
          throw this.#typed(err, options?.signal);
        }
        if (chunk.done) {
          if (received === length) return controller.close();
          throw new FileCorrupt(
            `${this.endpoint}: ${path} ended at ${received} of ${length} bytes`,
          );
        }
        received += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      },
      cancel: async (reason) => {
        await reader.cancel(reason).catch(() => {});
        call.abort.abort();
      },
    }, { highWaterMark: 0 });
  }

  statFile(volume: string, path: string, options?: CallOptions): Promise<{ size: number }> {
    return this.#json("statFile", { volume, path }, options);
  }

  async renameData(
    srcVolume: string,
    srcPath: string,
    dstVolume: string,
    object: string,
    dataDir: string,
    metadata: Uint8Array,
    replacedDataDir?: string,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const query = { srcVolume, srcPath, dstVolume, object, dataDir, replacedDataDir };
    const response = await this.#call("renameData", query, {
      method: "POST",
      body: metadata,
      signal: options?.signal,
    });
    if (response.status === 204) return undefined;
    return await this.#bytes(response, options?.signal);
  }

  deleteObject(
    volume: string,
    object: string,
    dataDir?: string,
    options?: CallOptions,
  ): Promise<void> {
    return this.#do("deleteObject", { volume, object, dataDir }, options);
  }

  deleteVersion(
    volume: string,
    object: string,
    versionId: string,
    options?: CallOptions,
  ): Promise<void> {
    return this.#do("deleteVersion", { volume, object, versionId }, options);
  }

  delete(volume: string, path: string, recursive?: boolean, options?: CallOptions): Promise<void> {
    return this.#do("delete", { volume, path, recursive: recursive ? 1 : undefined }, options);
  }

  /** A peer's drive is quarantined by its own node, never from here. */
  quarantine(): Promise<string | undefined> {
    return Promise.reject(
      new StorageError(`${this.endpoint} is a peer's drive: only its node quarantines it`),
    );
  }

  /** Turns a stream's failure into the drive's error (used by the streamed calls). */
  typed(err: unknown, signal?: AbortSignal): unknown {
    return this.#typed(err, signal);
  }
}

/**
 * The handle of a peer's drive: offline until the peer's drive answers (the drive monitor and
 * the format loader open it). Failed opens back off, so that a dead node is not asked again at
 * every probe, and a returning one is found within a few seconds.
 */
export function openRemoteDrive(
  drive: DriveEndpoint,
  peer: PeerClient,
  options: RemoteDriveOptions = {},
): DriveHandle {
  const remote = new RemoteDrive(drive, peer, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let failures = 0;
  let retryAt = 0;
  let lastError = "";
  return new DriveHandle(drive.endpoint, {
    open: async () => {
      if (Date.now() < retryAt) throw new DiskNotFound(lastError);
      try {
        await remote.diskInfo({ signal: AbortSignal.timeout(remote.timeoutMs) });
        failures = 0;
        return remote;
      } catch (err) {
        failures++;
        const backoff = Math.min(OPEN_BACKOFF_MAX_MS, OPEN_BACKOFF_MS * 2 ** (failures - 1));
        retryAt = Date.now() + backoff * (0.5 + Math.random() / 2);
        lastError = err instanceof DOMException
          ? `${drive.endpoint}: no answer in ${remote.timeoutMs / 1000} s`
          : err instanceof Error
          ? err.message
          : String(err);
        throw new DiskNotFound(lastError);
      }
    },
    timeoutMs: options.timeoutMs,
    log: options.log,
  });
}
