/**
 * Fan-out to the drives of a set and the quorum rules over their answers: which version of an
 * object a read may trust, and which typed error a failed read or write reports.
 */
import type { StorageAPI } from "../storage/api.ts";
import { META_FILE } from "../storage/api.ts";
import type { DriveHandle } from "../storage/drive-handle.ts";
import { DiskFull, DiskNotFound, FileNotFound, VolumeNotFound } from "../storage/errors.ts";
import {
  BucketNotFound,
  InsufficientReadQuorum,
  InsufficientWriteQuorum,
  ObjectNotFound,
  StorageFull,
} from "./errors.ts";
import {
  compareVersions,
  CorruptMeta,
  decodeXlMeta,
  type ObjectVersion,
  versionKey,
  type XlMeta,
} from "../storage/xl-meta.ts";

/** The drives of a set, in format order; an offline one is a handle that answers DiskNotFound. */
export type Drives = readonly DriveHandle[];
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: Error };

/**
 * Runs `fn` on every drive in parallel; an offline drive fails with DiskNotFound at once, a
 * stuck one with DiskTimeout at its handle's deadline.
 */
export function fanOut<T>(
  drives: Drives,
  fn: (drive: StorageAPI, index: number) => Promise<T>,
): Promise<Outcome<T>[]> {
  return Promise.all(drives.map(async (drive, i): Promise<Outcome<T>> => {
    try {
      return { ok: true, value: await fn(drive, i) };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
    }
  }));
}

export function successes<T>(outcomes: Outcome<T>[]): number {
  return outcomes.filter((o) => o.ok).length;
}

function countErrors<T>(outcomes: Outcome<T>[], match: (err: Error) => boolean): number {
  return outcomes.filter((o) => !o.ok && match(o.error)).length;
}

/** The drive lacks the object: no file, no bucket, or a metadata file that does not parse. */
export function isMissing(err: Error): boolean {
  return err instanceof FileNotFound || err instanceof VolumeNotFound || err instanceof CorruptMeta;
}

/**
 * A drive that lost its format (emptied, or its file system no longer mounted) answers
 * VolumeNotFound for every bucket, which says nothing about the bucket: such drives count as
 * offline instead. Only VolumeNotFound answers are checked, so ordinary 404s cost nothing.
 */
export function withoutUnformatted<T>(
  drives: Drives,
  outcomes: Outcome<T>[],
): Promise<Outcome<T>[]> {
  return Promise.all(outcomes.map(async (o, i): Promise<Outcome<T>> => {
    if (o.ok || !(o.error instanceof VolumeNotFound)) return o;
    const id = await drives[i].diskInfo().then((info) => info.id, () => "");
    return id ? o : { ok: false, error: new DiskNotFound(`drive ${i} lost its format`) };
  }));
}

export interface QuorumVersion {
  version: ObjectVersion;
  /** Per drive: its copy of the agreed version, or undefined when it lacks it (to heal). */
  holders: (ObjectVersion | undefined)[];
}

/** Each drive's xl.meta of an object (every version), or why it has none. */
export function readMetas(
  drives: Drives,
  bucket: string,
  path: string,
  signal?: AbortSignal,
): Promise<Outcome<XlMeta>[]> {
  return fanOut(
    drives,
    async (drive) => decodeXlMeta(await drive.readAll(bucket, `${path}/${META_FILE}`, { signal })),
  );
}

/**
 * The versions of an object that at least `readQuorum` drives agree on (by versionKey), newest
 * first, each with its per-drive holders: the first is the current version. A version fewer
 * drives hold is left out (a write that did not reach quorum, or one to heal later). Throws
 * BucketNotFound / ObjectNotFound when that many drives lack the bucket / object, otherwise
 * InsufficientReadQuorum when no version is agreed.
 */
export function agreedVersions(
  outcomes: Outcome<XlMeta>[],
  readQuorum: number,
  what: string,
): QuorumVersion[] {
  const byKey = new Map<string, QuorumVersion>();
  outcomes.forEach((o, i) => {
    if (!o.ok) return;
    for (const v of o.value.versions) {
      const key = versionKey(v);
      let q = byKey.get(key);
      if (!q) {
        q = { version: v, holders: outcomes.map(() => undefined) };
        byKey.set(key, q);
      }
      q.holders[i] = v;
    }
  });
  const count = (q: QuorumVersion) => q.holders.filter(Boolean).length;
  const agreed = [...byKey.values()].filter((q) => count(q) >= readQuorum)
    .sort((a, b) => compareVersions(a.version, b.version))
    // Two states of one version id (a null version overwritten, the write cut off on some
    // drives) both with a read quorum: the newer is the version, the older is superseded.
    .filter((q, i, all) => all.findIndex((o) => o.version.versionId === q.version.versionId) === i);
  if (agreed.length > 0) return agreed;
  throw noAgreement(outcomes, readQuorum, what, Math.max(0, ...[...byKey.values()].map(count)));
}

/** Why no version is agreed: the bucket or object absent on a read quorum, or too few drives. */
function noAgreement<T>(
  outcomes: Outcome<T>[],
  readQuorum: number,
  what: string,
  bestCount: number,
): Error {
  // Drives that lost the bucket directory do not outvote a read quorum that has the bucket.
  const bucketSeen =
    outcomes.filter((o) => o.ok || (isMissing(o.error) && !(o.error instanceof VolumeNotFound)))
      .length;
  if (
    bucketSeen < readQuorum &&
    countErrors(outcomes, (e) => e instanceof VolumeNotFound) >= readQuorum
  ) {
    return new BucketNotFound(what.split("/")[0]);
  }
  // Corrupt metadata is not absence: the object may be there, unreadable, and its remnants
  // must not be purged as dangling.
  const absent = (e: Error) => isMissing(e) && !(e instanceof CorruptMeta);
  if (countErrors(outcomes, absent) >= readQuorum) return new ObjectNotFound(what);
  return new InsufficientReadQuorum(`${what}: ${bestCount} drives agree, ${readQuorum} needed`);
}

/**
 * Throws unless `writeQuorum` drives succeeded; a bucket missing on a quorum wins, then
 * StorageFull when full drives made the difference.
 */
export function requireWriteQuorum<T>(
  outcomes: Outcome<T>[],
  writeQuorum: number,
  what: string,
): void {
  if (successes(outcomes) >= writeQuorum) return;
  if (countErrors(outcomes, (e) => e instanceof VolumeNotFound) >= writeQuorum) {
    throw new BucketNotFound(what.split("/")[0]);
  }
  const reasons = outcomes.filter((o) => !o.ok).map((o) => (o as { error: Error }).error.name);
  const full = countErrors(outcomes, (e) => e instanceof DiskFull);
  throw new (successes(outcomes) + full >= writeQuorum ? StorageFull : InsufficientWriteQuorum)(
    `${what}: ${successes(outcomes)} drives took the write, ${writeQuorum} needed (${
      [...new Set(reasons)].join(", ")
    })`,
  );
}

/**
 * MinIO's hashOrder: the shard index (1-based) each drive of an n-drive set holds for `key`,
 * a rotation chosen by the key's CRC32 so that load spreads evenly over the drives.
 */
export function hashOrder(keyCrc: number, n: number): number[] {
  const start = keyCrc % n;
  return Array.from({ length: n }, (_, i) => 1 + ((start + i + 1) % n));
}
