/**
 * The object layer: the one interface S3 handlers call. It knows buckets, objects and
 * multipart uploads; it knows nothing of HTTP. Implemented by Pools (pools.ts) over erasure
 * sets. Methods throw the typed errors of ./errors.ts.
 */
import type { DriveState } from "../storage/drive-handle.ts";

export interface BucketInfo {
  name: string;
  created: Date;
}

/** Metadata stored with an object besides its bytes. Keys are lower-case header names. */
export type ObjectMetadata = Record<string, string>;

export interface ObjectInfo {
  bucket: string;
  name: string;
  /** The object's size; before any transformation of its bytes (PutObjectOptions.actualSize). */
  size: number;
  /** The bytes stored for it (differs from size for an object stored transformed). */
  storedSize: number;
  /** Hex MD5 for single-part objects, "<md5 of md5s>-N" for multipart ones; no quotes. */
  etag: string;
  modTime: Date;
  /** The version's id; "null" for the null version (written while versioning was off or suspended). */
  versionId: string;
  /** The object's current version (GET/HEAD without versionId always see it). */
  isLatest: boolean;
  /** A delete marker: no data, size 0 (listings of versions, and DeleteObject's result). */
  deleteMarker: boolean;
  /** content-type, content-encoding, cache-control, …, x-amz-meta-*, x-amz-checksum-* … */
  metadata: ObjectMetadata;
  /** Multipart objects: the size of each part, in order (for part-number GETs and checksums). */
  parts: PartSummary[];
}

export interface PartSummary {
  number: number;
  size: number;
  etag: string;
}

/** A bucket's versioning state; undefined: never enabled (unversioned). */
export type VersioningState = "Enabled" | "Suspended";

/**
 * Where the object layer learns a bucket's versioning state on every write path (the
 * bucket-metadata store implements it; without one every bucket is unversioned).
 */
export interface BucketVersioning {
  versioning(bucket: string): Promise<VersioningState | undefined>;
}

/** What every object call may carry. */
export interface ObjectOptions {
  /** A version of the object ("null": the null version); absent: the current version. */
  versionId?: string;
  /** Abandons the call (client gone): drive calls still in flight are cancelled. */
  signal?: AbortSignal;
}

/**
 * Conditional writes (AWS, 2024), checked against the current version under the object's write
 * lock. Failing before the write: PreconditionFailed; passing then, but not at the commit (a
 * concurrent write won): ConditionalRequestConflict.
 */
export interface WritePreconditions {
  /** If-None-Match: "*": fail when a current version exists (a delete marker is none). */
  ifNoneMatch?: "*";
  /** If-Match: the current version's ETag (quotes ignored); fails when there is none. */
  ifMatch?: string;
}

export interface PutObjectOptions {
  /** Exact body length in bytes, or -1 when unknown (streamed). */
  size: number;
  metadata: ObjectMetadata;
  /**
   * Called once the body has been read in full and before the object becomes visible; what
   * it returns is merged into the stored metadata (e.g. checksums computed while streaming).
   * Verification failures are raised by the body stream itself erroring, which aborts the put.
   */
  finalMetadata?: () => ObjectMetadata;
  preconditions?: WritePreconditions;
  signal?: AbortSignal;
  /**
   * The body is a transformation of the object's bytes (encrypted): how many bytes the object
   * has before it. ObjectInfo.size and part sizes report it; the bytes stored (and the ranges
   * getObject takes) are the body's. Absent: the body's own length.
   */
  actualSize?: number;
  /**
   * Called once the body has been read in full: the ETag to store instead of the MD5 of the
   * body (an encrypted object's is the MD5 of its plaintext, or none derived from it).
   */
  etag?: () => string | Promise<string>;
}

/** Inclusive byte range, already resolved against the object size by the caller. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface GetObjectOptions extends ObjectOptions {
  /** Of the bytes stored: the object's own unless it was stored transformed (actualSize). */
  range?: ByteRange;
}

