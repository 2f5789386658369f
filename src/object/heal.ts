/**
 * Healing: bringing every drive of a set back to holding its shard of every version of an
 * object.
 *
 * healObject takes the versions a read quorum of drives agree on and, for each, finds the
 * drives whose metadata lacks it (or holds a stale or corrupt copy), or whose shards are
 * missing or truncated (a shallow heal: one stat per shard file) or, in a deep heal, fail their
 * bitrot checksums (every block of every shard, parity included, is read and verified: reads
 * prefer data shards, so nothing else ever finds rot in parity). It then decodes the version
 * from the healthy drives and encodes it again, writing only to the lacking drives (into the
 * temp area, committed with renameData, which merges the version into the drive's xl.meta).
 * Versions, and whole objects, that can never reach read quorum again are removed. The heal
 * queue (mrf.ts) runs it in the background for objects that reads, writes and listings found
 * degraded; heal tasks (heal-task.ts) for whole namespaces; the scanner for everything.
 */
import { openFrame } from "../erasure/bitrot.ts";
import { BLOCK_SIZE, CHECKSUM_SIZE, ErasureCodec } from "../erasure/codec.ts";
import { ExactReader } from "../erasure/exact-reader.ts";
import { decodeStream, type ShardSource } from "../erasure/stream.ts";
import { type StorageAPI, SYSTEM_VOLUME, TMP_DIR } from "../storage/api.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { lockKey, makeBucketOn } from "./erasure-set.ts";
import { InsufficientReadQuorum, ObjectNotFound } from "./errors.ts";
import type { HealReason, HealResult } from "./layer.ts";
import { encodeObjectName } from "./names.ts";
import {
  agreedVersions,
  fanOut,
  isMissing,
  type Outcome,
  type QuorumVersion,
  readMetas,
  withoutUnformatted,
} from "./quorum.ts";
import { encodeInline, partSources, writeShardFiles } from "./shard-io.ts";
import {
  compareVersions,
  CorruptMeta,
  encodeXlMeta,
  type ObjectVersion,
  type XlMeta,
} from "../storage/xl-meta.ts";

export interface HealOptions {
  /** Read and verify every block of every shard; otherwise check each shard file's size. */
  deep: boolean;
}

/**
 * Heals every version of an object that a read quorum of drives agree on (delete markers
 * included) onto the drives lacking it, merging it into their xl.meta, and removes the versions
 * (or the whole object) that too many drives lack to ever be read again. A version that cannot
 * be healed now does not keep the others from being healed; its error is thrown afterwards.
 */
export async function healObject(
  set: ErasureSet,
  bucket: string,
  object: string,
  options: HealOptions,
): Promise<HealResult> {
  return await set.locks.withWrite(lockKey(bucket, object), async () => {
    const path = encodeObjectName(object);
    // A drive that lost its format is offline: its "no such bucket" must not look like loss.
    const outcomes = await withoutUnformatted(
      set.drives,
      await readMetas(set.drives, bucket, path),
    );
    let agreed: QuorumVersion[];
    try {
      agreed = agreedVersions(outcomes, set.readQuorum, `${bucket}/${object}`);
    } catch (err) {
      if (err instanceof ObjectNotFound) {
        return await purgeDangling(set, bucket, object, outcomes, err);
      }
      throw err;
    }
    const reasons: Record<string, HealReason> = {};
    const note = (drive: StorageAPI, reason: HealReason) => reasons[drive.endpoint] ??= reason;
    await purgeDanglingVersions(set, bucket, path, outcomes, agreed, note);
    const batch = new MetadataBatch(set, bucket, path, note);
    let failure: unknown;
    for (const q of agreed) {
      await healVersion(set, bucket, path, q, outcomes, options.deep, batch).catch((err) => {
        failure ??= err;
      });
    }
    await batch.flush();
    if (failure !== undefined) throw failure;
    const healedDrives = set.drives.map((d) => d.endpoint).filter((e) => e in reasons);
    return { bucket, object, healedDrives, reasons };
  });
}

/**
 * Rebuilds one agreed version on the drives that lack it or hold it damaged: decodes it from
 * the healthy drives and encodes it again, writing only to those (into the temp area,
 * committed with renameData, which merges it into the drive's xl.meta). A delete marker has no
 * data: its metadata is all there is to copy. Versions without a data dir go through `batch`.
 */
