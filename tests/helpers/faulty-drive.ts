/**
 * A drive that misbehaves on demand (in the spirit of MinIO's naughtyDisk): it wraps a real
 * XlStorage and, for the methods a fault names, delays, hangs, fails with the storage error the
 * real drive would throw for an errno (ENOSPC → DiskFull, EROFS → DiskAccessDenied,
 * EIO → DiskNotFound), corrupts what is read, or breaks a stream midway. With no fault it is
 * the drive it wraps, so the conformance suite runs against it too.
 */
import type {
  CallOptions,
  DiskInfo,
  FileWriter,
  VolumeInfo,
  WalkEntry,
  WalkOptions,
} from "../../src/storage/api.ts";
import type { OpenedDrive } from "../../src/storage/drive-handle.ts";
import { DiskNotFound } from "../../src/storage/errors.ts";
import { toStorageError } from "../../src/storage/os-errors.ts";
import type { XlStorage } from "../../src/storage/xl-storage.ts";

export type Fault =
  /** Answers after `ms`. */
  | { kind: "delay"; ms: number }
  /** Never answers (until the call's signal aborts); streams: after `afterBytes`. */
  | { kind: "hang"; afterBytes?: number }
  /** Fails with what the real drive makes of this errno. */
  | { kind: "error"; errno: "ENOSPC" | "EROFS" | "EIO" | "EACCES" }
  /** Reads return their bytes with every byte from `at` on flipped. */
  | { kind: "corrupt"; at?: number }
  /** Streams (reads and shard writes) fail with DiskNotFound after `afterBytes`. */
  | { kind: "disconnect"; afterBytes: number };

/** The StorageAPI methods, plus "write" (a FileWriter's write and close). */
export type FaultTarget =
  | Exclude<keyof OpenedDrive, "endpoint">
  | "write";

interface Rule {
  fault: Fault;
  on?: readonly FaultTarget[];
}

export class FaultyDrive implements OpenedDrive {
  readonly #rules: Rule[] = [];
  /** Calls per method, faulty or not (what the code under test asked of the drive). */
  readonly calls = new Map<string, number>();

  constructor(readonly inner: XlStorage) {}

  get endpoint(): string {
    return this.inner.endpoint;
  }

  /** Adds a fault for the methods named in `on` (every method when omitted). */
  inject(fault: Fault, on?: readonly FaultTarget[]): void {
    this.#rules.push({ fault, on });
  }

  /** Removes every fault: the drive behaves again. */
  heal(): void {
    this.#rules.length = 0;
  }

