/**
 * One erasure set: k data + m parity drives. Objects are written to every drive and read from
 * any k; reads trust only metadata a read quorum agrees on, writes commit only with a write
 * quorum and are rolled back otherwise. Drives that missed a write or fail a read are handed
 * to `onDegraded` (the heal queue).
 */
import { BLOCK_SIZE, ErasureCodec } from "../erasure/codec.ts";
import { crc32 } from "../../ffi/isal.ts";
import { type StorageAPI, SYSTEM_VOLUME, TMP_DIR } from "../storage/api.ts";
import { VolumeExists, VolumeNotFound } from "../storage/errors.ts";
import type {
  BucketInfo,
  GetObjectOptions,
  GetObjectResult,
  ObjectInfo,
  ObjectMetadata,
  ObjectOptions,
  PutObjectOptions,
  VersioningState,
} from "./layer.ts";
import {
  BucketExists,
  BucketNotFound,
  InsufficientReadQuorum,
  InsufficientWriteQuorum,
  InvalidRange,
  ObjectDeleted,
  ObjectNotFound,
  VersionNotFound,
} from "./errors.ts";
import { commitVersion } from "./commit.ts";
import { checkBucketName, encodeObjectName, isBucketName, newDataDir } from "./names.ts";
import type { Locker } from "./locker.ts";
import {
  agreedOrNone,
  checkAtCommit,
  checkBeforeWrite,
  type WriteOptions,
} from "./preconditions.ts";
import {
  agreedVersions,
  type Drives,
  fanOut,
  hashOrder,
  type Outcome,
  type QuorumVersion,
  readMetas,
  requireWriteQuorum,
  successes,
  withoutUnformatted,
} from "./quorum.ts";
import { encodeInline, readObject, writeShardFiles } from "./shard-io.ts";
import { measure } from "./md5.ts";
import { BITROT_ALGORITHM, type ObjectVersion } from "../storage/xl-meta.ts";

/** Objects whose shard is at most this big live inline in xl.meta. */
export const INLINE_SHARD_LIMIT = 128 * 1024;

export interface SetOptions {
  parity: number;
  /** Number of sets of the deployment (see distribution()). */
  setCount: number;
  locks: Locker;
  /** Called for objects some drive lacks or served badly; they get healed in the background. */
  onDegraded: (bucket: string, object: string) => void;
}

const utf8 = new TextEncoder();

export class ErasureSet {
  readonly codec: ErasureCodec;
  readonly readQuorum: number;
  readonly writeQuorum: number;

  constructor(readonly drives: Drives, readonly options: SetOptions) {
    const m = options.parity;
    const k = drives.length - m;
    if (!(Number.isInteger(m) && m >= 0 && k >= m && k >= 1)) {
      throw new RangeError(`parity ${m} does not fit a set of ${drives.length} drives`);
    }
    this.codec = new ErasureCodec(k, m);
    this.readQuorum = k;
    this.writeQuorum = k === m ? k + 1 : k;
  }

  get locks(): Locker {
    return this.options.locks;
  }

  /**
   * distribution[drive] = shard index (1-based) of that drive for `object`. Pools picks the
   * set by CRC32 mod setCount; the rotation uses the CRC's remaining digits so that the objects
   * of one set still spread over all its rotations.
   */
  distribution(object: string): number[] {
    const crc = crc32(utf8.encode(object));
    return hashOrder(Math.floor(crc / this.options.setCount), this.drives.length);
  }

  // --- buckets ---

  async makeBucket(bucket: string): Promise<void> {
    checkBucketName(bucket);
    const outcomes = await fanOut(this.drives, (d) => d.makeVolume(bucket));
    const existed = outcomes.filter((o) => !o.ok && o.error instanceof VolumeExists).length;
    if (existed >= this.writeQuorum) throw new BucketExists(bucket);
    if (successes(outcomes) + existed >= this.writeQuorum) return;
    await fanOut(
      this.drives,
      (d, i) => outcomes[i].ok ? d.deleteVolume(bucket) : Promise.resolve(),
    );
    await this.checkWrite(outcomes, bucket);
  }

