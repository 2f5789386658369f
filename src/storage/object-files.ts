/**
 * The files of objects on a local drive: the commit of a version (its data directory moved
 * into place, the version merged into the object's xl.meta) and the removal of one version or
 * of a whole object. Crash-safe as the rest of the drive: xl.meta is replaced atomically and
 * fsynced, a data directory goes only once no version names it.
 */
import { dirname, join } from "node:path";
import { META_FILE, type VolumeInfo } from "./api.ts";
import { DiskFull, FileNotFound, VolumeNotFound } from "./errors.ts";
import {
  fsyncDir,
  fsyncParents,
  readIfExists,
  removeQuietly,
  writeAtomic,
  writeNew,
} from "./fs-util.ts";
import { errnoOf, isNotFound } from "./os-errors.ts";
import { checkPath } from "./paths.ts";
import type { SpaceReserve } from "./space-reserve.ts";
import {
  decodeIfValid,
  decodeXlMeta,
  encodeXlMeta,
  freedDataDirs,
  mergeVersions,
  removeVersion,
  type XlMeta,
} from "./xl-meta.ts";

/** What the object files need of their drive (XlStorage). */
export interface DriveContext {
  readonly root: string;
  readonly space: SpaceReserve;
  /** Absolute path of `path` in `volume`, after validating both. */
  path(volume: string, path: string): string;
  /** A fresh name in the drive's temp area. */
  tmpName(): string;
  /** Invalidates the cached listings of `path` and its parents. */
  changed(path: string): void;
  /** Maps an error of an operation on `volume/path` to a storage error. */
  error(err: unknown, volume: string, path?: string): Promise<unknown>;
  statVolume(volume: string): Promise<VolumeInfo>;
  /** Makes `dir` of `volume` and runs `fill` with the directories created (see XlStorage). */
  intoDir<T>(volume: string, dir: string, fill: (created: string[]) => Promise<T>): Promise<T>;
}

export class ObjectFiles {
  readonly #drive: DriveContext;

  constructor(drive: DriveContext) {
    this.#drive = drive;
  }

