/**
 * Multipart uploads of one erasure set, kept in the system volume of its drives:
 *
 *   multipart/<bucket>/<sha256(object)>/<uploadId>/upload.json        the upload record
 *   multipart/<bucket>/<sha256(object)>/<uploadId>/part.N.json        one record per part
 *   multipart/<bucket>/<sha256(object)>/<uploadId>/<dataDir>/part.N   its erasure-coded shard
 *
 * Completing moves <dataDir> into the bucket with renameData, like a single-part put, records
 * its result for a repeated Complete (completed-uploads.ts), then removes the upload.
 * Upload ids start with the creation time in hex, so sorting ids sorts uploads by age.
 */
import { createHash } from "node:crypto";
import { SYSTEM_VOLUME } from "../storage/api.ts";
import { type ErasureSet, lockKey, nextModTime, objectInfo, versionIdFor } from "./erasure-set.ts";
import {
  EntityTooSmall,
  InsufficientReadQuorum,
  InvalidPart,
  InvalidPartOrder,
  NoSuchUpload,
} from "./errors.ts";
import { recordCompletion, repeatedCompletion } from "./completed-uploads.ts";
import type {
  CompleteMultipartOptions,
  CompletePart,
  ListPartsOptions,
  ListPartsResult,
  MultipartUploadInfo,
  ObjectInfo,
  ObjectMetadata,
  PartInfo,
  PutObjectOptions,
} from "./layer.ts";
import { commitVersion } from "./commit.ts";
import type { Release } from "./locker.ts";
import { newDataDir } from "./names.ts";
import { checkAtCommit, checkBeforeWrite, type WriteOptions } from "./preconditions.ts";
import { fanOut, type Outcome } from "./quorum.ts";
import { readRecord, writeRecord } from "./system-records.ts";
import { writeShardFiles } from "./shard-io.ts";
import { measure, type Measured } from "./md5.ts";
import { BITROT_ALGORITHM } from "../storage/xl-meta.ts";

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;
export const UPLOAD_ID =
  /^[0-9a-f]{12}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PART_RECORD = /^part\.([1-9][0-9]*)\.json$/;

export interface UploadRecord {
  object: string;
  metadata: ObjectMetadata;
  /** ms since the epoch */
  initiated: number;
  dataDir: string;
}

interface PartRecord {
  number: number;
  etag: string;
  /** Bytes stored. */
  size: number;
  /** Bytes of the part before it was transformed (PutObjectOptions.actualSize); absent: size. */
  actualSize?: number;
  modTime: number;
  metadata: ObjectMetadata;
}

function uploadPath(bucket: string, object: string, uploadId: string): string {
  return `multipart/${bucket}/${createHash("sha256").update(object).digest("hex")}/${uploadId}`;
}

function uploadKey(uploadId: string): string {
  return `${SYSTEM_VOLUME}/multipart/${uploadId}`;
}

export function toInfo(bucket: string, uploadId: string, r: UploadRecord): MultipartUploadInfo {
  return {
    bucket,
    object: r.object,
    uploadId,
    initiated: new Date(r.initiated),
    metadata: r.metadata,
  };
}

function toPartInfo(r: PartRecord): PartInfo {
  return {
    number: r.number,
    etag: r.etag,
    size: r.actualSize ?? r.size,
    modTime: new Date(r.modTime),
    metadata: r.metadata,
  };
}

export async function newMultipartUpload(
  set: ErasureSet,
  bucket: string,
  object: string,
  metadata: ObjectMetadata,
): Promise<string> {
  await set.bucketInfo(bucket);
  const now = Date.now();
  const uploadId = `${now.toString(16).padStart(12, "0")}-${crypto.randomUUID()}`;
  const record: UploadRecord = { object, metadata, initiated: now, dataDir: newDataDir() };
  const path = uploadPath(bucket, object, uploadId);
  const outcomes = await writeRecord(set, `${path}/upload.json`, record);
  await set.checkWrite(outcomes, `${bucket}/${object}`);
  return uploadId;
}

export async function getMultipartUpload(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
): Promise<MultipartUploadInfo> {
  return toInfo(bucket, uploadId, await readUpload(set, bucket, object, uploadId));
}

async function readUpload(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
): Promise<UploadRecord> {
  if (!UPLOAD_ID.test(uploadId)) throw new NoSuchUpload(uploadId);
  const path = uploadPath(bucket, object, uploadId);
  const { value, missing } = await readRecord<UploadRecord>(set, `${path}/upload.json`);
  if (value && value.object === object) return value;
  if (value || missing >= set.readQuorum) throw new NoSuchUpload(uploadId);
  throw new InsufficientReadQuorum(`upload ${uploadId}: too few drives answered`);
}

