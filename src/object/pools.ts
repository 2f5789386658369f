/**
 * The object layer over a deployment's erasure sets. An object lives in the set chosen by the
 * CRC32 of its name; buckets exist on every set; listings merge all sets.
 */
import { crc32 } from "../../ffi/isal.ts";
import { SYSTEM_VOLUME } from "../storage/api.ts";
import { ConfigRecords, isConfigRecord } from "./config-store.ts";
import type { DriveHandle } from "../storage/drive-handle.ts";
import { ErasureSet } from "./erasure-set.ts";
import { BucketExists, BucketNotEmpty } from "./errors.ts";
import { healObject } from "./heal.ts";
import { HEALING_FILE, HealTasks, parseHealingRecord } from "./heal-task.ts";
import type {
  BucketInfo,
  BucketUsage,
  BucketVersioning,
  CompleteMultipartOptions,
  CompletePart,
  ConfigStore,
  CopyObjectOptions,
  DeletedObject,
  DeleteObjectOptions,
  DeleteResult,
  GetObjectOptions,
  GetObjectResult,
  HealProgress,
  HealRequest,
  HealResult,
  ListObjectsOptions,
  ListObjectsResult,
  ListPartsOptions,
  ListPartsResult,
  ListUploadsOptions,
  ListUploadsResult,
  ListVersionsOptions,
  ListVersionsResult,
  Maintenance,
  MultipartUploadInfo,
  ObjectInfo,
  ObjectLayer,
  ObjectMetadata,
  ObjectOptions,
  ObjectToDelete,
  PartInfo,
  PutObjectOptions,
  StorageInfo,
  VersioningState,
} from "./layer.ts";
import { listObjects } from "./list.ts";
import { listObjectVersions } from "./list-versions.ts";
import * as multipart from "./multipart.ts";
import * as versions from "./versions.ts";
import { listUploads, pageUploads } from "./upload-list.ts";
import { checkBucketName, checkObjectName, checkVersionId } from "./names.ts";
import { NamespaceLocks } from "./ns-lock.ts";
import type { Locker } from "./locker.ts";
import { fanOut } from "./quorum.ts";
import { Scanner, type ScannerOptions, type ScannerTotals } from "./scanner.ts";
import { HealQueue } from "./mrf.ts";
import { HealJournal } from "./mrf-journal.ts";

export interface PoolsOptions {
  /** Parity shards per set (m); each set of n drives stores objects as (n−m)+m. */
  parity: number;
  deploymentId: string;
  /** Namespace locks (in-process unless the deployment spans nodes: cluster/dsync.ts). */
  locker?: Locker;
}

const utf8 = new TextEncoder();
const IDLE_SCANNER: ScannerTotals = {
  running: false,
  cycles: 0,
  objectsDamaged: 0,
  garbageDataDirs: 0,
  garbageTempEntries: 0,
  garbageBytes: 0,
  uploadsExpired: 0,
};

export class Pools implements ObjectLayer, Maintenance, ConfigStore {
  readonly sets: ErasureSet[];
  readonly healQueue: HealQueue;
  readonly #heals: HealTasks;
  readonly #unsubscribe: (() => void)[] = [];
  #closing = false;
  #versioning?: BucketVersioning;
  readonly #locks: Locker;
  readonly #config: ConfigRecords;
  #scanner?: Scanner;