export interface GetObjectResult {
  info: ObjectInfo;
  /**
   * The requested bytes; bitrot-verified, reconstructed from parity where needed. Each chunk
   * is the reader's alone, free to change (a decrypting reader opens packages in place).
   */
  body: ReadableStream<Uint8Array>;
}

export interface CopyObjectOptions {
  /** The source's version (x-amz-copy-source ?versionId=); absent: its current version. */
  srcVersionId?: string;
  /** Conditions on the destination's current version. */
  preconditions?: WritePreconditions;
  signal?: AbortSignal;
  /**
   * The copy's metadata from the metadata of the source version being copied (the source's
   * own when absent): computed from what is read with the data, so that a source overwritten
   * meanwhile cannot lend its new metadata (checksums) to the old bytes.
   */
  metadata?: (source: ObjectMetadata) => ObjectMetadata;
}

export interface ListObjectsOptions {
  prefix?: string;
  delimiter?: string;
  /** Start strictly after this key (marker / start-after / decoded continuation token). */
  marker?: string;
  /** 0–1000; the caller clamps. */
  maxKeys: number;
}

export interface ListObjectsResult {
  objects: ObjectInfo[];
  /** Common prefixes (each ends with the delimiter), in order, deduplicated. */
  prefixes: string[];
  isTruncated: boolean;
  /** The last key or prefix returned when truncated: the marker of the next page. */
  nextMarker?: string;
}

export interface DeleteObjectOptions extends ObjectOptions {
  /** x-amz-bypass-governance-retention, granted: a GOVERNANCE retention does not protect. */
  bypassGovernance?: boolean;
  /**
   * Delete only while the version acted on (versionId's, else the current one) is still this
   * one, as judged earlier (lifecycle); PreconditionFailed otherwise. Checked under the
   * object's write lock, so a version written meanwhile is never the one removed or hidden.
   */
  expected?: ExpectedVersion;
}

/** A version as it was read: its id and Last-Modified tell it from any written later. */
export interface ExpectedVersion {
  versionId: string;
  modTime: Date;
}

/** What a delete did. Deleting a missing object (or version) is not an error. */
export interface DeletedObject {
  /** The version removed, or the delete marker created; absent in an unversioned bucket. */
  versionId?: string;
  /** A delete marker was created, or the version removed was one. */
  deleteMarker: boolean;
}

export interface ObjectToDelete {
  name: string;
  versionId?: string;
}

export interface DeleteResult {
  name: string;
  /** As asked. */
  versionId?: string;
  /** Set when it was deleted. */
  deleted?: DeletedObject;
  /** Set when this object could not be deleted. */
  error?: Error;
}

export interface ListVersionsOptions {
  prefix?: string;
  delimiter?: string;
  /** Start after this key (with versionIdMarker: after that version of it). */
  keyMarker?: string;
  versionIdMarker?: string;
  /** 0–1000; the caller clamps. */
  maxKeys: number;
}