/**
 * Stores one part. Its old record is removed first, so a re-upload that fails midway leaves the
 * part absent (InvalidPart at completion) rather than an old record over new bytes.
 */
export async function putObjectPart(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
  partNumber: number,
  body: ReadableStream<Uint8Array>,
  options: PutObjectOptions,
): Promise<PartInfo> {
  if (!(Number.isInteger(partNumber) && partNumber >= 1 && partNumber <= MAX_PART_NUMBER)) {
    await body.cancel().catch(() => {});
    throw new InvalidPart(`part number ${partNumber} outside 1..${MAX_PART_NUMBER}`);
  }
  // Lock waits end with the request (LockTimeout); whatever was granted is given back.
  const lockOptions = { signal: options.signal };
  let releaseUpload: Release | undefined;
  let releasePart: Release;
  try {
    releaseUpload = await set.locks.read(uploadKey(uploadId), lockOptions);
    releasePart = await set.locks.write(`${uploadKey(uploadId)}/${partNumber}`, lockOptions);
  } catch (err) {
    releaseUpload?.();
    await body.cancel(err).catch(() => {});
    throw err;
  }
  let measured: Measured | undefined;
  try {
    const upload = await readUpload(set, bucket, object, uploadId).catch(async (err) => {
      await body.cancel(err).catch(() => {});
      throw err;
    });
    const path = uploadPath(bucket, object, uploadId);
    const recordPath = `${path}/part.${partNumber}.json`;
    await fanOut(set.drives, (d) => d.delete(SYSTEM_VOLUME, recordPath));
    measured = measure(body, options.size, !options.etag);
    const written = await writeShardFiles(
      set.codec,
      set.drives,
      set.distribution(object),
      SYSTEM_VOLUME,
      `${path}/${upload.dataDir}/part.${partNumber}`,
      measured.stream,
      set.writeQuorum,
    );
    const { size, md5 } = await measured.result();
    const record: PartRecord = {
      number: partNumber,
      etag: (await options.etag?.()) ?? md5,
      size,
      actualSize: options.actualSize ?? size,
      modTime: Date.now(),
      metadata: { ...options.metadata, ...options.finalMetadata?.() },
    };
    const outcomes = await writeRecord(set, recordPath, record, written);
    await set.checkWrite(outcomes, `${bucket}/${object} part ${partNumber}`);
    return toPartInfo(record);
  } finally {
    measured?.discard();
    releasePart();
    releaseUpload();
  }
}

export async function listObjectParts(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
  options: ListPartsOptions,
): Promise<ListPartsResult> {
  const upload = await readUpload(set, bucket, object, uploadId);
  const path = uploadPath(bucket, object, uploadId);
  const listings = await fanOut(set.drives, (d) => d.listDir(SYSTEM_VOLUME, path));
  const numbers = new Set<number>();
  for (const l of listings) {
    if (!l.ok) continue;
    for (const name of l.value) {
      const m = PART_RECORD.exec(name);
      if (m) numbers.add(Number(m[1]));
    }
  }
  const marker = options.partNumberMarker ?? 0;
  const candidates = [...numbers].filter((n) => n > marker).sort((a, b) => a - b);
  const parts: PartInfo[] = [];
  let isTruncated = false;
  for (const n of candidates) {
    const { value } = await readRecord<PartRecord>(set, `${path}/part.${n}.json`);
    if (!value) continue;
    if (parts.length === options.maxParts) {
      isTruncated = true;
      break;
    }
    parts.push(toPartInfo(value));
  }
  return {
    upload: toInfo(bucket, uploadId, upload),
    parts,
    isTruncated,
    nextPartNumberMarker: isTruncated ? parts.at(-1)?.number : undefined,
  };
}

