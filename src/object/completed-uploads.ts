/**
 * Records of completed multipart uploads, so that a repeated CompleteMultipartUpload (the first
 * one succeeded but its answer was lost, and SDKs retry it) gets the first one's result, as S3
 * answers, instead of NoSuchUpload — without writing the object again:
 *
 *   multipart/<bucket>/completed/<uploadId>.json     on every drive of the upload's set
 *
 * A record lasts COMPLETED_UPLOAD_TTL_MS. Expired records are void; they are removed when read
 * and by sweepCompletedUploads, which the background scanner runs.
 */
import { type StorageAPI, SYSTEM_VOLUME } from "../storage/api.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { InsufficientReadQuorum, NoSuchUpload } from "./errors.ts";
import type { CompletePart, ObjectInfo, ObjectMetadata, PartSummary } from "./layer.ts";
import { fanOut } from "./quorum.ts";
import { listOrNone, readRecord, writeRecord } from "./system-records.ts";
import { UPLOAD_ID } from "./multipart.ts";

/**
 * SDKs retry a Complete within seconds to minutes; a day also covers tools that retry after
 * their own crash or restart, and stays short enough that records (≈ 100 bytes per part) do
 * not pile up.
 */
export const COMPLETED_UPLOAD_TTL_MS = 24 * 60 * 60 * 1000;
/** Directory of the records in multipart/<bucket>/, beside the object hashes (64 hex digits). */
const COMPLETED_DIR = "completed";

interface CompletedUpload {
  object: string;
  /** The parts the Complete listed (ETags unquoted), as the object holds them. */
  parts: PartSummary[];
  etag: string;
  size: number;
  /** Absent in records written before objects could be stored transformed: size. */
  storedSize?: number;
  /** ms since the epoch */
  modTime: number;
  versionId: string;
  metadata: ObjectMetadata;
  /** ms since the epoch from which the record is void. */
  expires: number;
}

function completedPath(bucket: string, uploadId: string): string {
  return `multipart/${bucket}/${COMPLETED_DIR}/${uploadId}.json`;
}

/**
 * Keeps the result of a Complete, before its upload is removed. Best effort: the object is in
 * place whatever happens here, and without a quorum of records a retry gets NoSuchUpload.
 */
export async function recordCompletion(
  set: ErasureSet,
  uploadId: string,
  info: ObjectInfo,
  now = Date.now(),
): Promise<void> {
  const record: CompletedUpload = {
    object: info.name,
    parts: info.parts,
    etag: info.etag,
    size: info.size,
    storedSize: info.storedSize,
    modTime: info.modTime.getTime(),
    versionId: info.versionId,
    metadata: info.metadata,
    expires: now + COMPLETED_UPLOAD_TTL_MS,
  };
  await writeRecord(set, completedPath(info.bucket, uploadId), record);
}

/**
 * The result of the Complete that finished `uploadId` of `object` with exactly `parts`.
 * NoSuchUpload when there was none, it listed other parts (S3 documents NoSuchUpload for a
 * completed upload) or its record expired.
 */
export async function repeatedCompletion(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
  parts: CompletePart[],
  now = Date.now(),
): Promise<ObjectInfo> {
  // An id no upload could have names no record (and must not become a path).
  if (!UPLOAD_ID.test(uploadId)) throw new NoSuchUpload(uploadId);
  const path = completedPath(bucket, uploadId);
  const { value, missing } = await readRecord<CompletedUpload>(set, path);
  if (!value) {
    if (missing >= set.readQuorum) throw new NoSuchUpload(uploadId);
    throw new InsufficientReadQuorum(`completed upload ${uploadId}: too few drives answered`);
  }
  if (value.expires <= now) {
    await fanOut(set.drives, (d) => d.delete(SYSTEM_VOLUME, path));
    throw new NoSuchUpload(uploadId);
  }
  const same = value.object === object && value.parts.length === parts.length &&
    value.parts.every((p, i) =>
      p.number === parts[i].number && p.etag === parts[i].etag.replaceAll('"', "")
    );
  if (!same) throw new NoSuchUpload(uploadId);
  return {
    bucket,
    name: object,
    size: value.size,
    storedSize: value.storedSize ?? value.size,
    etag: value.etag,
    modTime: new Date(value.modTime),
    versionId: value.versionId,
    isLatest: true,
    deleteMarker: false,
    metadata: value.metadata,
    parts: value.parts,
  };
}

/**
 * Removes the expired (or unreadable) completion records of every bucket from each drive of
 * the set; resolves to the number of files removed. For the background scanner.
 */
export async function sweepCompletedUploads(set: ErasureSet, now = Date.now()): Promise<number> {
  const perDrive = await fanOut(set.drives, async (drive) => {
    let removed = 0;
    for (const bucket of await listOrNone(drive, "multipart")) {
      if (!bucket.endsWith("/")) continue;
      const dir = `multipart/${bucket}${COMPLETED_DIR}`;
      for (const name of await listOrNone(drive, dir)) {
        if (await isExpired(drive, `${dir}/${name}`, now)) {
          await drive.delete(SYSTEM_VOLUME, `${dir}/${name}`);
          removed++;
        }
      }
    }
    return removed;
  });
  return perDrive.reduce((n, o) => n + (o.ok ? o.value : 0), 0);
}

/** Expired, or not a record at all; a record that cannot be read now is left alone. */
async function isExpired(drive: StorageAPI, path: string, now: number): Promise<boolean> {
  let bytes: Uint8Array;
  try {
    bytes = await drive.readAll(SYSTEM_VOLUME, path);
  } catch {
    return false;
  }
  try {
    const expires = (JSON.parse(new TextDecoder().decode(bytes)) as CompletedUpload).expires;
    return !(typeof expires === "number" && expires > now);
  } catch {
    return true;
  }
}