  async bucketInfo(bucket: string): Promise<BucketInfo> {
    const outcomes = await fanOut(this.drives, (d) => d.statVolume(bucket));
    const found = outcomes.flatMap((o) => o.ok ? [o.value.created] : []);
    if (found.length < this.readQuorum) {
      const missing = (await withoutUnformatted(this.drives, outcomes))
        .filter((o) => !o.ok && o.error instanceof VolumeNotFound).length;
      if (missing >= this.readQuorum) throw new BucketNotFound(bucket);
      throw new InsufficientReadQuorum(
        `${bucket}: on ${found.length} drives, ${this.readQuorum} needed`,
      );
    }
    return { name: bucket, created: new Date(Math.min(...found)) };
  }

  /**
   * Buckets present on a read quorum of drives (directories there whose names are no bucket
   * names, such as a file system's lost+found, are not buckets).
   */
  async listBuckets(): Promise<BucketInfo[]> {
    const outcomes = await fanOut(this.drives, (d) => d.listVolumes());
    const seen = new Map<string, number[]>();
    for (const o of outcomes) {
      if (!o.ok) continue;
      for (const v of o.value) seen.set(v.name, [...(seen.get(v.name) ?? []), v.created]);
    }
    return [...seen].filter(([name, created]) =>
      created.length >= this.readQuorum && isBucketName(name)
    ).map(([name, created]) => ({ name, created: new Date(Math.min(...created)) }));
  }

  /**
   * Makes on the drives at `indices` the buckets of a read quorum that they lack: a drive away
   * when a bucket was made would otherwise fail every write into it, and a set with no drive
   * to spare could not write there at all. Returns the buckets made, by drive index; a drive
   * that fails is left for its next return.
   */
  async healBuckets(indices: readonly number[]): Promise<Map<number, string[]>> {
    const buckets = (await this.listBuckets()).map((b) => b.name);
    const made = new Map<number, string[]>();
    await Promise.all(
      indices.map(async (i) => {
        const drive = this.drives[i];
        const present = new Set((await drive.listVolumes()).map((v) => v.name));
        const missing = buckets.filter((name) => !present.has(name));
        for (const name of missing) await makeBucketOn(drive, name);
        if (missing.length > 0) made.set(i, missing);
      }).map((p) => p.catch(() => {})),
    );
    return made;
  }

  /** Removes the bucket and everything in it (the caller checked emptiness). */
  async deleteBucket(bucket: string): Promise<void> {
    const outcomes = await fanOut(this.drives, (d) =>
      d.deleteVolume(bucket, true).catch((err) => {
        if (!(err instanceof VolumeNotFound)) throw err;
      }));
    await this.checkWrite(outcomes, bucket);
    await fanOut(this.drives, (d) => d.delete(SYSTEM_VOLUME, `multipart/${bucket}`, true));
  }

  // --- objects ---

