/**
 * The bucket-metadata store: one JSON record per bucket (`buckets/<name>.json`) in the
 * deployment's config store (erasure-coded in the system volume), cached in memory. Every change
 * bumps `epoch`, which the decision cache keys on. In a cluster a change is announced to the
 * peers (they drop the bucket from their caches) before it is acknowledged.
 * Settings of later issues (versioning, lock, lifecycle, CORS, tags, encryption) join
 * `BucketMetadata` as optional fields; a bucket with none set has no record.
 */

import type { Acl } from "../iam/acl.ts";
import type { BucketVersioning, ConfigStore, VersioningState } from "../object/layer.ts";
import type { CorsConfiguration } from "./cors.ts";
import type { EncryptionConfiguration } from "./encryption.ts";
import type { LifecycleConfiguration } from "./lifecycle.ts";
import type { ObjectLockConfiguration } from "./object-lock.ts";

/** S3's Object Ownership setting (PutBucketOwnershipControls). */
export type ObjectOwnership = "BucketOwnerEnforced" | "BucketOwnerPreferred" | "ObjectWriter";

/** The four switches of PutPublicAccessBlock. */
export interface PublicAccessBlock {
  blockPublicAcls: boolean;
  ignorePublicAcls: boolean;
  blockPublicPolicy: boolean;
  restrictPublicBuckets: boolean;
}

export interface BucketMetadata {
  /** The bucket policy, as put (JSON text; parsed by the authorizer). */
  policy?: string;
  ownership?: ObjectOwnership;
  publicAccessBlock?: PublicAccessBlock;
  acl?: Acl;
  /** Absent: never enabled; once set it never goes back to absent. */
  versioning?: VersioningState;
  /** Present only on buckets created with object lock (which is then for good). */
  objectLock?: ObjectLockConfiguration;
  /** The bucket's tag set (PutBucketTagging), in the order given. */
  tags?: { key: string; value: string }[];
  lifecycle?: LifecycleConfiguration;
  cors?: CorsConfiguration;
  /** The default encryption of objects written without SSE headers (PutBucketEncryption). */
  encryption?: EncryptionConfiguration;
}

/** Also the object layer's source of each bucket's versioning state (its `versioning` field). */
export interface BucketMetadataStore extends BucketVersioning {
  /** Bumped by every change; never goes back. */
  readonly epoch: number;
  /** The bucket's metadata ({} when it has none); from memory after the first read. */
  get(bucket: string): Promise<Readonly<BucketMetadata>>;
  /** The bucket's metadata if it is in memory, without a read (the authorizer's fast path). */
  cached(bucket: string): Readonly<BucketMetadata> | undefined;
  /**
   * Applies `change` to a copy of the current metadata and stores the result before it
   * resolves (changes of one bucket are serialised). Returns the stored metadata.
   */
  update(
    bucket: string,
    change: (current: BucketMetadata) => BucketMetadata,
  ): Promise<Readonly<BucketMetadata>>;
  /** Forgets the bucket's metadata (the bucket was deleted). */
  remove(bucket: string): Promise<void>;
}

/** Told of every change of a bucket's metadata before the change is acknowledged. */
export type BucketAnnouncer = (bucket: string) => Promise<void>;

const EMPTY: Readonly<BucketMetadata> = Object.freeze({});
/** Cached buckets; a bucket evicted is read again on its next request. */
const MAX_CACHED = 10_000;
const utf8 = new TextEncoder();

function recordPath(bucket: string): string {
  return `buckets/${bucket}.json`;
}

function isEmpty(metadata: BucketMetadata): boolean {
  return Object.values(metadata).every((v) => v === undefined);
}

export class ConfigBucketMetadataStore implements BucketMetadataStore {
  #records: ConfigStore;
  #cache = new Map<string, Readonly<BucketMetadata>>();
  /** Per bucket, the tail of its chain of changes. */
  #pending = new Map<string, Promise<unknown>>();
  #epoch = 0;
  #announce?: BucketAnnouncer;

  constructor(records: ConfigStore) {
    this.#records = records;
  }

  /** Tells `announcer` of every change from now on; the change waits for it. */
  announceWith(announcer: BucketAnnouncer): void {
    this.#announce = announcer;
  }

  /**
   * Drops one bucket's cached metadata (another node changed it), or every bucket's: the next
   * request reads the record again. Bumps the epoch, so a read under way is not cached either.
   */
  forget(bucket?: string): void {
    if (bucket === undefined) this.#cache.clear();
    else this.#cache.delete(bucket);
    this.#epoch++;
  }

  get epoch(): number {
    return this.#epoch;
  }

  cached(bucket: string): Readonly<BucketMetadata> | undefined {
    return this.#cache.get(bucket);
  }

  async versioning(bucket: string): Promise<VersioningState | undefined> {
    return (this.#cache.get(bucket) ?? await this.get(bucket)).versioning;
  }

  async get(bucket: string): Promise<Readonly<BucketMetadata>> {
    const hit = this.#cache.get(bucket);
    if (hit !== undefined) return hit;
    const epoch = this.#epoch;
    const data = await this.#records.readConfig(recordPath(bucket));
    const metadata = data === undefined
      ? EMPTY
      : Object.freeze(JSON.parse(new TextDecoder().decode(data)) as BucketMetadata);
    // A change that landed during the read is newer than what was read.
    if (epoch === this.#epoch) this.#remember(bucket, metadata);
    return this.#cache.get(bucket) ?? metadata;
  }

  async update(
    bucket: string,
    change: (current: BucketMetadata) => BucketMetadata,
  ): Promise<Readonly<BucketMetadata>> {
    const next = await this.#serialised(bucket, async () => {
      const next = Object.freeze(change({ ...await this.get(bucket) }));
      if (isEmpty(next)) await this.#records.deleteConfig(recordPath(bucket));
      else await this.#records.writeConfig(recordPath(bucket), utf8.encode(JSON.stringify(next)));
      this.#epoch++;
      this.#remember(bucket, isEmpty(next) ? EMPTY : next);
      return next;
    });
    await this.#announce?.(bucket);
    return next;
  }

  async remove(bucket: string): Promise<void> {
    await this.#serialised(bucket, async () => {
      await this.#records.deleteConfig(recordPath(bucket));
      this.#epoch++;
      this.#cache.delete(bucket);
    });
    await this.#announce?.(bucket);
  }

  #remember(bucket: string, metadata: Readonly<BucketMetadata>): void {
    this.#cache.delete(bucket);
    if (this.#cache.size >= MAX_CACHED) {
      this.#cache.delete(this.#cache.keys().next().value as string);
    }
    this.#cache.set(bucket, metadata);
  }

  #serialised<T>(bucket: string, work: () => Promise<T>): Promise<T> {
    const before = this.#pending.get(bucket) ?? Promise.resolve();
    const done = before.then(work, work);
    const tail = done.catch(() => {});
    this.#pending.set(bucket, tail);
    tail.then(() => {
      if (this.#pending.get(bucket) === tail) this.#pending.delete(bucket);
    });
    return done;
  }
}
