/**
 * The namespace of an erasure set as maintenance sees it: every object name that ANY drive
 * holds, in S3 key order, bucket by bucket. Listings show only what a read quorum agrees on;
 * the scanner and heals must also find an object present on a single drive (to complete it,
 * or to purge it as dangling), so this walk is the union over the drives. Names only (each
 * drive's walk reads no metadata: the heal reads it under the object's lock anyway), streamed
 * with one entry per drive in memory, and resumable from any (bucket, object) position.
 */
import { SYSTEM_VOLUME } from "../storage/api.ts";
import { CONFIG_RECORDS } from "./config-store.ts";
import { DriveWalk } from "./drive-walk.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { isBucketName } from "./names.ts";
import { fanOut } from "./quorum.ts";
import { MergedWalk } from "./walk-merge.ts";

export interface NamespaceObject {
  bucket: string;
  name: string;
  /** Per drive of the set: whether its walk shows the object. */
  on: boolean[];
  /** Per drive of the set: whether its walk of the bucket is still going (online, readable). */
  walked: boolean[];
}

export interface BucketWalkOptions {
  /** Only names starting with this. */
  prefix?: string;
  /** Resume: only names sorting strictly after this. */
  startAfter?: string;
  /** Stops the walk between objects. */
  signal?: AbortSignal;
}

/** Every object name of `bucket` on any drive of `set`, in key order. */
export async function* walkBucket(
  set: ErasureSet,
  bucket: string,
  options: BucketWalkOptions = {},
): AsyncGenerator<NamespaceObject> {
  const prefix = options.prefix ?? "";
  const merge = new MergedWalk(
    set.drives.map((d) =>
      d.available
        ? new DriveWalk(d, bucket, prefix, options.startAfter ?? "", "", false)
        : undefined
    ),
  );
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      const merged = await merge.next();
      if (!merged) return;
      yield {
        bucket,
        name: merged.name,
        on: merged.entries.map((e) => e !== undefined),
        walked: set.drives.map((_, i) => merge.walking(i)),
      };
    }
  } finally {
    await merge.close();
  }
}

/** The buckets any drive of `set` holds, sorted (the system volume is none). */
export async function setBuckets(set: ErasureSet): Promise<string[]> {
  const outcomes = await fanOut(set.drives, (d) => d.listVolumes());
  const names = new Set<string>();
  for (const o of outcomes) {
    if (o.ok) { for (const v of o.value) if (isBucketName(v.name)) names.add(v.name); }
  }
  return [...names].sort();
}

/** A part of a set's namespace that maintenance walks: a bucket, or names under a prefix. */
export interface WalkScope {
  bucket: string;
  prefix: string;
}

/**
 * What maintenance (scanner, heals) walks in `set`: the config records of the system volume
 * (IAM, bucket metadata: objects like any other, which a replaced drive must get back too),
 * then every bucket. The system volume's name sorts before every bucket's, so positions
 * (bucket, object) keep their order across scopes.
 */
export async function setScopes(set: ErasureSet): Promise<WalkScope[]> {
  const buckets = (await setBuckets(set)).map((bucket) => ({ bucket, prefix: "" }));
  return [{ bucket: SYSTEM_VOLUME, prefix: CONFIG_RECORDS }, ...buckets];
}

/** A position in a set's namespace: the walk resumes after this object of this bucket. */
export interface NamespacePosition {
  bucket: string;
  object: string;
}

/** Every object of every scope of `set` (setScopes), scope by scope, then in key order. */
export async function* walkSet(
  set: ErasureSet,
  options: { after?: NamespacePosition; signal?: AbortSignal } = {},
): AsyncGenerator<NamespaceObject> {
  const { after, signal } = options;
  for (const { bucket, prefix } of await setScopes(set)) {
    if (after && bucket < after.bucket) continue;
    const startAfter = after?.bucket === bucket ? after.object : "";
    yield* walkBucket(set, bucket, { prefix, startAfter, signal });
  }
}
