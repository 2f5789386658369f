/**
 * A local drive: one directory of the file system. Every write is crash-safe: small files go
 * through a temp file + fsync + rename, shard files are written in the temp area and moved
 * into place by renameData together with the object's metadata.
 */
import { statfs } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import {
  type DiskInfo,
  type FileWriter,
  QUARANTINE_DIR,
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
  DiskNotFound,
  FileCorrupt,
  FileNotFound,
  VolumeExists,
} from "./errors.ts";
import { type CachedReadMode, cachedReadModeOf, readCachedFile } from "../../ffi/cached-read.ts";
import { DirCache, readListing } from "./dir-cache.ts";
import { LocalFileWriter, rangeStream } from "./file-io.ts";
import { LOCK_FILE } from "./drive-lock.ts";
import { FORMAT_FILE, parseFormat } from "./format.ts";
import {
  fsyncDir,
  fsyncParents,
  makeDirs,
  PRIVATE_FILE,
  removeQuietly,
  writeAtomic,
} from "./fs-util.ts";
import { errnoOf, isNotFound, toStorageError } from "./os-errors.ts";
import { checkPath, checkVolume, sortKeys } from "./paths.ts";
import { DEFAULT_RESERVE, type ReservePolicy, SpaceReserve } from "./space-reserve.ts";
import { ObjectFiles } from "./object-files.ts";
import { walkObjects } from "./walk.ts";

export interface DriveOptions {
  /** Free space kept back from object data (DEFAULT_RESERVE when omitted). */
  reserve?: ReservePolicy;
}

/** Directories of the drive's root that are not buckets. */
const HIDDEN_VOLUMES = new Set([SYSTEM_VOLUME, QUARANTINE_DIR]);
/** What quarantine() leaves in the system volume: this process's lock and the temp area. */
const KEPT_SYSTEM_ENTRIES = new Set([LOCK_FILE, TMP_DIR]);

export class XlStorage implements StorageAPI {
  readonly endpoint: string;
  readonly #tmp: string;
  /** Listings of bucket directories; the system volume's writers bypass this class. */
  readonly #listings = new DirCache();
  /** How small files (xl.meta) may be read without the thread pool (ffi/cached-read.ts). */
  #cachedReads: CachedReadMode = "off";
  readonly #space: SpaceReserve;
  readonly #objects: ObjectFiles;

