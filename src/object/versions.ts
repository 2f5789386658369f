/**
 * Removing versions and changing them in place, on one erasure set: DeleteObject (a delete
 * marker, or the removal of one version, object lock permitting) and metadata updates that keep
 * a version's data and Last-Modified (tags, retention, legal hold, ACL).
 */
import { type ErasureSet, lockKey, nextModTime, objectInfo, versionIdFor } from "./erasure-set.ts";
import { InsufficientReadQuorum, ObjectDeleted, ObjectNotFound } from "./errors.ts";
import type { DeletedObject, ObjectInfo, ObjectMetadata } from "./layer.ts";
import { encodeObjectName } from "./names.ts";
import { commitVersion } from "./commit.ts";
import { checkRemovable } from "./object-lock.ts";
import { checkAtCommit, checkExpected, type WriteOptions } from "./preconditions.ts";
import {
  agreedVersions,
  fanOut,
  isMissing,
  type QuorumVersion,
  readMetas,
  withoutUnformatted,
} from "./quorum.ts";
import { FileNotFound } from "../storage/errors.ts";
import type { ObjectVersion } from "../storage/xl-meta.ts";

export interface SetDeleteOptions extends WriteOptions {
  /** Remove this version; absent: the object (unversioned) or a new delete marker. */
  versionId?: string;
}

/**
 * AWS's DeleteObject: without versionId, an unversioned bucket loses the object (its null
 * version) while a versioned one gets a delete marker (Suspended: the null version replaced
 * by it); with one, exactly that version goes. Missing objects and versions are no error.
 */
export async function deleteObject(
  set: ErasureSet,
  bucket: string,
  object: string,
  options: SetDeleteOptions,
): Promise<DeletedObject> {
  if (options.versionId !== undefined) {
    return await removeVersion(set, bucket, object, options.versionId, options);
  }
  if (options.versioning === undefined) {
    await removeVersion(set, bucket, object, "null", options);
    return { deleteMarker: false };
  }
  const versionId = versionIdFor(options.versioning);
  await set.locks.withWrite(lockKey(bucket, object), async () => {
    await checkAtCommit(set, bucket, object, versionId, options);
    // Made under the lock, so that its modTime orders it after every version committed before.
    const marker: ObjectVersion = {
      ...set.newVersion(set.distribution(object), "", 0, "", {}, versionId),
      deleteMarker: true,
      parts: [],
      checksums: [],
    };
    const participants = set.drives.map((d) => d.available);
    await commitVersion(set, { bucket, object, srcPath: "", version: marker, participants });
  }, { signal: options.signal });
  return { versionId, deleteMarker: true };
}

/** Removes one version from every drive holding it, unless object lock protects it. */
async function removeVersion(
  set: ErasureSet,
  bucket: string,
  object: string,
  versionId: string,
  options: SetDeleteOptions,
): Promise<DeletedObject> {
  const path = encodeObjectName(object);
  const what = `${bucket}/${object}`;
  return await set.locks.withWrite(lockKey(bucket, object), async () => {
    const metas = await withoutUnformatted(
      set.drives,
      await readMetas(set.drives, bucket, path, options.signal),
    );
    let found: QuorumVersion | undefined;
    try {
      found = agreedVersions(metas, set.readQuorum, what)
        .find((q) => q.version.versionId === versionId);
    } catch (err) {
      // An unversioned object's drives may disagree (a write cut short): it goes all the same.
      const unreadable = err instanceof InsufficientReadQuorum && options.versionId === undefined;
      if (!(err instanceof ObjectNotFound || unreadable)) throw err;
    }
    checkExpected(options.expected, found?.version, what);
    const deleted = { versionId: options.versionId, deleteMarker: !!found?.version.deleteMarker };
    if (found && !found.version.deleteMarker) {
      checkRemovable(found.version.metadata, Date.now(), options.bypassGovernance);
    }
    const held = metas.some((m) => m.ok && m.value.versions.some((v) => v.versionId === versionId));
    if (!held) return deleted;
    // Too few drives answering to reach write quorum: delete nowhere rather than somewhere.
    const answering = metas.filter((m) => m.ok || isMissing(m.error)).length;
    if (answering < set.writeQuorum) await set.checkWrite(metas, what);
    const outcomes = await fanOut(set.drives, (d, i) => {
      const call = { signal: options.signal };
      // Under the lock a drive's xl.meta is as just read: holding only this version, the
      // object goes whole, without the drive reading xl.meta again (an unversioned DELETE).
      const meta = metas[i];
      const only = meta.ok && meta.value.versions.length === 1 ? meta.value.versions[0] : undefined;
      const removal = only?.versionId === versionId
        ? d.deleteObject(
          bucket,
          path,
          only.inline || only.deleteMarker ? undefined : only.dataDir,
          call,
        )
        : d.deleteVersion(bucket, path, versionId, call);
      return removal.catch((err) => {
        if (!(err instanceof FileNotFound)) throw err;
      });
    });
    await set.checkWrite(outcomes, what);
    return deleted;
  }, { signal: options.signal });
}

/**
 * Replaces a version's metadata with `change(current)` under the object's write lock, its data
 * left alone. Last-Modified stays unless `touch` (a copy of an object onto itself); the
 * metadata stamp always moves on, so that drives that missed the change are told apart.
 */
export async function updateObjectMetadata(
  set: ErasureSet,
  bucket: string,
  object: string,
  change: (current: ObjectMetadata) => ObjectMetadata,
  options: { versionId?: string; touch?: boolean; signal?: AbortSignal } = {},
): Promise<ObjectInfo> {
  return await set.locks.withWrite(lockKey(bucket, object), async () => {
    const q = await set.version(bucket, object, options).catch((err) => {
      // A delete marker has no metadata to change (MethodNotAllowed), named or current.
      if (err instanceof ObjectDeleted && !options.touch) {
        throw new ObjectDeleted(err.message, err.versionId, true, err.modTime);
      }
      throw err;
    });
    const now = nextModTime();
    const version: ObjectVersion = {
      ...q.version,
      metadata: change({ ...q.version.metadata }),
      metadataModTime: Math.max(now, (q.version.metadataModTime ?? 0) + 1),
      modTime: options.touch ? now : q.version.modTime,
    };
    const inline: Uint8Array[] = [];
    for (const h of q.holders) if (h?.inline) inline[h.erasure.index - 1] = h.inline;
    await commitVersion(set, {
      bucket,
      object,
      srcPath: "",
      version,
      inline: version.inline ? inline : undefined,
      participants: q.holders.map((h) => h !== undefined),
    });
    return objectInfo(bucket, object, version, q.isLatest);
  }, { signal: options.signal });
}
