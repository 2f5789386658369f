/**
 * Lifecycle rules applied by the background scanner (its LifecycleHook): per object, the
 * actions the rules make due (lifecycle-evaluate.ts); after each walk, stale multipart uploads.
 * Every action goes through the ObjectLayer, so object lock is enforced where it always is: a
 * version it protects is refused there and left alone. What a cycle did is one log line (a
 * bucket of backups under lock would otherwise log each of its versions every cycle); what
 * failed otherwise is logged by object.
 */

import { ObjectLocked, PreconditionFailed } from "../object/errors.ts";
import type { ObjectInfo, ObjectLayer } from "../object/layer.ts";
import type { LifecycleHook } from "../object/scanner.ts";
import type { LifecycleRule } from "./lifecycle.ts";
import { abortingRule, type LifecycleAction, objectActions } from "./lifecycle-evaluate.ts";
import type { BucketMetadataStore } from "./metadata-store.ts";

const UPLOAD_PAGE = 1000;

export interface LifecycleOptions {
  /** A rule's day in ms (86,400,000 unless shortened for tests). */
  dayMs: number;
  log?: (line: string) => void;
  /** The clock (tests may move it). */
  now?: () => number;
}

/** What the rules did in one cycle. */
interface CycleCounts {
  expired: number;
  versionsRemoved: number;
  uploadsAborted: number;
  keptByLock: number;
}

const NOTHING_DONE: Readonly<CycleCounts> = {
  expired: 0,
  versionsRemoved: 0,
  uploadsAborted: 0,
  keptByLock: 0,
};

export class BucketLifecycle implements LifecycleHook {
  readonly #log: (line: string) => void;
  readonly #now: () => number;
  #done: CycleCounts = { ...NOTHING_DONE };

  constructor(
    readonly buckets: BucketMetadataStore,
    readonly layer: ObjectLayer,
    readonly options: LifecycleOptions,
  ) {
    this.#log = options.log ?? ((line) => console.log(line));
    this.#now = options.now ?? Date.now;
  }

  async bucket(
    bucket: string,
  ): Promise<((versions: ObjectInfo[]) => Promise<void>) | undefined> {
    const rules = await this.#rules(bucket);
    const perObject = rules.filter((r) => r.expiration || r.noncurrentVersionExpiration);
    if (perObject.length === 0) return undefined;
    return (versions) => this.#apply(bucket, perObject, versions);
  }

  async afterWalk(signal: AbortSignal): Promise<void> {
    // A bucket that cannot be listed now is tried again next cycle; the others go on.
    const buckets = await this.layer.listBuckets().catch((err: Error) => {
      this.#log(`flashstor: lifecycle: buckets not listed: ${err.message}`);
      return [];
    });
    for (const { name: bucket } of buckets) {
      signal.throwIfAborted();
      const rules = (await this.#rules(bucket)).filter((r) => r.abortIncompleteUploadDays);
      if (rules.length === 0) continue;
      await this.#abortUploads(bucket, rules, signal).catch((err: Error) => {
        if (signal.aborted) throw err;
        this.#log(`flashstor: lifecycle: ${bucket}: uploads not listed: ${err.message}`);
      });
    }
    const done = this.#done;
    this.#done = { ...NOTHING_DONE };
    if (Object.values(done).some((n) => n > 0)) {
      this.#log(
        `flashstor: lifecycle: ${done.expired} expired, ${done.versionsRemoved} versions ` +
          `removed, ${done.uploadsAborted} uploads aborted, ${done.keptByLock} kept by object lock`,
      );
    }
  }

  /** The bucket's enabled rules ([] when it has none or its metadata cannot be read now). */
  async #rules(bucket: string): Promise<LifecycleRule[]> {
    try {
      return (await this.buckets.get(bucket)).lifecycle?.rules.filter((r) => r.enabled) ?? [];
    } catch (err) {
      this.#log(`flashstor: lifecycle: ${bucket}: rules not read: ${(err as Error).message}`);
      return [];
    }
  }

  async #apply(bucket: string, rules: LifecycleRule[], versions: ObjectInfo[]): Promise<void> {
    const [current] = versions;
    for (const action of objectActions(rules, versions, this.#now(), this.options.dayMs)) {
      try {
        await this.#act(bucket, versions, action);
        if (action.kind === "expire") this.#done.expired++;
        else this.#done.versionsRemoved++;
      } catch (err) {
        if (err instanceof ObjectLocked) {
          this.#done.keptByLock++;
          continue;
        }
        // Written or removed since its versions were read: judged again next cycle.
        if (err instanceof PreconditionFailed) continue;
        const what = action.kind === "expire" ? "expiry" : `removal of ${action.versionId}`;
        this.#log(
          `flashstor: lifecycle: ${bucket}/${current.name}: ${what} (rule ${action.rule}) ` +
            `failed: ${(err as Error).message}`,
        );
      }
    }
  }

  /**
   * Carries out one action on the version judged (the current one for an expiry): the object
   * layer refuses (PreconditionFailed) when that version changed since it was read.
   */
  async #act(bucket: string, versions: ObjectInfo[], action: LifecycleAction): Promise<void> {
    const [current] = versions;
    const judged = action.kind === "expire"
      ? current
      : versions.find((v) => v.versionId === action.versionId)!;
    await this.layer.deleteObject(bucket, current.name, {
      versionId: action.kind === "expire" ? undefined : action.versionId,
      expected: { versionId: judged.versionId, modTime: judged.modTime },
    });
  }

  async #abortUploads(bucket: string, rules: LifecycleRule[], signal: AbortSignal): Promise<void> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      signal.throwIfAborted();
      const page = await this.layer.listMultipartUploads(bucket, {
        keyMarker,
        uploadIdMarker,
        maxUploads: UPLOAD_PAGE,
      });
      for (const upload of page.uploads) {
        const rule = abortingRule(rules, upload, this.#now(), this.options.dayMs);
        if (rule === undefined) continue;
        const what = `${bucket}/${upload.object}: upload ${upload.uploadId}`;
        try {
          await this.layer.abortMultipartUpload(bucket, upload.object, upload.uploadId);
          this.#done.uploadsAborted++;
        } catch (err) {
          this.#log(
            `flashstor: lifecycle: ${what}: abort (rule ${rule}) failed: ${(err as Error).message}`,
          );
        }
      }
      ({ nextKeyMarker: keyMarker, nextUploadIdMarker: uploadIdMarker } = page);
      if (!page.isTruncated) break;
    } while (keyMarker !== undefined);
  }
}
