/**
 * The commit of a version: one renameData per drive merges it into the object's xl.meta (one
 * round trip per drive). Below write quorum it is rolled back; above it, the data dirs no
 * version refers to any more are freed.
 */
import { META_FILE, SYSTEM_VOLUME } from "../storage/api.ts";
import { FileNotFound } from "../storage/errors.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { encodeObjectName } from "./names.ts";
import { fanOut, successes } from "./quorum.ts";
import {
  decodeIfValid,
  encodeXlMeta,
  freedDataDirs,
  mergeVersions,
  type ObjectVersion,
} from "../storage/xl-meta.ts";

/** What commitVersion() moves into place: the version (per-drive fields filled in), its data. */
export interface CommitRequest {
  bucket: string;
  object: string;
  /** Directory of the system volume holding the new data dir's files ("" when there is none). */
  srcPath: string;
  version: ObjectVersion;
  /** Inline shards by shard index (small objects). */
  inline?: Uint8Array[];
  /** Drives that hold their shard and may commit. */
  participants: boolean[];
}

/**
 * Merges a written version into the object on the participating drives; the caller holds
 * the object's write lock. Below write quorum the drives that committed get their previous
 * metadata back and InsufficientWriteQuorum is thrown; above it, data dirs no version refers
 * to any more are removed and drives that missed the write are reported for healing.
 */
export async function commitVersion(set: ErasureSet, req: CommitRequest): Promise<void> {
  const path = encodeObjectName(req.object);
  const { dataDir } = req.version;
  // Each drive answers with the metadata it replaced (undefined: none).
  const outcomes = await fanOut(set.drives, (d, i) => {
    if (!req.participants[i]) return Promise.reject(new FileNotFound("shard not written"));
    const index = req.version.erasure.distribution[i];
    const version: ObjectVersion = {
      ...req.version,
      erasure: { ...req.version.erasure, index },
      inline: req.inline?.[index - 1],
    };
    const meta = encodeXlMeta({ versions: [version] });
    return d.renameData(SYSTEM_VOLUME, req.srcPath, req.bucket, path, dataDir, meta);
  });
  if (successes(outcomes) < set.writeQuorum) {
    await fanOut(set.drives, async (d, i) => {
      const outcome = outcomes[i];
      if (!outcome.ok) return;
      const old = outcome.value;
      if (!old) return await d.deleteVersion(req.bucket, path, req.version.versionId);
      await d.writeAll(req.bucket, `${path}/${META_FILE}`, old);
      const stillUsed = decodeIfValid(old)?.versions.some((v) => v.dataDir === dataDir);
      if (req.srcPath !== "" && !stillUsed) {
        await d.delete(req.bucket, `${path}/${dataDir}`, true);
      }
    });
    await set.checkWrite(outcomes, `${req.bucket}/${req.object}`);
  }
  await fanOut(set.drives, async (d, i) => {
    const outcome = outcomes[i];
    const before = outcome.ok ? decodeIfValid(outcome.value) : undefined;
    if (!before) return;
    for (const freed of freedDataDirs(before, mergeVersions(before, [req.version]))) {
      await d.delete(req.bucket, `${path}/${freed}`, true);
    }
  });
  if (successes(outcomes) < set.drives.length) set.options.onDegraded(req.bucket, req.object);
}