export interface ListVersionsResult {
  /** Versions and delete markers, by key, each key's newest first (isLatest on the current one). */
  versions: ObjectInfo[];
  prefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

export interface MultipartUploadInfo {
  bucket: string;
  object: string;
  uploadId: string;
  initiated: Date;
  metadata: ObjectMetadata;
}

export interface PartInfo {
  number: number;
  etag: string;
  size: number;
  modTime: Date;
  /** Checksums computed for this part (x-amz-checksum-*), if any. */
  metadata: ObjectMetadata;
}

export interface ListPartsOptions {
  partNumberMarker?: number;
  maxParts: number;
}

export interface ListPartsResult {
  upload: MultipartUploadInfo;
  parts: PartInfo[];
  isTruncated: boolean;
  nextPartNumberMarker?: number;
}

export interface ListUploadsOptions {
  prefix?: string;
  delimiter?: string;
  keyMarker?: string;
  uploadIdMarker?: string;
  maxUploads: number;
}

export interface ListUploadsResult {
  uploads: MultipartUploadInfo[];
  prefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
}

export interface CompleteMultipartOptions {
  /**
   * Called once the listed parts are checked and before the object is written, with the upload
   * and its listed parts (their stored metadata included); what it returns is merged into the
   * object's metadata (a composite checksum). It may throw to refuse the Complete. A repeated
   * Complete of a completed upload does not call it: it gets the first one's result.
   */
  finalMetadata?: (upload: MultipartUploadInfo, parts: PartInfo[]) => ObjectMetadata;
  preconditions?: WritePreconditions;
  signal?: AbortSignal;
}

export interface CompletePart {
  number: number;
  /** As sent by the client; quotes are ignored when comparing. */
  etag: string;
}

export interface HealResult {
  bucket: string;
  object: string;
  /** Drives (by endpoint) whose shards or metadata were rewritten. */
  healedDrives: string[];
  /** Why each healed drive was rewritten, by endpoint (not for remnants purged). */
  reasons?: Record<string, HealReason>;
}

/** What a heal found wrong on a drive: its xl.meta, or its shard file (absent, size, bitrot). */
export type HealReason = "metadata" | "missing" | "size" | "bitrot";

export interface StorageInfo {
  drives: {
    endpoint: string;
    /** online, offline, or healing (formatted anew, being rebuilt). */
    state: DriveState;
    /** Takes reads and writes: online or healing. */
    online: boolean;
    total: number;
    free: number;
  }[];
  sets: { dataShards: number; parityShards: number; drives: number }[];
  deploymentId?: string;
  /** Objects waiting to be healed, when the layer heals in the background. */
  healQueueLength?: number;
  /** Heals since the start (queue and tasks): objects healed, failed, found whole; bytes healed. */
  heals?: {
    healed: number;
    failed: number;
    clean: number;
    bytes: number;
    tasks: Record<HealProgress["state"], number>;
  };
}

export interface ObjectLayer {
  makeBucket(bucket: string): Promise<void>;
  getBucketInfo(bucket: string): Promise<BucketInfo>;
  listBuckets(): Promise<BucketInfo[]>;
  /** BucketNotEmpty unless force. */
  deleteBucket(bucket: string, force?: boolean): Promise<void>;

  putObject(
    bucket: string,
    object: string,
    body: ReadableStream<Uint8Array>,
    options: PutObjectOptions,
  ): Promise<ObjectInfo>;
  getObject(bucket: string, object: string, options?: GetObjectOptions): Promise<GetObjectResult>;
  getObjectInfo(bucket: string, object: string, options?: ObjectOptions): Promise<ObjectInfo>;
  /**
   * Without versionId: removes the object (unversioned bucket) or adds a delete marker
   * (versioning enabled or suspended). With one: removes that version, unless object lock
   * protects it (ObjectLocked). Missing objects and versions are not an error.
   */
  deleteObject(
    bucket: string,
    object: string,
    options?: DeleteObjectOptions,
  ): Promise<DeletedObject>;
  deleteObjects(
    bucket: string,
    objects: ObjectToDelete[],
    options?: { bypassGovernance?: boolean },
  ): Promise<DeleteResult[]>;
  copyObject(
    srcBucket: string,
    srcObject: string,
    dstBucket: string,
    dstObject: string,
    options: CopyObjectOptions,
  ): Promise<ObjectInfo>;
  /**
   * Replaces a version's metadata with `change(current)` under the object's write lock, its
   * data and Last-Modified left alone (ACL, tags, retention, legal hold); `change` may throw
   * to refuse. A delete marker has no metadata to change (MethodNotAllowed).
   */
  updateObjectMetadata(
    bucket: string,
    object: string,
    change: (current: ObjectMetadata) => ObjectMetadata,
    options?: ObjectOptions,
  ): Promise<ObjectInfo>;
  /** The current versions that are not delete markers. */
  listObjects(bucket: string, options: ListObjectsOptions): Promise<ListObjectsResult>;
  listObjectVersions(bucket: string, options: ListVersionsOptions): Promise<ListVersionsResult>;