  private constructor(readonly root: string, reserve: ReservePolicy) {
    this.endpoint = root;
    this.#tmp = join(root, SYSTEM_VOLUME, TMP_DIR);
    this.#space = new SpaceReserve(root, reserve);
    this.#objects = new ObjectFiles({
      root,
      space: this.#space,
      path: (volume, path) => this.#path(volume, path),
      tmpName: () => this.#tmpName(),
      changed: (path) => this.#changed(path),
      error: (err, volume, path) => this.#error(err, volume, path),
      statVolume: (volume) => this.statVolume(volume),
      intoDir: (volume, dir, fill) => this.#intoDir(volume, dir, fill),
    });
  }

  /**
   * Opens the drive at `path`: creates it and the system volume if missing and empties the
   * temp area (leftovers of writes interrupted by a crash). DiskAccessDenied when the
   * directory cannot be written.
   */
  static async open(path: string, options: DriveOptions = {}): Promise<XlStorage> {
    const drive = new XlStorage(resolve(path), options.reserve ?? DEFAULT_RESERVE);
    try {
      await Deno.mkdir(join(drive.root, SYSTEM_VOLUME), { recursive: true });
      await Deno.remove(drive.#tmp, { recursive: true }).catch((err) => {
        if (!isNotFound(err)) throw err;
      });
      // Recursive: a stale handle's probe may have put its file there meanwhile (harmless).
      await Deno.mkdir(drive.#tmp, { recursive: true });
      drive.#cachedReads = await cachedReadModeOf(drive.#tmp);
    } catch (err) {
      throw toStorageError(err, "file", drive.root);
    }
    return drive;
  }

  /**
   * Moves everything the drive holds (buckets, the system volume's records) into a new
   * directory of QUARANTINE_DIR, for a drive found without format.json: its contents cannot be
   * trusted as this deployment's, nor deleted. Returns that directory, or undefined when there
   * was nothing to move.
   */
  async quarantine(): Promise<string | undefined> {
    const target = join(this.root, QUARANTINE_DIR, new Date().toISOString().replaceAll(":", ""));
    const moves: [string, string][] = [];
    const collect = async (dir: string, into: string, keep: (name: string) => boolean) => {
      for await (const entry of Deno.readDir(dir)) {
        if (!keep(entry.name)) moves.push([join(dir, entry.name), join(into, entry.name)]);
      }
    };
    try {
      await collect(this.root, target, (name) => name === QUARANTINE_DIR || name === SYSTEM_VOLUME);
      const system = join(this.root, SYSTEM_VOLUME);
      await collect(system, join(target, SYSTEM_VOLUME), (name) => KEPT_SYSTEM_ENTRIES.has(name))
        .catch((err) => {
          if (!isNotFound(err)) throw err;
        });
      if (moves.length === 0) return undefined;
      for (const [from, to] of moves) {
        await Deno.mkdir(dirname(to), { recursive: true });
        await Deno.rename(from, to);
      }
      await fsyncDir(this.root);
    } catch (err) {
      throw this.#driveError(err);
    } finally {
      this.#listings.invalidateBelow(this.root);
    }
    return target;
  }

  async diskInfo(): Promise<DiskInfo> {
    try {
      const fs = await statfs(this.root);
      return {
        total: fs.blocks * fs.bsize,
        // Blocks available to unprivileged users: what we can count on writing.
        free: fs.bavail * fs.bsize,
        id: await this.#driveId(),
        endpoint: this.endpoint,
      };
    } catch (err) {
      throw this.#driveError(err);
    }
  }

  async #driveId(): Promise<string> {
    try {
      return parseFormat(await Deno.readFile(this.#path(SYSTEM_VOLUME, FORMAT_FILE))).xl.this;
    } catch (err) {
      if (isNotFound(err) || err instanceof FileCorrupt) return "";
      throw err;
    }
  }

  async makeVolume(volume: string): Promise<void> {
    checkVolume(volume);
    try {
      await Deno.mkdir(join(this.root, volume));
    } catch (err) {
      if (errnoOf(err) === "EEXIST") throw new VolumeExists(volume);
      throw await this.#error(err, volume);
    } finally {
      this.#changed(join(this.root, volume));
    }
  }

  async listVolumes(): Promise<VolumeInfo[]> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.root)) {
        if (entry.isDirectory && !HIDDEN_VOLUMES.has(entry.name)) names.push(entry.name);
      }
    } catch (err) {
      throw this.#driveError(err);
    }
    sortKeys(names);
    const infos = await Promise.all(names.map((name) => this.statVolume(name).catch(() => null)));
    return infos.filter((info): info is VolumeInfo => info !== null);
  }

  async statVolume(volume: string): Promise<VolumeInfo> {
    checkVolume(volume);
    try {
      const st = await Deno.stat(join(this.root, volume));
      if (!st.isDirectory) throw new Deno.errors.NotFound(volume);
      return { name: volume, created: (st.birthtime ?? st.mtime ?? new Date(0)).getTime() };
    } catch (err) {
      throw await this.#error(err, volume);
    }
  }

  async deleteVolume(volume: string, force = false): Promise<void> {
    checkVolume(volume);
    if (volume === SYSTEM_VOLUME) throw new DiskAccessDenied("the system volume cannot be deleted");
    const dir = join(this.root, volume);
    try {
      if (!force) {
        await Deno.remove(dir);
        return;
      }
      // Move out of sight first (atomic), then delete the tree at leisure.
      const trash = join(this.#tmp, crypto.randomUUID());
      await Deno.rename(dir, trash);
      await removeQuietly(trash);
    } catch (err) {
      throw await this.#error(err, volume);
    } finally {
      this.#changed(dir);
      this.#listings.invalidateBelow(dir);
    }
  }

  async listDir(volume: string, path: string): Promise<string[]> {
    const dir = this.#path(volume, path, true);
    try {
      const listing = await this.#reader(volume)(dir);
      // Mapped like the error of reading a missing directory.
      if (!listing) throw Object.assign(new Error(`${dir}: no such directory`), { code: "ENOENT" });
      return [...listing.names];
    } catch (err) {
      throw await this.#error(err, volume, path);
    }
  }

  /** How directories of `volume` are listed: cached, except where writers bypass the cache. */
  #reader(volume: string): (dir: string) => ReturnType<typeof readListing> {
    return volume === SYSTEM_VOLUME ? readListing : (dir) => this.#listings.read(dir);
  }

  /** Forgets the cached listings of `path` and its parents up to the drive: they may have changed. */
  #changed(path: string): void {
    for (let d = path; d.startsWith(this.root); d = dirname(d)) {
      this.#listings.invalidate(d);
      if (d === this.root) return;
    }
  }

  async *walkDir(volume: string, options: WalkOptions): AsyncGenerator<WalkEntry> {
    checkVolume(volume);
    const root = join(this.root, volume);
    await this.statVolume(volume);
    const skip = new Set(volume === SYSTEM_VOLUME ? [TMP_DIR] : []);
    try {
      yield* walkObjects(root, options, this.#reader(volume), this.#readFile, skip);
    } catch (err) {
      throw await this.#error(err, volume, options.prefix ?? "");
    }
  }

  /**
   * Metadata is nearly always in memory: then it is read here, without a round trip through
   * the runtime's thread pool (GET and HEAD read it from every drive, a listing per key).
   */
  readonly #readFile = async (file: string): Promise<Uint8Array> =>
    readCachedFile(file, this.#cachedReads) ?? await Deno.readFile(file);

  async readAll(volume: string, path: string): Promise<Uint8Array> {
    try {
      return await this.#readFile(this.#path(volume, path));
    } catch (err) {
      throw await this.#error(err, volume, path);
    }
  }

  async writeAll(volume: string, path: string, data: Uint8Array): Promise<void> {
    const target = this.#path(volume, path);
    try {
      await this.#intoDir(volume, dirname(target), async (created) => {
        await writeAtomic(this.#tmpName(), target, data);
        await fsyncParents(created);
        await fsyncDir(dirname(target));
      });
    } catch (err) {
      throw await this.#error(err, volume, path);
    } finally {
      this.#changed(target);
    }
  }

  async createFile(volume: string, path: string): Promise<FileWriter> {
    const target = this.#path(volume, path);
    const open = () =>
      Deno.open(target, { write: true, create: true, truncate: true, mode: PRIVATE_FILE });
    try {
      let file: Deno.FsFile;
      try {
        file = await open();
      } catch (err) {
        if (!isNotFound(err)) throw err;
        file = await this.#intoDir(volume, dirname(target), open);
      }
      return new LocalFileWriter(
        file,
        target,
        (err) => toStorageError(err, "file", path),
        (bytes) => this.#space.claim(bytes),
      );
    } catch (err) {
      throw await this.#error(err, volume, path);
    } finally {
      this.#changed(target);
    }
  }

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
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path(volume, path), { read: true });
    } catch (err) {
      throw await this.#error(err, volume, path);
    }
    try {
      const st = await file.stat();
      if (!st.isFile) throw new FileNotFound(path);
      if (st.size < offset + length) {
        throw new FileCorrupt(`${path}: ${st.size} bytes, ${offset + length} needed`);
      }
      return await rangeStream(file, path, offset, length, options?.chunkSize);
    } catch (err) {
      file.close();
      throw toStorageError(err, "file", path);
    }
  }

  async statFile(volume: string, path: string): Promise<{ size: number }> {
    try {
      const st = await Deno.stat(this.#path(volume, path));
      if (!st.isFile) throw new FileNotFound(path);
      return { size: st.size };
    } catch (err) {
      throw await this.#error(err, volume, path);
    }
  }

  renameData(
    srcVolume: string,
    srcPath: string,
    dstVolume: string,
    object: string,
    dataDir: string,
    metadata: Uint8Array,
    replacedDataDir?: string,
  ): Promise<Uint8Array | undefined> {
    return this.#objects.renameData(
      srcVolume,
      srcPath,
      dstVolume,
      object,
      dataDir,
      metadata,
      replacedDataDir,
    );
  }

  deleteVersion(volume: string, object: string, versionId: string): Promise<void> {
    return this.#objects.deleteVersion(volume, object, versionId);
  }

  deleteObject(volume: string, object: string, dataDir?: string): Promise<void> {
    return this.#objects.deleteObject(volume, object, dataDir);
  }

  /**
   * Makes directory `dir` of `volume` (and its parents), then runs `fill` with the list of
   * directories created. deleteObject of a neighbour may prune them while still empty, so a
   * NotFound from `fill` makes them again (bounded).
   */
  async #intoDir<T>(
    volume: string,
    dir: string,
    fill: (created: string[]) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1;; attempt++) {
      const created = await makeDirs(join(this.root, volume), dir);
      try {
        return await fill(created);
      } catch (err) {
        if (attempt === 3 || !isNotFound(err)) throw err;
      }
    }
  }

  async delete(volume: string, path: string, recursive = false): Promise<void> {
    const target = this.#path(volume, path);
    try {
      await Deno.remove(target, { recursive });
    } catch (err) {
      if (isNotFound(err)) return;
      throw await this.#error(err, volume, path);
    } finally {
      this.#changed(target);
      if (recursive) this.#listings.invalidateBelow(target);
    }
  }

  /** Absolute path of `path` in `volume`, after validating both. */
  #path(volume: string, path: string, allowEmpty = false): string {
    checkVolume(volume);
    checkPath(path, allowEmpty);
    return join(this.root, volume, path);
  }

  #tmpName(): string {
    return join(this.#tmp, crypto.randomUUID());
  }

  /** Maps an error of an operation on the drive as a whole. */
  #driveError(err: unknown): unknown {
    if (isNotFound(err)) return new DiskNotFound(`${this.root} is gone`);
    return toStorageError(err, "file", this.root);
  }

  /**
   * Maps an error of an operation on `volume/path`, or on the volume itself when `path` is
   * undefined. A missing drive directory (unmounted, removed) wins over a missing volume,
   * which wins over a missing file.
   */
  async #error(err: unknown, volume: string, path?: string): Promise<unknown> {
    if (!isNotFound(err)) return toStorageError(err, "file", `${volume}/${path ?? ""}`);
    const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
    if (path !== undefined && await exists(join(this.root, volume))) {
      return toStorageError(err, "file", `${volume}/${path}`);
    }
    if (!await exists(this.root)) return new DiskNotFound(`${this.root} is gone`);
    return toStorageError(err, "volume", volume);
  }
}