export async function completeMultipartUpload(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
  parts: CompletePart[],
  options: CompleteMultipartOptions & WriteOptions,
): Promise<ObjectInfo> {
  return await set.locks.withWrite(uploadKey(uploadId), async () => {
    const upload = await readUpload(set, bucket, object, uploadId).catch((err) => {
      if (err instanceof NoSuchUpload) return undefined;
      throw err;
    });
    // Gone: completed already (the client retries a lost answer) or never there.
    if (!upload) return await repeatedCompletion(set, bucket, object, uploadId, parts);
    if (parts.length === 0) throw new InvalidPart("no parts listed");
    await checkBeforeWrite(set, bucket, object, options);
    for (let i = 1; i < parts.length; i++) {
      if (parts[i].number <= parts[i - 1].number) {
        throw new InvalidPartOrder(`part ${parts[i].number} listed after ${parts[i - 1].number}`);
      }
    }
    const path = uploadPath(bucket, object, uploadId);
    const participants = set.drives.map(() => true);
    const records: PartRecord[] = [];
    for (const part of parts) {
      const { value, holders } = await readRecord<PartRecord>(
        set,
        `${path}/part.${part.number}.json`,
      );
      if (!value || value.etag !== part.etag.replaceAll('"', "")) {
        throw new InvalidPart(`part ${part.number} not uploaded or its ETag differs`);
      }
      holders.forEach((h, i) => participants[i] &&= h);
      records.push(value);
    }
    records.slice(0, -1).forEach((r) => {
      const size = r.actualSize ?? r.size;
      if (size < MIN_PART_SIZE) throw new EntityTooSmall(`part ${r.number}: ${size} bytes`);
    });
    const md5s = createHash("md5");
    for (const r of records) md5s.update(hexBytes(r.etag));
    const etag = `${md5s.digest("hex")}-${records.length}`;
    const size = records.reduce((n, r) => n + r.size, 0);
    const finalMetadata = options.finalMetadata?.(
      toInfo(bucket, uploadId, upload),
      records.map(toPartInfo),
    );
    const version = set.newVersion(set.distribution(object), upload.dataDir, size, etag, {
      ...upload.metadata,
      ...finalMetadata,
    }, versionIdFor(options.versioning));
    version.parts = records.map((r) => ({
      number: r.number,
      size: r.size,
      etag: r.etag,
      actualSize: r.actualSize ?? r.size,
    }));
    version.checksums = records.map((r) => ({ part: r.number, algorithm: BITROT_ALGORITHM }));
    const dataPath = `${path}/${upload.dataDir}`;
    const keep = new Set(records.map((r) => `part.${r.number}`));
    await fanOut(set.drives, async (d) => {
      for (const name of await d.listDir(SYSTEM_VOLUME, dataPath)) {
        if (!keep.has(name)) await d.delete(SYSTEM_VOLUME, `${dataPath}/${name}`, true);
      }
    });
    const info = await set.locks.withWrite(lockKey(bucket, object), async () => {
      // A Complete that stopped (a crash) between its commit and its cleanup left a version
      // holding this upload's data: finish that one rather than write the object again. An
      // object that cannot be read is replaced, as before.
      const versions = await set.versions(bucket, object).catch(() => []);
      const done = versions.find((q) => q.version.dataDir === upload.dataDir);
      if (done) return objectInfo(bucket, object, done.version, done === versions[0]);
      await checkAtCommit(set, bucket, object, version.versionId, options);
      version.modTime = nextModTime();
      await commitVersion(set, { bucket, object, srcPath: dataPath, version, participants });
      return objectInfo(bucket, object, version);
    }, { signal: options.signal });
    await recordCompletion(set, uploadId, info);
    await removeUpload(set, path);
    return info;
  }, { signal: options.signal });
}

export async function abortMultipartUpload(
  set: ErasureSet,
  bucket: string,
  object: string,
  uploadId: string,
): Promise<void> {
  await set.locks.withWrite(uploadKey(uploadId), async () => {
    await readUpload(set, bucket, object, uploadId);
    const path = uploadPath(bucket, object, uploadId);
    const outcomes = await removeUpload(set, path);
    await set.checkWrite(outcomes, `upload ${uploadId}`);
  });
}

/** When an upload was created (ms since the epoch), from its id. */
export function uploadCreated(uploadId: string): number {
  return parseInt(uploadId.slice(0, 12), 16);
}

/**
 * Removes an expired upload's files from every drive, its record read or not: remnants on
 * fewer drives than a quorum (a create cut short) expire too. `path` is
 * multipart/<bucket>/<object hash>/<uploadId>.
 */
export async function expireUpload(set: ErasureSet, path: string): Promise<void> {
  const uploadId = path.slice(path.lastIndexOf("/") + 1);
  await set.locks.withWrite(uploadKey(uploadId), () => removeUpload(set, path));
}

/** Deletes an upload's directory, and its object's directory once no upload is left in it. */
function removeUpload(set: ErasureSet, path: string): Promise<Outcome<void>[]> {
  return fanOut(set.drives, async (d) => {
    await d.delete(SYSTEM_VOLUME, path, true);
    await d.delete(SYSTEM_VOLUME, path.slice(0, path.lastIndexOf("/"))).catch(() => {});
  });
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}
