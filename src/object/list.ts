/**
 * ListObjects: a k-way merge of the drives of each set (an object is listed only when a read
 * quorum of drives agree on its metadata), merged again across sets, then folded by delimiter
 * into one page. Memory is bounded by the page: each drive contributes one entry at a time.
 *
 * A common prefix is emitted once; when its subtree keeps coming, every walk is restarted past
 * it, so a folder of a million objects costs a directory listing, not a million reads.
 */
import { META_FILE, type StorageAPI } from "../storage/api.ts";
import { compareKeys } from "../storage/paths.ts";
import { DriveWalk } from "./drive-walk.ts";
import { type ErasureSet, objectInfo } from "./erasure-set.ts";
import { InsufficientReadQuorum } from "./errors.ts";
import type { ListObjectsOptions, ListObjectsResult, ObjectInfo } from "./layer.ts";
import { encodeObjectName } from "./names.ts";
import { MergedWalk } from "./walk-merge.ts";
import { decodeXlMeta, latestVersion, type ObjectVersion, versionKey } from "./xl-meta.ts";

/** Entries of one common prefix skipped one by one before the walks jump past it. */
const SKIP_BEFORE_SEEK = 8;
/** Sorts after every key that starts with a given prefix (keys are at most 1024 bytes). */
const PAST = "\u{10FFFF}".repeat(257);

/**
 * The objects of one set that a read quorum agrees on, in key order. Every drive's walk gives
 * names, but only a read quorum of them (a rotation picked per listing) read each object's
 * metadata: when those agree, as they do unless the object is degraded, the others would
 * only confirm. Otherwise the others are read too.
 */
class SetWalk {
  readonly #merge: MergedWalk;

  constructor(
    readonly set: ErasureSet,
    readonly bucket: string,
    options: { prefix: string; marker: string; delimiter: string },
  ) {
    const { prefix, marker, delimiter } = options;
    const n = set.drives.length;
    const start = Math.floor(Math.random() * n);
    const readers = new Set(
      Array.from({ length: n }, (_, i) => (start + i) % n)
        .filter((i) => set.drives[i].state === "online")
        .slice(0, set.readQuorum),
    );
    this.#merge = new MergedWalk(
      set.drives.map((d, i) =>
        d.available
          ? new DriveWalk(d, bucket, prefix, marker, delimiter, readers.has(i))
          : undefined
      ),
    );
  }

  async next(bucket: string): Promise<ObjectInfo | undefined> {
    for (;;) {
      const merged = await this.#merge.next();
      const alive = this.#merge.alive;
      if (alive < this.set.readQuorum) {
        throw new InsufficientReadQuorum(`listing ${bucket}: ${alive} drives readable`);
      }
      if (!merged) return undefined;
      const { name } = merged;
      const having: ObjectVersionEntry[] = [];
      merged.entries.forEach((e, i) => {
        if (!e) return;
        having.push({
          name,
          drive: this.set.drives[i],
          unread: e.metadata === undefined,
          version: e.metadata && parseVersion(e.metadata),
        });
      });
      let best = mostAgreed(having);
      if ((best?.count ?? 0) < this.set.readQuorum && having.some((h) => h.unread)) {
        await this.#readRest(having);
        best = mostAgreed(having);
      }
      if (!best) continue;
      // Below quorum it is not listed; healing completes it or removes its remnants.
      const read = having.filter((h) => !h.unread).length;
      if (having.length < alive || best.count < read) this.set.options.onDegraded(bucket, name);
      if (best.count >= this.set.readQuorum) return objectInfo(bucket, name, best.version);
    }
  }

  /** Reads the metadata of the entries whose walk did not. */
  async #readRest(entries: ObjectVersionEntry[]): Promise<void> {
    await Promise.all(entries.map(async (h) => {
      if (!h.unread) return;
      h.unread = false;
      const path = `${encodeObjectName(h.name)}/${META_FILE}`;
      h.version = await h.drive.readAll(this.bucket, path).then(parseVersion, () => undefined);
    }));
  }

  seek(after: string): Promise<void> {
    return this.#merge.seek(after);
  }

  close(): Promise<void> {
    return this.#merge.close();
  }
}

interface ObjectVersionEntry {
  name: string;
  drive: StorageAPI;
  /** The walk gave the name only; the metadata is read when needed. */
  unread: boolean;
  /** Undefined when unread, or when the drive's metadata is corrupt: it counts for nothing. */
  version?: ObjectVersion;
}

/** The version most entries agree on, with its count. */
function mostAgreed(
  entries: ObjectVersionEntry[],
): { version: ObjectVersion; count: number } | undefined {
  const counts = new Map<string, { version: ObjectVersion; count: number }>();
  for (const h of entries) {
    if (!h.version) continue;
    const key = versionKey(h.version);
    const entry = counts.get(key) ?? { version: h.version, count: 0 };
    entry.count++;
    counts.set(key, entry);
  }
  let best: { version: ObjectVersion; count: number } | undefined;
  for (const c of counts.values()) if (!best || c.count > best.count) best = c;
  return best;
}

function parseVersion(bytes: Uint8Array): ObjectVersion | undefined {
  try {
    return latestVersion(decodeXlMeta(bytes));
  } catch {
    return undefined;
  }
}

/** One page of a bucket's listing over all its sets (the caller checked the bucket). */
export async function listObjects(
  sets: ErasureSet[],
  bucket: string,
  options: ListObjectsOptions,
): Promise<ListObjectsResult> {
  const prefix = options.prefix ?? "";
  const delimiter = options.delimiter ?? "";
  const marker = options.marker ?? "";
  const result: ListObjectsResult = { objects: [], prefixes: [], isTruncated: false };
  if (options.maxKeys <= 0) return result;
  const walks = sets.map((s) => new SetWalk(s, bucket, { prefix, marker, delimiter }));
  const heads: (ObjectInfo | undefined)[] = sets.map(() => undefined);
  const pending = sets.map(() => true);
  let last: string | undefined;
  let skipped = 0;
  try {
    for (;;) {
      await Promise.all(walks.map(async (w, i) => {
        if (pending[i]) [heads[i], pending[i]] = [await w.next(bucket), false];
      }));
      let min: ObjectInfo | undefined;
      for (const h of heads) if (h && (!min || compareKeys(h.name, min.name) < 0)) min = h;
      if (!min) break;
      heads.forEach((h, i) => pending[i] = h?.name === min.name);
      const cut = delimiter ? min.name.indexOf(delimiter, prefix.length) : -1;
      const common = cut >= 0 ? min.name.slice(0, cut + delimiter.length) : undefined;
      if (common !== undefined && (common === last || compareKeys(common, marker) <= 0)) {
        if (++skipped >= SKIP_BEFORE_SEEK) {
          await Promise.all(walks.map((w) => w.seek(common + PAST)));
          heads.forEach((h, i) => pending[i] ||= !h || compareKeys(h.name, common + PAST) <= 0);
        }
        continue;
      }
      if (result.objects.length + result.prefixes.length === options.maxKeys) {
        result.isTruncated = true;
        result.nextMarker = last;
        break;
      }
      skipped = 0;
      if (common !== undefined) result.prefixes.push(common);
      else result.objects.push(min);
      last = common ?? min.name;
    }
  } finally {
    await Promise.all(walks.map((w) => w.close()));
  }
  return result;
}