async function healVersion(
  set: ErasureSet,
  bucket: string,
  path: string,
  q: QuorumVersion,
  outcomes: Outcome<XlMeta>[],
  deep: boolean,
  batch: MetadataBatch,
): Promise<void> {
  const { version, holders } = q;
  const codec = new ErasureCodec(version.erasure.dataShards, version.erasure.parityShards);
  const damage = await Promise.all(holders.map((h, i): Promise<HealReason | undefined> => {
    const drive = set.drives[i];
    if (!drive.available) return Promise.resolve(undefined);
    if (!h) return Promise.resolve("metadata");
    if (version.deleteMarker) return Promise.resolve(undefined);
    return shardDamage(codec, drive, h, bucket, path, deep);
  }));
  const lacking = damage.map((d) => d !== undefined);
  if (!lacking.includes(true)) return;
  const clean = holders.map((h, i) => (lacking[i] ? undefined : h));
  // Too few clean shards: damaged ones still serve their good blocks, stripe by stripe. Then
  // only one drive is rewritten per pass, so a crash while its data dir is being swapped
  // costs at most that drive's shard; the next pass has one more clean drive.
  const fallback = clean.filter(Boolean).length < codec.dataShards;
  const sources = fallback ? holders : clean;
  if (!version.deleteMarker && sources.filter(Boolean).length < codec.dataShards) {
    throw new InsufficientReadQuorum(`${bucket}/${path}: too few healthy shards to heal`);
  }
  const decodePart = (number: number, size: number) =>
    decodeStream(
      codec,
      size,
      0,
      size,
      partSources(codec, set.drives, sources, bucket, path, number),
    );
  const tmp = `${TMP_DIR}/${crypto.randomUUID()}`;
  const first = lacking.indexOf(true);
  const rebuild = lacking.map((l, i) => l && (!fallback || i === first));
  const onDisk = !version.deleteMarker && !version.inline;
  try {
    let written = rebuild;
    let inline: Uint8Array[] | undefined;
    if (version.inline) {
      inline = await encodeInline(codec, decodePart(1, version.size), version.size);
    } else if (onDisk) {
      for (const part of version.parts) {
        const done = await writeShardFiles(
          codec,
          set.drives,
          version.erasure.distribution,
          SYSTEM_VOLUME,
          `${tmp}/${version.dataDir}/part.${part.number}`,
          decodePart(part.number, part.size),
          1,
          rebuild,
        );
        written = written.map((w, i) => w && done[i]);
      }
    }
    await fanOut(set.drives, async (drive, i) => {
      if (!written[i]) return;
      const index = version.erasure.distribution[i];
      const healed: ObjectVersion = {
        ...version,
        erasure: { ...version.erasure, index },
        inline: inline?.[index - 1],
      };
      const stale = staleDataDir(outcomes[i], version);
      if (!onDisk && stale === undefined) return await batch.add(i, healed, damage[i]!);
      await makeBucketOn(drive, bucket);
      await drive.renameData(
        SYSTEM_VOLUME,
        onDisk ? `${tmp}/${version.dataDir}` : "",
        bucket,
        path,
        version.dataDir,
        encodeXlMeta({ versions: [healed] }),
        stale,
      );
      batch.note(drive, damage[i]!);
    });
  } finally {
    if (onDisk) {
      await fanOut(set.drives, async (d, i) => {
        if (rebuild[i]) await d.delete(SYSTEM_VOLUME, tmp, true);
      });
    }
  }
}

/** Inline shards a drive's batch holds at most before it is committed. */
const BATCH_BYTES = 4 * 1024 * 1024;

/**
 * The healed versions that have no data dir to move (delete markers, inline versions), kept
 * per drive and committed together, one renameData per drive: an object with a long history
 * gets its xl.meta rewritten once, not once per version. A drive whose commit fails is not
 * noted as healed (its heal runs again later).
 */
class MetadataBatch {
  #pending: { versions: ObjectVersion[]; reason?: HealReason; bytes: number }[];

  constructor(
    readonly set: ErasureSet,
    readonly bucket: string,
    readonly path: string,
    readonly note: (drive: StorageAPI, reason: HealReason) => void,
  ) {
    this.#pending = set.drives.map(() => ({ versions: [], bytes: 0 }));
  }

  async add(drive: number, version: ObjectVersion, reason: HealReason): Promise<void> {
    const p = this.#pending[drive];
    p.versions.push(version);
    p.reason ??= reason;
    p.bytes += version.inline?.byteLength ?? 0;
    if (p.bytes >= BATCH_BYTES) await this.#commit(drive);
  }

  async flush(): Promise<void> {
    await fanOut(this.set.drives, (_, i) => this.#commit(i));
  }

  async #commit(i: number): Promise<void> {
    const { versions, reason } = this.#pending[i];
    this.#pending[i] = { versions: [], bytes: 0 };
    if (versions.length === 0) return;
    const drive = this.set.drives[i];
    await makeBucketOn(drive, this.bucket);
    const meta = encodeXlMeta({ versions: versions.sort(compareVersions) });
    await drive.renameData(SYSTEM_VOLUME, "", this.bucket, this.path, "", meta);
    this.note(drive, reason!);
  }
}