  async putObject(
    bucket: string,
    object: string,
    body: ReadableStream<Uint8Array>,
    options: PutObjectOptions & WriteOptions,
  ): Promise<ObjectInfo> {
    const small = options.size >= 0 && this.codec.shardSize(options.size) <= INLINE_SHARD_LIMIT;
    const refuse = async (err: unknown) => {
      await body.cancel(err).catch(() => {});
      // Too few drives to tell whether the bucket exists are too few to write to.
      if (err instanceof InsufficientReadQuorum) throw new InsufficientWriteQuorum(err.message);
      throw err;
    };
    await checkBeforeWrite(this, bucket, object, options).catch(refuse);
    // A small body is read before anything is written, and its commit meets a missing bucket
    // anyway (BucketNotFound from requireWriteQuorum): only large ones check first.
    if (!small) await this.bucketInfo(bucket).catch(refuse);
    const distribution = this.distribution(object);
    const dataDir = newDataDir();
    const tmp = `${TMP_DIR}/${crypto.randomUUID()}`;
    // An ETag given by the caller (an encrypted body's) spares hashing the body.
    const measured = measure(body, options.size, !options.etag);
    try {
      let inline: Uint8Array[] | undefined;
      let participants: boolean[];
      if (small) {
        inline = await encodeInline(this.codec, measured.stream, options.size);
        participants = this.drives.map((d) => d.available);
      } else {
        participants = await writeShardFiles(
          this.codec,
          this.drives,
          distribution,
          SYSTEM_VOLUME,
          `${tmp}/${dataDir}/part.1`,
          measured.stream,
          this.writeQuorum,
        );
      }
      const { size, md5 } = await measured.result();
      const version = this.newVersion(
        distribution,
        dataDir,
        size,
        (await options.etag?.()) ?? md5,
        {
          ...options.metadata,
          ...options.finalMetadata?.(),
        },
        versionIdFor(options.versioning),
      );
      version.parts[0].actualSize = options.actualSize ?? size;
      const request = {
        bucket,
        object,
        srcPath: small ? "" : `${tmp}/${dataDir}`,
        version,
        inline,
        participants,
      };
      await this.locks.withWrite(lockKey(bucket, object), async () => {
        await checkAtCommit(this, bucket, object, version.versionId, options);
        // Stamped under the lock: versions sort in the order they were committed.
        version.modTime = nextModTime();
        await commitVersion(this, request);
      }, { signal: options.signal });
      return objectInfo(bucket, object, version);
    } finally {
      measured.discard();
      if (!small) await fanOut(this.drives, (d) => d.delete(SYSTEM_VOLUME, tmp, true));
    }
  }

  /** A fresh single-part version laid out for this set. */
  newVersion(
    distribution: number[],
    dataDir: string,
    size: number,
    etag: string,
    metadata: ObjectMetadata,
    versionId: string,
  ): ObjectVersion {
    return {
      versionId,
      size,
      modTime: nextModTime(),
      etag,
      metadata,
      erasure: {
        dataShards: this.codec.dataShards,
        parityShards: this.codec.parityShards,
        blockSize: BLOCK_SIZE,
        index: 0,
        distribution,
      },
      dataDir,
      parts: [{ number: 1, size, etag, actualSize: size }],
      checksums: [{ part: 1, algorithm: BITROT_ALGORITHM }],
    };
  }

  /** Throws unless a write quorum of drives succeeded (see requireWriteQuorum). */
  async checkWrite<T>(outcomes: Outcome<T>[], what: string): Promise<void> {
    if (successes(outcomes) >= this.writeQuorum) return;
    requireWriteQuorum(await withoutUnformatted(this.drives, outcomes), this.writeQuorum, what);
  }

  /**
   * The versions a read quorum agrees on, newest first (see agreedVersions); drives lacking
   * one are reported for healing.
   */
  async versions(bucket: string, object: string, signal?: AbortSignal): Promise<QuorumVersion[]> {
    const what = `${bucket}/${object}`;
    const outcomes = await readMetas(this.drives, bucket, encodeObjectName(object), signal);
    let versions: QuorumVersion[];
    try {
      versions = agreedVersions(outcomes, this.readQuorum, what);
    } catch (err) {
      if (!(err instanceof BucketNotFound || err instanceof ObjectNotFound)) throw err;
      versions = agreedVersions(
        await withoutUnformatted(this.drives, outcomes),
        this.readQuorum,
        what,
      );
    }
    const lacking = (q: QuorumVersion) => q.holders.some((h, i) => !h && this.drives[i].available);
    if (versions.some(lacking)) this.options.onDegraded(bucket, object);
    return versions;
  }