  async renameData(
    srcVolume: string,
    srcPath: string,
    dstVolume: string,
    object: string,
    dataDir: string,
    metadata: Uint8Array,
    replacedDataDir?: string,
  ): Promise<Uint8Array | undefined> {
    // "" names no data directory at all (inline data, delete markers): no need to look for one.
    const src = srcPath === "" ? undefined : this.#drive.path(srcVolume, srcPath);
    const objectDir = this.#drive.path(dstVolume, object);
    if (src !== undefined) checkPath(dataDir);
    if (replacedDataDir !== undefined) checkPath(replacedDataDir);
    const added = decodeXlMeta(metadata).versions;
    const dst = join(objectDir, dataDir);
    let previous: Uint8Array | undefined;
    let merged: XlMeta | undefined;
    try {
      const metaFile = join(objectDir, META_FILE);
      if (src === undefined) await this.#claimInline(metaFile, metadata.length);
      // A missing data directory (emptied by a crash sweep, or never written) must fail the
      // commit: metadata pointing at nothing would be an acknowledged, unreadable object.
      if (src !== undefined) {
        await fsyncDir(src).catch((err) => {
          throw isNotFound(err)
            ? new FileNotFound(`${srcVolume}/${srcPath}: no data to commit`)
            : err;
        });
      }
      let toMove = src !== undefined;
      await this.#drive.intoDir(dstVolume, objectDir, async (created) => {
        if (toMove) await this.#moveDir(src!, dst);
        toMove = false;
        if (created.includes(objectDir)) {
          // A directory made just now replaces nothing: the metadata is written in place (a
          // torn file fails its checksum and reads as absent, which it was).
          previous = undefined;
          merged = mergeVersions(undefined, added);
          await writeNew(metaFile, encodeXlMeta(merged));
        } else {
          previous = await readIfExists(metaFile);
          merged = mergeVersions(decodeIfValid(previous), added);
          await writeAtomic(this.#drive.tmpName(), metaFile, encodeXlMeta(merged));
        }
        await fsyncParents(created);
        await fsyncDir(objectDir);
      });
    } catch (err) {
      throw await this.#drive.error(err, dstVolume, object);
    } finally {
      this.#drive.changed(dst);
      if (src !== undefined) this.#drive.changed(src);
    }
    if (
      replacedDataDir !== undefined && !merged!.versions.some((v) => v.dataDir === replacedDataDir)
    ) {
      // Unreferenced from now on; a failure only leaves garbage behind.
      await removeQuietly(join(objectDir, replacedDataDir));
      this.#drive.changed(objectDir);
    }
    return previous;
  }

  async deleteVersion(volume: string, object: string, versionId: string): Promise<void> {
    const objectDir = this.#drive.path(volume, object);
    const metaFile = join(objectDir, META_FILE);
    let remaining: XlMeta | undefined;
    try {
      const raw = await readIfExists(metaFile);
      const meta = decodeIfValid(raw);
      if (!meta?.versions.some((v) => v.versionId === versionId)) {
        if (raw === undefined) await this.#drive.statVolume(volume);
        throw new FileNotFound(`${volume}/${object}: no version ${versionId}`);
      }
      remaining = removeVersion(meta, versionId);
      if (remaining) await writeAtomic(this.#drive.tmpName(), metaFile, encodeXlMeta(remaining));
      else await Deno.remove(metaFile);
      for (const dir of freedDataDirs(meta, remaining)) {
        await Deno.remove(join(objectDir, dir), { recursive: true }).catch(notFoundIsFalse);
      }
      await fsyncDir(objectDir);
    } catch (err) {
      throw err instanceof FileNotFound || err instanceof VolumeNotFound
        ? err
        : await this.#drive.error(err, volume, object);
    } finally {
      this.#drive.changed(metaFile);
    }
    if (!remaining) await this.#pruneEmpty(join(this.#drive.root, volume), objectDir);
    this.#drive.changed(objectDir);
  }

  async deleteObject(volume: string, object: string, dataDir?: string): Promise<void> {
    const objectDir = this.#drive.path(volume, object);
    if (dataDir !== undefined) checkPath(dataDir);
    let found = false;
    try {
      found = await Deno.remove(join(objectDir, META_FILE)).then(() => true, notFoundIsFalse);
      if (dataDir !== undefined) {
        const removed = await Deno.remove(join(objectDir, dataDir), { recursive: true })
          .then(() => true, notFoundIsFalse);
        found ||= removed;
      }
      // The object's own directory, not its parent: a concurrent delete of a sibling may
      // prune the parent before our fsync, leaving the removal of xl.meta not durable.
      if (found) await fsyncDir(objectDir);
    } catch (err) {
      throw await this.#drive.error(err, volume, object);
    } finally {
      this.#drive.changed(join(objectDir, dataDir ?? META_FILE));
    }
    await this.#pruneEmpty(join(this.#drive.root, volume), objectDir);
    this.#drive.changed(objectDir);
    if (!found) {
      await this.#drive.statVolume(volume);
      throw new FileNotFound(`${volume}/${object}`);
    }
  }

  /**
   * Inline data is object data: a new object's may not eat into the free-space reserve. An
   * existing object's metadata may still be rewritten (about as large as before).
   */
  async #claimInline(metaFile: string, bytes: number): Promise<void> {
    try {
      await this.#drive.space.claim(bytes);
    } catch (err) {
      if (!(err instanceof DiskFull) || await readIfExists(metaFile) === undefined) throw err;
    }
  }

  /** Renames a directory, replacing a leftover one of the same name (a healed data dir). */
  async #moveDir(src: string, dst: string): Promise<void> {
    try {
      await Deno.rename(src, dst);
    } catch (err) {
      const code = errnoOf(err);
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
      const trash = this.#drive.tmpName();
      await Deno.rename(dst, trash);
      await Deno.rename(src, dst);
      await removeQuietly(trash);
    }
  }

  /** Removes `dir` and its parents while they are empty, stopping below `base`. */
  async #pruneEmpty(base: string, dir: string): Promise<void> {
    for (let d = dir; d.length > base.length && d.startsWith(base + "/"); d = dirname(d)) {
      try {
        await Deno.remove(d);
      } catch {
        // Not empty (a nested object, a concurrent write) or already gone: stop here.
        return;
      }
    }
  }
}

function notFoundIsFalse(err: unknown): false {
  if (isNotFound(err)) return false;
  throw err;
}