  constructor(sets: DriveHandle[][], readonly options: PoolsOptions) {
    if (sets.length === 0) throw new RangeError("no erasure sets");
    this.#locks = options.locker ?? new NamespaceLocks();
    this.sets = sets.map((drives) =>
      new ErasureSet(drives, {
        parity: options.parity,
        setCount: sets.length,
        locks: this.#locks,
        onDegraded: (bucket, object) => this.healQueue.enqueue(bucket, object),
      })
    );
    this.#heals = new HealTasks({
      bytesIn: () => {
        const usage = this.usage();
        return usage.length > 0 ? usage.reduce((n, u) => n + u.bytes, 0) : undefined;
      },
      oneSet: this.sets.length === 1,
    });
    const journal = new HealJournal(this.sets, (object) => this.sets.indexOf(this.setOf(object)));
    this.healQueue = new HealQueue(
      (bucket, object) => this.#heals.healQueued(this.#healed(bucket, object), bucket, object),
      { journal },
    );
    this.#config = new ConfigRecords(this.sets, (object) => this.setOf(object));
  }

  /** The set that holds `object`. */
  setOf(object: string): ErasureSet {
    if (this.sets.length === 1) return this.sets[0];
    return this.sets[crc32(utf8.encode(object)) % this.sets.length];
  }

  #object(bucket: string, object: string): ErasureSet {
    checkBucketName(bucket);
    checkObjectName(object);
    return this.setOf(object);
  }

  /** The set of an object the heal queue holds: a bucket's, or a config record's. */
  #healed(bucket: string, object: string): ErasureSet {
    return bucket === SYSTEM_VOLUME && isConfigRecord(object)
      ? this.setOf(object)
      : this.#object(bucket, object);
  }

  readConfig(path: string): Promise<Uint8Array | undefined> {
    return this.#config.readConfig(path);
  }

  writeConfig(path: string, data: Uint8Array): Promise<void> {
    return this.#config.writeConfig(path, data);
  }

  createConfig(path: string, data: Uint8Array): Promise<Uint8Array> {
    return this.#config.createConfig(path, data);
  }

  deleteConfig(path: string): Promise<void> {
    return this.#config.deleteConfig(path);
  }

  listConfig(prefix: string): Promise<string[]> {
    return this.#config.listConfig(prefix);
  }

  async makeBucket(bucket: string): Promise<void> {
    checkBucketName(bucket);
    const results = await Promise.allSettled(this.sets.map((s) => s.makeBucket(bucket)));
    const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    if (failed.length === 0) return;
    // Existing on every set: a real conflict. On some only: an earlier partial create, done now.
    if (
      failed.length === this.sets.length && failed.every((r) => r.reason instanceof BucketExists)
    ) {
      throw new BucketExists(bucket);
    }
    const hard = failed.find((r) => !(r.reason instanceof BucketExists));
    if (hard) {
      await Promise.allSettled(
        this.sets.map((s, i) => results[i].status === "fulfilled" ? s.deleteBucket(bucket) : null),
      );
      throw hard.reason;
    }
  }

  async getBucketInfo(bucket: string): Promise<BucketInfo> {
    checkBucketName(bucket);
    const infos = await Promise.all(this.sets.map((s) => s.bucketInfo(bucket)));
    return infos.reduce((a, b) => (a.created <= b.created ? a : b));
  }

  async listBuckets(): Promise<BucketInfo[]> {
    const perSet = await Promise.all(this.sets.map((s) => s.listBuckets()));
    return perSet[0].filter((b) => perSet.every((list) => list.some((x) => x.name === b.name)))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async deleteBucket(bucket: string, force = false): Promise<void> {
    await this.getBucketInfo(bucket);
    if (!force) {
      // Versions and delete markers alone keep a bucket from being empty (AWS).
      const page = await listObjectVersions(this.sets, bucket, { maxKeys: 1 });
      if (page.versions.length > 0) throw new BucketNotEmpty(bucket);
    }
    for (const s of this.sets) await s.deleteBucket(bucket);
  }

  /** Where every write path learns a bucket's versioning state (the bucket-metadata store). */
  setBucketVersioning(source: BucketVersioning): void {
    this.#versioning = source;
  }

  async #versioningOf(bucket: string): Promise<VersioningState | undefined> {
    return await this.#versioning?.versioning(bucket);
  }

  async putObject(
    bucket: string,
    object: string,
    body: ReadableStream<Uint8Array>,
    options: PutObjectOptions,
  ): Promise<ObjectInfo> {
    let set: ErasureSet;
    let versioning: VersioningState | undefined;
    try {
      set = this.#object(bucket, object);
      versioning = await this.#versioningOf(bucket);
    } catch (err) {
      await body.cancel(err).catch(() => {});
      throw err;
    }
    return await set.putObject(bucket, object, body, { ...options, versioning });
  }

  getObject(
    bucket: string,
    object: string,
    options: GetObjectOptions = {},
  ): Promise<GetObjectResult> {
    return this.#call(bucket, object, (s) => s.getObject(bucket, object, options), options);
  }

  getObjectInfo(bucket: string, object: string, options: ObjectOptions = {}): Promise<ObjectInfo> {
    return this.#call(bucket, object, (s) => s.getObjectInfo(bucket, object, options), options);
  }

  deleteObject(
    bucket: string,
    object: string,
    options: DeleteObjectOptions = {},
  ): Promise<DeletedObject> {
    return this.#call(bucket, object, async (s) => {
      const versioning = await this.#versioningOf(bucket);
      return await versions.deleteObject(s, bucket, object, { ...options, versioning });
    }, options);
  }

  async deleteObjects(
    bucket: string,
    objects: ObjectToDelete[],
    options: { bypassGovernance?: boolean } = {},
  ): Promise<DeleteResult[]> {
    await this.getBucketInfo(bucket);
    const results: DeleteResult[] = [];
    for (const { name, versionId } of objects) {
      results.push(
        await this.deleteObject(bucket, name, { versionId, ...options }).then(
          (deleted) => ({ name, versionId, deleted }),
          (error: Error) => ({ name, versionId, error }),
        ),
      );
    }
    return results;
  }

  async copyObject(
    srcBucket: string,
    srcObject: string,
    dstBucket: string,
    dstObject: string,
    options: CopyObjectOptions,
  ): Promise<ObjectInfo> {
    const src = this.#object(srcBucket, srcObject);
    const dst = this.#object(dstBucket, dstObject);
    const { srcVersionId, preconditions, signal } = options;
    checkVersionId(srcVersionId);
    const metadata = options.metadata ?? ((source: ObjectMetadata) => source);
    const versioning = await this.#versioningOf(dstBucket);
    // An unversioned object copied onto itself keeps its data: only its metadata is rewritten.
    // Anywhere else a copy is a new version (restoring an old version is a copy of it).
    const inPlace = srcBucket === dstBucket && srcObject === dstObject &&
      versioning === undefined && (srcVersionId ?? "null") === "null" && !preconditions;
    if (inPlace) {
      return await versions.updateObjectMetadata(src, srcBucket, srcObject, metadata, {
        touch: true,
        signal,
      });
    }
    const { info, body } = await src.getObject(srcBucket, srcObject, {
      versionId: srcVersionId,
      signal,
    });
    return await dst.putObject(dstBucket, dstObject, body, {
      size: info.storedSize,
      actualSize: info.size,
      metadata: metadata(info.metadata),
      preconditions,
      signal,
      versioning,
    });
  }

  updateObjectMetadata(
    bucket: string,
    object: string,
    change: (current: ObjectMetadata) => ObjectMetadata,
    options: ObjectOptions = {},
  ): Promise<ObjectInfo> {
    return this.#call(
      bucket,
      object,
      (s) => versions.updateObjectMetadata(s, bucket, object, change, options),
      options,
    );
  }

  async listObjects(bucket: string, options: ListObjectsOptions): Promise<ListObjectsResult> {
    await this.getBucketInfo(bucket);
    return await listObjects(this.sets, bucket, options);
  }

  async listObjectVersions(
    bucket: string,
    options: ListVersionsOptions,
  ): Promise<ListVersionsResult> {
    checkVersionId(options.versionIdMarker);
    await this.getBucketInfo(bucket);
    return await listObjectVersions(this.sets, bucket, options);
  }

  newMultipartUpload(bucket: string, object: string, metadata: ObjectMetadata): Promise<string> {
    return this.#call(
      bucket,
      object,
      (s) => multipart.newMultipartUpload(s, bucket, object, metadata),
    );
  }

  putObjectPart(
    bucket: string,
    object: string,
    uploadId: string,
    partNumber: number,
    body: ReadableStream<Uint8Array>,
    options: PutObjectOptions,
  ): Promise<PartInfo> {
    try {
      const set = this.#object(bucket, object);
      return multipart.putObjectPart(set, bucket, object, uploadId, partNumber, body, options);
    } catch (err) {
      return body.cancel(err).catch(() => {}).then(() => Promise.reject(err));
    }
  }

  getMultipartUpload(
    bucket: string,
    object: string,
    uploadId: string,
  ): Promise<MultipartUploadInfo> {
    return this.#call(
      bucket,
      object,
      (s) => multipart.getMultipartUpload(s, bucket, object, uploadId),
    );
  }

  listObjectParts(
    bucket: string,
    object: string,
    uploadId: string,
    options: ListPartsOptions,
  ): Promise<ListPartsResult> {
    return this.#call(
      bucket,
      object,
      (s) => multipart.listObjectParts(s, bucket, object, uploadId, options),
    );
  }

  completeMultipartUpload(
    bucket: string,
    object: string,
    uploadId: string,
    parts: CompletePart[],
    options: CompleteMultipartOptions = {},
  ): Promise<ObjectInfo> {
    return this.#call(bucket, object, async (s) => {
      const versioning = await this.#versioningOf(bucket);
      return await multipart.completeMultipartUpload(s, bucket, object, uploadId, parts, {
        ...options,
        versioning,
      });
    });
  }

  abortMultipartUpload(bucket: string, object: string, uploadId: string): Promise<void> {
    return this.#call(
      bucket,
      object,
      (s) => multipart.abortMultipartUpload(s, bucket, object, uploadId),
    );
  }

  async listMultipartUploads(
    bucket: string,
    options: ListUploadsOptions,
  ): Promise<ListUploadsResult> {
    await this.getBucketInfo(bucket);
    const perSet = await Promise.all(
      this.sets.map((s) => listUploads(s, bucket, options.prefix ?? "")),
    );
    return pageUploads(perSet.flat(), options);
  }

  healObject(bucket: string, object: string): Promise<HealResult> {
    return this.#call(bucket, object, (s) => healObject(s, bucket, object, { deep: true }));
  }

  async storageInfo(): Promise<StorageInfo> {
    const drives = await Promise.all(this.sets.flatMap((s) =>
      s.drives.map(async (d) => {
        const info = await d.diskInfo().catch(() => undefined);
        return {
          endpoint: d.endpoint,
          // The handle's state, read after the call: a drive that just failed it is offline.
          state: info ? d.state : "offline" as const,
          online: info !== undefined && d.available,
          total: info?.total ?? 0,
          free: info?.free ?? 0,
        };
      })
    ));
    const sets = this.sets.map((s) => ({
      dataShards: s.codec.dataShards,
      parityShards: s.codec.parityShards,
      drives: s.drives.length,
    }));
    const tasks = { running: 0, done: 0, failed: 0 };
    for (const t of this.#heals.list()) tasks[t.state]++;
    return {
      drives,
      sets,
      deploymentId: this.options.deploymentId,
      healQueueLength: this.healQueue.size,
      heals: { ...this.#heals.totals, tasks },
    };
  }

  async isWritable(): Promise<boolean> {
    const writable = await Promise.all(this.sets.map(async (s) => {
      const outcomes = await fanOut(s.drives, (d) => d.diskInfo());
      return outcomes.filter((o) => o.ok).length >= s.writeQuorum;
    }));
    return writable.every(Boolean);
  }

  /**
   * Background work that outlives a restart: re-queues the heal queue's journal and resumes
   * the drive heals a previous run left unfinished (their drives hold HEALING_FILE), now and
   * whenever such a drive comes back online; a drive back online also makes the heal queue's
   * retries due, and gets the buckets made while it was away (every drive, now).
   */
  async resumeMaintenance(): Promise<void> {
    await this.healQueue.restore();
    this.sets.forEach((set, s) => void this.#healBuckets(s, set.drives.map((_, d) => d)));
    await Promise.all(this.sets.flatMap((set, s) =>
      set.drives.map((drive, d) => {
        this.#unsubscribe.push(drive.onStateChange(({ from, to }) => {
          if (from !== "offline" || to !== "online") return;
          // Objects written while it was away wait in the heal queue for it.
          this.healQueue.retryNow();
          void this.#healBuckets(s, [d]);
          void this.#resumeDriveHeal(s, d);
        }));
        return this.#resumeDriveHeal(s, d);
      })
    ));
  }

  async #healBuckets(setIndex: number, drives: number[]): Promise<void> {
    const set = this.sets[setIndex];
    const made = await set.healBuckets(drives).catch(() => new Map<number, string[]>());
    for (const [d, buckets] of made) {
      const names = buckets.join(", ");
      console.log(`flashstor: drive ${set.drives[d].endpoint}: made ${names} (away when made)`);
    }
  }

  async #resumeDriveHeal(setIndex: number, driveIndex: number): Promise<void> {
    const set = this.sets[setIndex];
    const raw = await set.drives[driveIndex].readAll(SYSTEM_VOLUME, HEALING_FILE)
      .catch(() => undefined);
    if (!raw || this.#closing) return;
    // A torn record heals the whole drive again.
    const slot = `set ${setIndex + 1}, drive ${driveIndex + 1}`;
    this.#heals.startDrive(set, driveIndex, slot, parseHealingRecord(raw));
  }

  /** Rebuilds a replaced (or returned, formatted) drive: every object of its set, in the background. */
  healDrive(setIndex: number, driveIndex: number): HealProgress {
    const slot = `set ${setIndex + 1}, drive ${driveIndex + 1}`;
    return this.#heals.startDrive(this.sets[setIndex], driveIndex, slot);
  }

  async startHeal(request: HealRequest): Promise<HealProgress> {
    if (request.bucket !== undefined) await this.getBucketInfo(request.bucket);
    return this.#heals.startRequest(this.sets, request);
  }

  healStatus(id: string): HealProgress | undefined {
    return this.#heals.status(id);
  }

  healTasks(): HealProgress[] {
    return this.#heals.list();
  }

  /**
   * Starts the background scanner over every set (main.ts; tests give short settings). With a
   * cluster's locker, only the node holding the scanner's leader lock runs cycles.
   */
  startScanner(options: ScannerOptions): Promise<void> {
    this.#scanner ??= new Scanner(this.sets, { leader: this.options.locker, ...options });
    return this.#scanner.start();
  }

  scannerStatus(): ScannerTotals {
    return this.#scanner?.status() ?? { ...IDLE_SCANNER };
  }

  usage(): BucketUsage[] {
    return this.#scanner?.usage() ?? [];
  }

  async close(): Promise<void> {
    await this.#scanner?.close();
    this.#closing = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    await this.#heals.close();
    await this.healQueue.close();
  }

  /** Checks the names and version id, then runs `fn` on the object's set (errors: rejections). */
  #call<T>(
    bucket: string,
    object: string,
    fn: (set: ErasureSet) => Promise<T>,
    options: ObjectOptions = {},
  ): Promise<T> {
    try {
      checkVersionId(options.versionId);
      return fn(this.#object(bucket, object));
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