  newMultipartUpload(bucket: string, object: string, metadata: ObjectMetadata): Promise<string>;
  putObjectPart(
    bucket: string,
    object: string,
    uploadId: string,
    partNumber: number,
    body: ReadableStream<Uint8Array>,
    options: PutObjectOptions,
  ): Promise<PartInfo>;
  /** Upload record without parts (ListParts needs it, UploadPart checks the id exists). */
  getMultipartUpload(
    bucket: string,
    object: string,
    uploadId: string,
  ): Promise<MultipartUploadInfo>;
  listObjectParts(
    bucket: string,
    object: string,
    uploadId: string,
    options: ListPartsOptions,
  ): Promise<ListPartsResult>;
  completeMultipartUpload(
    bucket: string,
    object: string,
    uploadId: string,
    parts: CompletePart[],
    options?: CompleteMultipartOptions,
  ): Promise<ObjectInfo>;
  abortMultipartUpload(bucket: string, object: string, uploadId: string): Promise<void>;
  listMultipartUploads(bucket: string, options: ListUploadsOptions): Promise<ListUploadsResult>;

  /** Rebuilds missing or corrupt shards and metadata of one object on the drives lacking them. */
  healObject(bucket: string, object: string): Promise<HealResult>;
  storageInfo(): Promise<StorageInfo>;
  /** True when every erasure set can take a write (ready endpoint). */
  isWritable(): Promise<boolean>;
  /** Stops background work (heal queue); the server calls it on shutdown. */
  close(): Promise<void>;
}

/**
 * Small server records (IAM, bucket metadata) by path, e.g. "iam/users/alice.json": kept
 * erasure-coded through the object layer (quorum, bitrot checks, heal), each write atomic.
 */
export interface ConfigStore {
  /** Undefined: no such record. */
  readConfig(path: string): Promise<Uint8Array | undefined>;
  writeConfig(path: string, data: Uint8Array): Promise<void>;
  /**
   * Writes `data` unless the record exists, atomically under the record's lock (distributed in a
   * cluster): nodes starting together agree on one record made once. Resolves to the record
   * that is there afterwards.
   */
  createConfig(path: string, data: Uint8Array): Promise<Uint8Array>;
  /** Deleting a missing record is not an error. */
  deleteConfig(path: string): Promise<void>;
  /** The paths of the records under `prefix`, in key order. */
  listConfig(prefix: string): Promise<string[]>;
}

/** What an administrator asks to heal: everything, one bucket, or a prefix of one. */
export interface HealRequest {
  bucket?: string;
  /** Only with bucket. */
  prefix?: string;
  /** Read and verify every shard of every version (parity included), not only its presence. */
  deep: boolean;
}

/** A heal running in the background, as the admin API reports it. */
export interface HealProgress {
  id: string;
  /** "request": an administrator's heal; "drive": rebuilding a replaced or returned drive. */
  kind: "request" | "drive";
  request?: HealRequest;
  /** The drive being rebuilt (endpoint), for kind "drive". */
  drive?: string;
  state: "running" | "done" | "failed";
  started: Date;
  finished?: Date;
  objectsScanned: number;
  objectsHealed: number;
  objectsFailed: number;
  bytesHealed: number;
  /** Estimates of the whole task, for a progress bar and an ETA, once known. */
  objectsTotal?: number;
  bytesTotal?: number;
  error?: string;
}

export interface ScannerStatus {
  running: boolean;
  cycles: number;
  lastCycle?: { started: Date; durationMs: number; objects: number };
  /** Since the server started. */
  objectsDamaged: number;
  garbageDataDirs: number;
  garbageBytes: number;
  uploadsExpired: number;
}

export interface BucketUsage {
  bucket: string;
  objects: number;
  bytes: number;
  /** When the scanner last counted it. */
  updated: Date;
}

/** Background care of a deployment: heals on request, the scanner's findings, usage. */
export interface Maintenance {
  startHeal(request: HealRequest): Promise<HealProgress>;
  healStatus(id: string): HealProgress | undefined;
  healTasks(): HealProgress[];
  scannerStatus(): ScannerStatus;
  usage(): BucketUsage[];
}
