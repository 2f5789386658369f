/**
 * Garbage the write path can leave behind (a crash between steps, a drive that missed a
 * cleanup), collected by the scanner:
 *
 * - data directories below an object that no version of any drive's xl.meta names (every
 *   version counts, not only the latest, so old versions' data is never freed);
 * - entries of the system volume's temp area (writes and heals in flight, trash);
 * - multipart uploads older than the upload expiry (their id starts with the creation time).
 *
 * A data directory or temp entry is removed only once it has been seen unreferenced (a temp
 * entry: unchanged, file sizes included) by scans at least the safety age apart: in-flight
 * writes never stay unreferenced or unchanged that long. Data directories are also judged
 * under the object's write lock, which every commit holds, and xl.meta is read under it.
 */
import { META_FILE, type StorageAPI, SYSTEM_VOLUME, TMP_DIR } from "../storage/api.ts";
import { FileNotFound } from "../storage/errors.ts";
import { type ErasureSet, lockKey } from "./erasure-set.ts";
import { expireUpload, UPLOAD_ID, uploadCreated } from "./multipart.ts";
import { DATA_DIR_SUFFIX, encodeObjectName } from "./names.ts";
import { agreedVersions, fanOut, type Outcome } from "./quorum.ts";
import { listOrNone } from "./system-records.ts";
import { decodeXlMeta, type XlMeta } from "../storage/xl-meta.ts";

export interface GarbageOptions {
  /** How long garbage must have been seen unreferenced (temp: unchanged) before removal. */
  safetyAgeMs: number;
  /** Multipart uploads older than this are aborted; 0 keeps them for ever. */
  uploadExpiryMs: number;
}

/** What one cycle removed. */
export interface GarbageCounts {
  dataDirs: number;
  tempEntries: number;
  /** Of data directories and temp entries. */
  bytes: number;
  uploadsExpired: number;
}

export function noGarbage(): GarbageCounts {
  return { dataDirs: 0, tempEntries: 0, bytes: 0, uploadsExpired: 0 };
}

/** Candidates remembered between scans; beyond this, new ones wait for a later cycle. */
const MAX_SIGHTINGS = 100_000;
/** A temp entry deeper or wider than this is fingerprinted by what these reach. */
const FINGERPRINT_DEPTH = 4;

interface Sighting {
  first: number;
  fingerprint: string;
  cycle: number;
}

export class GarbageCollector {
  readonly #sightings = new Map<string, Sighting>();
  #cycle = 0;

  constructor(readonly options: GarbageOptions, readonly now: () => number = Date.now) {}

  /** Starts a scan; candidates not seen again during it are forgotten by endCycle. */
  beginCycle(): void {
    this.#cycle++;
  }