/** The data dir of a drive's older copy of `version` (same id) that the healed one replaces. */
function staleDataDir(outcome: Outcome<XlMeta>, version: ObjectVersion): string | undefined {
  if (!outcome.ok) return undefined;
  const old = outcome.value.versions.find((v) => v.versionId === version.versionId);
  if (!old || old.inline || old.deleteMarker || old.dataDir === version.dataDir) return undefined;
  return old.dataDir;
}

/**
 * Removes, from the drives holding them, the versions that are not agreed and that too many
 * drives lack to ever be (a write that crashed before reaching quorum, or a version removed
 * while these drives were away). A version whose id is agreed in another form is not one: its
 * heal replaces it. While the offline drives could still make up a read quorum, nothing goes.
 */
async function purgeDanglingVersions(
  set: ErasureSet,
  bucket: string,
  path: string,
  outcomes: Outcome<XlMeta>[],
  agreed: QuorumVersion[],
  note: (drive: StorageAPI, reason: HealReason) => void,
): Promise<void> {
  const agreedIds = new Set(agreed.map((q) => q.version.versionId));
  const held = (o: Outcome<XlMeta>, id: string) =>
    o.ok && o.value.versions.some((v) => v.versionId === id);
  const lacks = (o: Outcome<XlMeta>, id: string) =>
    o.ok ? !held(o, id) : isMissing(o.error) && !(o.error instanceof CorruptMeta);
  await fanOut(set.drives, async (drive, i) => {
    const o = outcomes[i];
    if (!o.ok) return;
    for (const { versionId } of o.value.versions) {
      if (agreedIds.has(versionId)) continue;
      const missing = outcomes.filter((other) => lacks(other, versionId)).length;
      if (missing <= set.drives.length - set.readQuorum) continue;
      await drive.deleteVersion(bucket, path, versionId);
      note(drive, "metadata");
    }
  });
}

/**
 * Removes the remnants of an object that too many drives lack to ever be read again (a write
 * that crashed before reaching quorum, or an object deleted while these drives were away).
 * While the offline drives could still make up a read quorum, nothing is touched.
 */
async function purgeDangling(
  set: ErasureSet,
  bucket: string,
  object: string,
  outcomes: Outcome<XlMeta>[],
  notFound: ObjectNotFound,
): Promise<HealResult> {
  // A drive whose xl.meta is corrupt may still hold the object (MinIO does not count it either).
  const missing =
    outcomes.filter((o) => !o.ok && isMissing(o.error) && !(o.error instanceof CorruptMeta)).length;
  if (missing <= set.drives.length - set.readQuorum) throw notFound;
  const path = encodeObjectName(object);
  const purged = await fanOut(set.drives, async (drive, i) => {
    const o = outcomes[i];
    if (!o.ok) throw notFound;
    // The last version removed takes the object's directory with it.
    for (const v of o.value.versions) await drive.deleteVersion(bucket, path, v.versionId);
    return drive.endpoint;
  });
  return { bucket, object, healedDrives: purged.flatMap((p) => (p.ok ? [p.value] : [])) };
}

/**
 * What is wrong with one drive's shard of `version`, if anything: a part file missing or of
 * the wrong size, or (deep) a block failing its checksum.
 */
async function shardDamage(
  codec: ErasureCodec,
  drive: StorageAPI,
  version: ObjectVersion,
  bucket: string,
  path: string,
  deep: boolean,
): Promise<HealReason | undefined> {
  for (const part of version.parts) {
    const length = codec.shardFileSize(part.size);
    if (version.inline) {
      if (version.inline.byteLength !== length) return "size";
    } else {
      const file = `${path}/${version.dataDir}/part.${part.number}`;
      const stat = await drive.statFile(bucket, file).catch(() => undefined);
      if (!stat) return "missing";
      if (stat.size !== length) return "size";
    }
    if (!deep) continue;
    const source = partSources(codec, [drive], [version], bucket, path, part.number)[
      version.erasure.index - 1
    ];
    if (!source || !(await blocksVerify(codec, part.size, source))) return "bitrot";
  }
  return undefined;
}

/** True when every block of a shard of a `size`-byte part passes its checksum. */
async function blocksVerify(codec: ErasureCodec, size: number, source: ShardSource) {
  let reader: ExactReader | undefined;
  try {
    reader = new ExactReader(
      await source.open(0, codec.shardFileSize(size), codec.readChunkSize()),
    );
    for (let done = 0; done < size; done += BLOCK_SIZE) {
      const block = codec.shardBlockLength(Math.min(BLOCK_SIZE, size - done));
      openFrame(await reader.read(CHECKSUM_SIZE + block));
    }
    return true;
  } catch {
    return false;
  } finally {
    await reader?.cancel();
  }
}
