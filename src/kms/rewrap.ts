/**
 * The re-wrap pass after a master-key rotation: every object version whose KEK the rotated key
 * sealed (SSE-S3, SSE-KMS) gets that KEK re-sealed under the key's new version
 * (KeyService.rewrap: the data key never leaves the service) and written back into its
 * metadata. The data is never read or rewritten, and old master-key versions keep opening what
 * the pass has not reached yet. A version that fails is counted and named; the pass goes on.
 * Uploads still in progress keep the KEK they started with (older versions stay usable).
 */
import { kekContext, readSealed, sealedEntries } from "../crypto/sealed-metadata.ts";
import { BucketNotFound, ObjectNotFound, VersionNotFound } from "../object/errors.ts";
import type { ObjectInfo, ObjectLayer } from "../object/layer.ts";
import type { KeyService, MasterKeyStatus } from "./key-service.ts";

export interface RewrapProgress {
  keyId: string;
  /** The master-key version KEKs are re-sealed under. */
  version: number;
  /** cancelled: a newer rotation of the same key started a pass that replaces this one. */
  state: "running" | "done" | "failed" | "cancelled";
  started: Date;
  finished?: Date;
  /** Object versions looked at, delete markers and other keys' objects included. */
  versionsScanned: number;
  versionsRewrapped: number;
  versionsFailed: number;
  /** The first failures (at most MAX_FAILURES_KEPT). */
  failures: { bucket: string; object: string; versionId: string; error: string }[];
  /** Why a failed pass stopped (a listing failed). */
  error?: string;
}

const PAGE = 1000;
const MAX_FAILURES_KEPT = 100;

/** The latest pass of each key; a rotation's pass cancels the one still running for its key. */
export class RewrapPasses {
  readonly #passes = new Map<string, { progress: RewrapProgress; stop: AbortController }>();

  constructor(private readonly layer: ObjectLayer, private readonly keys: KeyService) {}

  /** Starts a pass in the background for the key as `rotated`; its progress, updated live. */
  start(rotated: MasterKeyStatus): RewrapProgress {
    this.#passes.get(rotated.keyId)?.stop.abort();
    const progress: RewrapProgress = {
      keyId: rotated.keyId,
      version: rotated.version,
      state: "running",
      started: new Date(),
      versionsScanned: 0,
      versionsRewrapped: 0,
      versionsFailed: 0,
      failures: [],
    };
    const stop = new AbortController();
    this.#passes.set(rotated.keyId, { progress, stop });
    void this.#run(progress, stop.signal);
    return progress;
  }

  async #run(progress: RewrapProgress, signal: AbortSignal): Promise<void> {
    try {
      await rewrapAll(this.layer, this.keys, progress, signal);
      progress.state = "done";
    } catch (err) {
      progress.state = signal.aborted ? "cancelled" : "failed";
      if (!signal.aborted) progress.error = err instanceof Error ? err.message : String(err);
    }
    progress.finished = new Date();
  }

  /** The latest pass of every key rotated since the server started, oldest first. */
  list(): RewrapProgress[] {
    return [...this.#passes.values()].map((p) => p.progress)
      .sort((a, b) => a.started.getTime() - b.started.getTime());
  }
}

/** Every version of every bucket, page by page; throws when a listing fails or on `signal`. */
async function rewrapAll(
  layer: ObjectLayer,
  keys: KeyService,
  progress: RewrapProgress,
  signal: AbortSignal,
): Promise<void> {
  for (const bucket of await layer.listBuckets()) {
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    for (;;) {
      signal.throwIfAborted();
      let page;
      try {
        page = await layer.listObjectVersions(bucket.name, {
          keyMarker,
          versionIdMarker,
          maxKeys: PAGE,
        });
      } catch (err) {
        if (err instanceof BucketNotFound) break; // deleted since listBuckets
        throw err;
      }
      for (const info of page.versions) {
        signal.throwIfAborted();
        await rewrapVersion(layer, keys, progress, info);
      }
      if (!page.isTruncated || page.nextKeyMarker === undefined) break;
      keyMarker = page.nextKeyMarker;
      versionIdMarker = page.nextVersionIdMarker;
    }
  }
}

/** Thrown from the metadata change: the KEK changed since the listing (another pass). */
class KekChanged extends Error {}

async function rewrapVersion(
  layer: ObjectLayer,
  keys: KeyService,
  progress: RewrapProgress,
  info: ObjectInfo,
): Promise<void> {
  progress.versionsScanned++;
  if (info.deleteMarker) return;
  try {
    const kms = readSealed(info.metadata)?.kms;
    if (kms?.keyId !== progress.keyId) return;
    const context = kekContext(info.bucket, info.name, kms.context);
    const sealedKek = await keys.rewrap(kms.keyId, kms.sealedKek, context);
    await layer.updateObjectMetadata(info.bucket, info.name, (current) => {
      const now = readSealed(current);
      if (!now?.kms || !sameBytes(now.kms.sealedKek, kms.sealedKek)) throw new KekChanged();
      return { ...current, ...sealedEntries({ ...now, kms: { ...now.kms, sealedKek } }) };
    }, { versionId: info.versionId });
    progress.versionsRewrapped++;
  } catch (err) {
    // Gone or changed since it was listed: nothing of it is left under the old version.
    if (
      err instanceof KekChanged || err instanceof ObjectNotFound || err instanceof VersionNotFound
    ) return;
    progress.versionsFailed++;
    if (progress.failures.length < MAX_FAILURES_KEPT) {
      progress.failures.push({
        bucket: info.bucket,
        object: info.name,
        versionId: info.versionId,
        error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
      });
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}