  endCycle(): void {
    for (const [key, s] of this.#sightings) {
      if (s.cycle !== this.#cycle) this.#sightings.delete(key);
    }
  }

  /**
   * Removes the data directories of `object` that no version in any drive's metadata names,
   * once ripe, and returns its usage from the versions a read quorum of drives agree on
   * (undefined when none is).
   */
  object(
    set: ErasureSet,
    bucket: string,
    object: string,
    counts: GarbageCounts,
  ): Promise<ObjectUsage | undefined> {
    const path = encodeObjectName(object);
    return set.locks.withWrite(lockKey(bucket, object), async () => {
      const found = await fanOut(set.drives, async (drive) => {
        const dirs = (await drive.listDir(bucket, path))
          .filter((n) => n.endsWith(`${DATA_DIR_SUFFIX}/`)).map((n) => n.slice(0, -1));
        return { dirs, meta: await readMeta(drive, bucket, path) };
      });
      const referenced = new Set<string>();
      for (const f of found) {
        if (f.ok) { for (const v of f.value.meta.versions) referenced.add(v.dataDir); }
      }
      await fanOut(set.drives, async (drive, i) => {
        const f = found[i];
        if (!f.ok) return;
        for (const dir of f.value.dirs) {
          if (referenced.has(dir)) continue;
          const at = `${path}/${dir}`;
          if (!this.#ripe(drive, bucket, at, "")) continue;
          const bytes = await treeBytes(drive, bucket, at);
          await drive.delete(bucket, at, true);
          counts.dataDirs++;
          counts.bytes += bytes;
        }
      });
      const metas = found.map((f): Outcome<XlMeta> => f.ok ? { ok: true, value: f.value.meta } : f);
      return usageOf(metas, set.readQuorum, `${bucket}/${object}`);
    });
  }

  /** Removes the temp entries of the set's drives that stayed unchanged for the safety age. */
  async tempArea(set: ErasureSet, counts: GarbageCounts): Promise<void> {
    await fanOut(set.drives, async (drive) => {
      for (const name of await listOrNone(drive, TMP_DIR)) {
        const at = `${TMP_DIR}/${name.replace(/\/$/, "")}`;
        const print = await fingerprint(drive, at, name.endsWith("/")).catch(() => undefined);
        if (print === undefined || !this.#ripe(drive, SYSTEM_VOLUME, at, print.text)) continue;
        await drive.delete(SYSTEM_VOLUME, at, true);
        counts.tempEntries++;
        counts.bytes += print.bytes;
      }
    });
  }

  /** Aborts the uploads of the set older than the upload expiry, on whichever drives hold them. */
  async uploads(set: ErasureSet, counts: GarbageCounts): Promise<void> {
    if (this.options.uploadExpiryMs <= 0) return;
    const cutoff = this.now() - this.options.uploadExpiryMs;
    const perDrive = await fanOut(set.drives, async (drive) => {
      const paths: string[] = [];
      for (const bucket of await listOrNone(drive, "multipart")) {
        if (!bucket.endsWith("/")) continue;
        for (const hash of await listOrNone(drive, `multipart/${bucket.slice(0, -1)}`)) {
          if (!hash.endsWith("/")) continue;
          const dir = `multipart/${bucket}${hash.slice(0, -1)}`;
          for (const id of await listOrNone(drive, dir)) {
            const uploadId = id.slice(0, -1);
            if (UPLOAD_ID.test(uploadId) && uploadCreated(uploadId) < cutoff) {
              paths.push(`${dir}/${uploadId}`);
            }
          }
        }
      }
      return paths;
    });
    const expired = new Set(perDrive.flatMap((o) => (o.ok ? o.value : [])));
    for (const path of expired) {
      await expireUpload(set, path);
      counts.uploadsExpired++;
    }
  }

  /**
   * Records a sighting of a candidate; true once it was first seen (with the same fingerprint)
   * at least the safety age ago.
   */
  #ripe(drive: StorageAPI, volume: string, path: string, fingerprint: string): boolean {
    const key = `${drive.endpoint}\n${volume}\n${path}`;
    const now = this.now();
    const seen = this.#sightings.get(key);
    if (!seen || seen.fingerprint !== fingerprint) {
      if (seen || this.#sightings.size < MAX_SIGHTINGS) {
        this.#sightings.set(key, { first: now, fingerprint, cycle: this.#cycle });
      }
      return false;
    }
    seen.cycle = this.#cycle;
    if (now - seen.first < this.options.safetyAgeMs) return false;
    this.#sightings.delete(key);
    return true;
  }
}

/** What one object adds to its bucket's usage. */
export interface ObjectUsage {
  /** 1 when its current version is not a delete marker, else 0. */
  objects: number;
  /** Of every version, noncurrent ones included (AWS's bucket size counts them). */
  bytes: number;
}

function usageOf(
  metas: Outcome<XlMeta>[],
  readQuorum: number,
  what: string,
): ObjectUsage | undefined {
  let agreed;
  try {
    agreed = agreedVersions(metas, readQuorum, what);
  } catch {
    return undefined;
  }
  return {
    objects: agreed[0].version.deleteMarker ? 0 : 1,
    bytes: agreed.reduce((n, q) => n + q.version.size, 0),
  };
}

/** A drive's xl.meta of an object: no versions when the file is absent; throws when corrupt. */
async function readMeta(drive: StorageAPI, bucket: string, path: string): Promise<XlMeta> {
  try {
    return decodeXlMeta(await drive.readAll(bucket, `${path}/${META_FILE}`));
  } catch (err) {
    if (err instanceof FileNotFound) return { versions: [] };
    throw err;
  }
}

/** Bytes of the files directly in a directory (a data dir holds part files only). */
async function treeBytes(drive: StorageAPI, volume: string, dir: string): Promise<number> {
  let bytes = 0;
  for (const name of await drive.listDir(volume, dir).catch(() => [])) {
    if (name.endsWith("/")) continue;
    bytes += await drive.statFile(volume, `${dir}/${name}`).then((s) => s.size, () => 0);
  }
  return bytes;
}

/** Every file below a temp entry with its size: it changes while a write is in progress. */
async function fingerprint(
  drive: StorageAPI,
  path: string,
  isDir: boolean,
  depth = 0,
): Promise<{ text: string; bytes: number }> {
  if (!isDir) {
    const { size } = await drive.statFile(SYSTEM_VOLUME, path);
    return { text: `${path}:${size}`, bytes: size };
  }
  const parts: string[] = [path];
  let bytes = 0;
  if (depth < FINGERPRINT_DEPTH) {
    for (const name of await drive.listDir(SYSTEM_VOLUME, path)) {
      const child = await fingerprint(
        drive,
        `${path}/${name.replace(/\/$/, "")}`,
        name.endsWith("/"),
        depth + 1,
      );
      parts.push(child.text);
      bytes += child.bytes;
    }
  }
  return { text: parts.join("\n"), bytes };
}