  #fault(method: FaultTarget, kinds: Fault["kind"][]): Fault | undefined {
    return this.#rules.find((r) =>
      (r.on === undefined || r.on.includes(method)) && kinds.includes(r.fault.kind)
    )?.fault;
  }

  /** Applies the call-level faults of `method` (delay, hang, error) before it runs. */
  async #enter(method: FaultTarget, what: string, signal?: AbortSignal): Promise<void> {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    const fault = this.#fault(method, ["delay", "hang", "error"]);
    if (!fault) return;
    if (fault.kind === "delay") await sleep(fault.ms, signal);
    if (fault.kind === "hang" && fault.afterBytes === undefined) await hang(signal);
    if (fault.kind === "error") {
      const err = Object.assign(new Error(`${fault.errno} (injected)`), { code: fault.errno });
      throw toStorageError(err, "file", `${this.endpoint}/${what}`);
    }
  }

  async diskInfo(options?: CallOptions): Promise<DiskInfo> {
    await this.#enter("diskInfo", "", options?.signal);
    return await this.inner.diskInfo();
  }

  async makeVolume(volume: string, options?: CallOptions): Promise<void> {
    await this.#enter("makeVolume", volume, options?.signal);
    await this.inner.makeVolume(volume);
  }

  async listVolumes(options?: CallOptions): Promise<VolumeInfo[]> {
    await this.#enter("listVolumes", "", options?.signal);
    return await this.inner.listVolumes();
  }

  async statVolume(volume: string, options?: CallOptions): Promise<VolumeInfo> {
    await this.#enter("statVolume", volume, options?.signal);
    return await this.inner.statVolume(volume);
  }

  async deleteVolume(volume: string, force?: boolean, options?: CallOptions): Promise<void> {
    await this.#enter("deleteVolume", volume, options?.signal);
    await this.inner.deleteVolume(volume, force);
  }

  async listDir(volume: string, path: string, options?: CallOptions): Promise<string[]> {
    await this.#enter("listDir", `${volume}/${path}`, options?.signal);
    return await this.inner.listDir(volume, path);
  }

  async *walkDir(volume: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
    await this.#enter("walkDir", volume, options.signal);
    for await (const entry of this.inner.walkDir(volume, options)) {
      await this.#enter("walkDir", `${volume}/${entry.name}`, options.signal);
      yield entry;
    }
  }

  async readAll(volume: string, path: string, options?: CallOptions): Promise<Uint8Array> {
    await this.#enter("readAll", `${volume}/${path}`, options?.signal);
    const data = await this.inner.readAll(volume, path);
    const corrupt = this.#fault("readAll", ["corrupt"]);
    return corrupt?.kind === "corrupt" ? flipped(data, corrupt.at ?? 0, 0) : data;
  }

  async writeAll(
    volume: string,
    path: string,
    data: Uint8Array,
    options?: CallOptions,
  ): Promise<void> {
    await this.#enter("writeAll", `${volume}/${path}`, options?.signal);
    await this.inner.writeAll(volume, path, data);
  }

  async createFile(volume: string, path: string, options?: CallOptions): Promise<FileWriter> {
    await this.#enter("createFile", `${volume}/${path}`, options?.signal);
    const writer = await this.inner.createFile(volume, path);
    let written = 0;
    const what = `${volume}/${path}`;
    return {
      write: async (data) => {
        await this.#enter("write", what, options?.signal);
        const broken = this.#fault("write", ["disconnect", "hang"]);
        const limit = broken?.kind === "disconnect"
          ? broken.afterBytes
          : broken?.kind === "hang"
          ? broken.afterBytes ?? 0
          : Infinity;
        if (written + data.byteLength > limit) {
          if (broken?.kind === "hang") await hang(options?.signal);
          throw new DiskNotFound(`${this.endpoint}: disconnected while writing ${what}`);
        }
        written += data.byteLength;
        await writer.write(data);
      },
      close: async () => {
        await this.#enter("write", what, options?.signal);
        await writer.close();
      },
      abort: () => writer.abort(),
    };
  }

  async readFileStream(
    volume: string,
    path: string,
    offset: number,
    length: number,
    options?: CallOptions,
  ): Promise<ReadableStream<Uint8Array>> {
    const what = `${volume}/${path}`;
    await this.#enter("readFileStream", what, options?.signal);
    const reader = (await this.inner.readFileStream(volume, path, offset, length)).getReader();
    const broken = this.#fault("readFileStream", ["disconnect", "hang", "corrupt"]);
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (broken?.kind === "disconnect" && sent >= broken.afterBytes) {
          await reader.cancel();
          throw new DiskNotFound(`${this.endpoint}: disconnected while reading ${what}`);
        }
        if (broken?.kind === "hang" && sent >= (broken.afterBytes ?? 0)) {
          await hang(options?.signal);
        }
        const chunk = await reader.read();
        if (chunk.done) return controller.close();
        const at = broken?.kind === "corrupt" ? (broken.at ?? 0) : Infinity;
        controller.enqueue(flipped(chunk.value, at, sent));
        sent += chunk.value.byteLength;
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  async statFile(volume: string, path: string, options?: CallOptions): Promise<{ size: number }> {
    await this.#enter("statFile", `${volume}/${path}`, options?.signal);
    return await this.inner.statFile(volume, path);
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
    await this.#enter("renameData", `${dstVolume}/${object}`, options?.signal);
    return await this.inner.renameData(
      srcVolume,
      srcPath,
      dstVolume,
      object,
      dataDir,
      metadata,
      replacedDataDir,
    );
  }

  async deleteObject(
    volume: string,
    object: string,
    dataDir?: string,
    options?: CallOptions,
  ): Promise<void> {
    await this.#enter("deleteObject", `${volume}/${object}`, options?.signal);
    await this.inner.deleteObject(volume, object, dataDir);
  }

  async deleteVersion(
    volume: string,
    object: string,
    versionId: string,
    options?: CallOptions,
  ): Promise<void> {
    await this.#enter("deleteVersion", `${volume}/${object}`, options?.signal);
    await this.inner.deleteVersion(volume, object, versionId);
  }

  async delete(
    volume: string,
    path: string,
    recursive?: boolean,
    options?: CallOptions,
  ): Promise<void> {
    await this.#enter("delete", `${volume}/${path}`, options?.signal);
    await this.inner.delete(volume, path, recursive);
  }

  async quarantine(): Promise<string | undefined> {
    await this.#enter("quarantine", "");
    return await this.inner.quarantine();
  }
}

/** A copy of `data` (which starts at byte `start` of its file) with bytes from `at` flipped. */
function flipped(data: Uint8Array, at: number, start: number): Uint8Array {
  if (start + data.byteLength <= at) return data;
  const copy = data.slice();
  for (let i = Math.max(0, at - start); i < copy.byteLength; i++) copy[i] ^= 0xff;
  return copy;
}

/** Resolves never; rejects with the signal's reason when it aborts. */
function hang(signal?: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal?.throwIfAborted();
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