  /**
   * The version a read names (the current one without versionId): VersionNotFound when there
   * is no such version (or object), ObjectDeleted when it is a delete marker.
   */
  async version(
    bucket: string,
    object: string,
    options: ObjectOptions = {},
  ): Promise<QuorumVersion & { isLatest: boolean }> {
    const { versionId } = options;
    const what = `${bucket}/${object}`;
    const versions = await this.versions(bucket, object, options.signal).catch((err) => {
      if (versionId === undefined || !(err instanceof ObjectNotFound)) throw err;
      throw new VersionNotFound(`${what}: no version ${versionId}`);
    });
    const q = versionId === undefined
      ? versions[0]
      : versions.find((v) => v.version.versionId === versionId);
    if (!q) throw new VersionNotFound(`${what}: no version ${versionId}`);
    if (q.version.deleteMarker) {
      throw new ObjectDeleted(
        `${what}: a delete marker`,
        q.version.versionId,
        !!versionId,
        new Date(q.version.modTime),
      );
    }
    return { ...q, isLatest: q === versions[0] };
  }

  /** The agreed versions of an object, newest first (none when it does not exist). */
  async objectVersions(bucket: string, object: string): Promise<ObjectInfo[]> {
    const versions = await this.locks.withRead(
      lockKey(bucket, object),
      () => agreedOrNone(this, bucket, object),
    );
    return versions.map((q, i) => objectInfo(bucket, object, q.version, i === 0));
  }

  async getObjectInfo(
    bucket: string,
    object: string,
    options: ObjectOptions = {},
  ): Promise<ObjectInfo> {
    const q = await this.locks.withRead(
      lockKey(bucket, object),
      () => this.version(bucket, object, options),
      { signal: options.signal },
    );
    return objectInfo(bucket, object, q.version, q.isLatest);
  }

  /** Holds the object's read lock until the body is consumed, cancelled or fails. */
  async getObject(
    bucket: string,
    object: string,
    options: GetObjectOptions = {},
  ): Promise<GetObjectResult> {
    const { range } = options;
    const release = await this.locks.read(lockKey(bucket, object), { signal: options.signal });
    try {
      const q = await this.version(bucket, object, options);
      const { size } = q.version;
      const start = range?.start ?? 0;
      const end = range ? range.end + 1 : size;
      if (range && !(start >= 0 && start < end && end <= size)) {
        throw new InvalidRange(`range ${range.start}-${range.end} of ${size} bytes`, size);
      }
      const onShardError = () => this.options.onDegraded(bucket, object);
      const body = readObject(this.drives, q, bucket, encodeObjectName(object), {
        start,
        length: end - start,
        onShardError,
        onEnd: release,
      });
      return { info: objectInfo(bucket, object, q.version, q.isLatest), body };
    } catch (err) {
      release();
      throw err;
    }
  }
}

let lastModTime = 0;

/**
 * Now (ms), strictly after every modTime this process handed out before: versions written one
 * after the other (a PUT, then a DELETE's marker) sort in that order within a millisecond too.
 */
export function nextModTime(): number {
  lastModTime = Math.max(Date.now(), lastModTime + 1);
  return lastModTime;
}

/** The id of a version written now: a new one while versioning is Enabled, else "null". */
export function versionIdFor(versioning: VersioningState | undefined): string {
  return versioning === "Enabled" ? crypto.randomUUID() : "null";
}

/**
 * Makes `bucket` on one drive unless it is there already: before a version is healed into a
 * drive that lost the bucket's directory, or was away when it was made.
 */
export async function makeBucketOn(drive: StorageAPI, bucket: string): Promise<void> {
  await drive.makeVolume(bucket).catch((err) => {
    if (!(err instanceof VolumeExists)) throw err;
  });
}

export function lockKey(bucket: string, object: string): string {
  return `${bucket}/${object}`;
}

export function objectInfo(
  bucket: string,
  name: string,
  v: ObjectVersion,
  isLatest = true,
): ObjectInfo {
  return {
    bucket,
    name,
    size: v.parts.reduce((n, p) => n + p.actualSize, 0),
    storedSize: v.size,
    etag: v.etag,
    modTime: new Date(v.modTime),
    versionId: v.versionId,
    isLatest,
    deleteMarker: v.deleteMarker === true,
    metadata: v.metadata,
    parts: v.etag.includes("-")
      ? v.parts.map((p) => ({ number: p.number, size: p.actualSize, etag: p.etag }))
      : [],
  };
}
