/**
 * What a write may replace. Conditional writes (If-None-Match: *, If-Match: <etag>) are checked
 * against the object's current version twice: before the body is read, for a fast
 * PreconditionFailed, and under the object's write lock at the commit, where a failure means a
 * concurrent write won (ConditionalRequestConflict). A write of the null version while
 * versioning is suspended replaces the null version, which object lock may protect.
 */
import type { ErasureSet } from "./erasure-set.ts";
import { ConditionalRequestConflict, ObjectNotFound, PreconditionFailed } from "./errors.ts";
import type { ExpectedVersion, VersioningState, WritePreconditions } from "./layer.ts";
import { checkRemovable } from "./object-lock.ts";
import type { QuorumVersion } from "./quorum.ts";
import type { ObjectVersion } from "../storage/xl-meta.ts";

/** What a write of a new version (or delete marker) carries besides its data. */
export interface WriteOptions {
  /** The bucket's versioning state (undefined: unversioned). */
  versioning?: VersioningState;
  preconditions?: WritePreconditions;
  /** Lets a delete marker replace a null version under GOVERNANCE retention. */
  bypassGovernance?: boolean;
  /** The current version must still be this one (see DeleteObjectOptions.expected). */
  expected?: ExpectedVersion;
  signal?: AbortSignal;
}

/** The fast check before a write reads its body: PreconditionFailed (or NoSuchKey). */
export async function checkBeforeWrite(
  set: ErasureSet,
  bucket: string,
  object: string,
  options: WriteOptions,
): Promise<void> {
  if (!options.preconditions) return;
  const versions = await agreedOrNone(set, bucket, object, options.signal);
  checkPreconditions(options.preconditions, versions[0]?.version, `${bucket}/${object}`, false);
}

/**
 * The check at the commit of version `versionId`, under the object's write lock: the
 * preconditions again (ConditionalRequestConflict), and ObjectLocked when it would replace a
 * protected null version. Reads the object only when one of them applies.
 */
export async function checkAtCommit(
  set: ErasureSet,
  bucket: string,
  object: string,
  versionId: string,
  options: WriteOptions,
): Promise<void> {
  // Unversioned buckets cannot hold locked versions (object lock needs versioning enabled),
  // and Enabled ones get a new id: only a suspended write replaces something lockable.
  const replacesNull = versionId === "null" && options.versioning === "Suspended";
  if (!options.preconditions && !replacesNull && !options.expected) return;
  const versions = await agreedOrNone(set, bucket, object, options.signal);
  checkPreconditions(options.preconditions, versions[0]?.version, `${bucket}/${object}`, true);
  checkExpected(options.expected, versions[0]?.version, `${bucket}/${object}`);
  const replaced = replacesNull
    ? versions.find((q) => q.version.versionId === "null")?.version
    : undefined;
  if (replaced && !replaced.deleteMarker) {
    checkRemovable(replaced.metadata, Date.now(), options.bypassGovernance);
  }
}

/** The agreed versions of an object; none when it does not exist. */
export function agreedOrNone(
  set: ErasureSet,
  bucket: string,
  object: string,
  signal?: AbortSignal,
): Promise<QuorumVersion[]> {
  return set.versions(bucket, object, signal).catch((err) => {
    if (err instanceof ObjectNotFound) return [];
    throw err;
  });
}

/** PreconditionFailed unless `version` (undefined: none) is the one `expected` names. */
export function checkExpected(
  expected: ExpectedVersion | undefined,
  version: ObjectVersion | undefined,
  what: string,
): void {
  if (!expected) return;
  if (
    version?.versionId !== expected.versionId || version.modTime !== expected.modTime.getTime()
  ) {
    throw new PreconditionFailed(`${what}: version ${expected.versionId} changed meanwhile`);
  }
}

/**
 * Throws unless `current` (the current version, undefined when there is none; a delete marker
 * counts as none) meets `conditions`. At the commit (`atCommit`) every failure is a conflict;
 * before it, If-Match on a missing object is 404 NoSuchKey, as AWS answers.
 */
export function checkPreconditions(
  conditions: WritePreconditions | undefined,
  current: ObjectVersion | undefined,
  what: string,
  atCommit: boolean,
): void {
  if (!conditions) return;
  const live = current?.deleteMarker ? undefined : current;
  const fail = (message: string) =>
    atCommit
      ? new ConditionalRequestConflict(`${what}: ${message} (a concurrent write)`)
      : new PreconditionFailed(`${what}: ${message}`);
  if (conditions.ifNoneMatch === "*" && live) throw fail("If-None-Match: * but it exists");
  if (conditions.ifMatch === undefined) return;
  if (!live) {
    if (atCommit) throw fail("If-Match but it is gone");
    throw new ObjectNotFound(`${what}: If-Match but there is no such object`);
  }
  if (conditions.ifMatch.replaceAll('"', "") !== live.etag) throw fail("If-Match: ETag differs");
}
