/**
 * The listing walk under ListObjects and ListObjectVersions: a k-way merge of the drives of each
 * set (an object's versions are listed only when a read quorum of drives agree on them), merged
 * again across sets, then folded by delimiter into common prefixes. Memory is bounded by what
 * the caller keeps: each drive contributes one entry at a time.
 *
 * A common prefix is emitted once; when its subtree keeps coming, every walk is restarted past
 * it, so a folder of a million objects costs a directory listing, not a million reads.
 */
import { META_FILE, type StorageAPI } from "../storage/api.ts";
import { compareKeys } from "../storage/paths.ts";
import { DriveWalk } from "./drive-walk.ts";
import { type ErasureSet, objectInfo } from "./erasure-set.ts";
import { InsufficientReadQuorum } from "./errors.ts";
import type { ListObjectsOptions, ListObjectsResult } from "./layer.ts";
import { encodeObjectName } from "./names.ts";
import { MergedWalk } from "./walk-merge.ts";
import { agreedVersions, type Outcome, type QuorumVersion } from "./quorum.ts";
import { CorruptMeta, decodeXlMeta, type ObjectVersion, type XlMeta } from "../storage/xl-meta.ts";

/** Entries of one common prefix skipped one by one before the walks jump past it. */
const SKIP_BEFORE_SEEK = 8;
/** Sorts after every key that starts with a given prefix (keys are at most 1024 bytes). */
const PAST = "\u{10FFFF}".repeat(257);

/** An object of a listing: the versions a read quorum agrees on, newest first (never none). */
export interface ListedObject {
  name: string;
  versions: ObjectVersion[];
}

/** What a listing walk yields, in key order: objects, and common prefixes (ending with it). */
export type ListingEntry = ListedObject | { prefix: string };

export interface ListingWalkOptions {
  prefix?: string;
  delimiter?: string;
  /** Only keys (and common prefixes) sorting strictly after this. */
  marker?: string;
  /** Objects that count for the listing (and for the common prefixes they fold into). */
  include?: (object: ListedObject) => boolean;
}

/**
 * The objects of one set that a read quorum agrees on, in key order. Every drive's walk gives
 * names, but only some of them (a rotation picked per listing) read each object's metadata:
 * a read quorum, and enough that the drives left unread are fewer than a read quorum. When
 * those agree, as they do unless the object is degraded, the others cannot hold a version of
 * their own that a read quorum agrees on (a write cut off after reaching just the unread
 * drives, say) and would only confirm. Otherwise the others are read too.
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
        .slice(0, Math.max(set.readQuorum, n - set.readQuorum + 1)),
    );
    this.#merge = new MergedWalk(
      set.drives.map((d, i) =>
        d.available
          ? new DriveWalk(d, bucket, prefix, marker, delimiter, readers.has(i))
          : undefined
      ),
    );
  }

  async next(): Promise<ListedObject | undefined> {
    for (;;) {
      const merged = await this.#merge.next();
      const alive = this.#merge.alive;
      if (alive < this.set.readQuorum) {
        throw new InsufficientReadQuorum(`listing ${this.bucket}: ${alive} drives readable`);
      }
      if (!merged) return undefined;
      const { name } = merged;
      const having: DriveVersions[] = [];
      merged.entries.forEach((e, i) => {
        if (!e) return;
        having.push({
          drive: this.set.drives[i],
          unread: e.metadata === undefined,
          versions: e.metadata && parseVersions(e.metadata),
        });
      });
      let agreed = agreedList(having, this.set.readQuorum);
      // Drives not read could still hold a newer version of their own with a read quorum.
      const unread = having.filter((h) => h.unread).length;
      if (unread > 0 && (!agreed.unanimous || unread >= this.set.readQuorum)) {
        await readUnread(this.bucket, name, having);
        agreed = agreedList(having, this.set.readQuorum);
      }
      // Below quorum a version is not listed; healing completes it or removes its remnants.
      if (having.length < alive || !agreed.unanimous) {
        this.set.options.onDegraded(this.bucket, name);
      }
      if (agreed.versions.length > 0) return { name, versions: agreed.versions };
    }
  }

  seek(after: string): Promise<void> {
    return this.#merge.seek(after);
  }

  close(): Promise<void> {
    return this.#merge.close();
  }
}

interface DriveVersions {
  drive: StorageAPI;
  /** The walk gave the name only; the metadata is read when needed. */
  unread: boolean;
  /** Undefined when unread, or when the drive's metadata is corrupt: it counts for nothing. */
  versions?: ObjectVersion[];
}

/** Reads the metadata of the entries whose walk did not. */
async function readUnread(bucket: string, name: string, entries: DriveVersions[]): Promise<void> {
  const path = `${encodeObjectName(name)}/${META_FILE}`;
  await Promise.all(entries.map(async (h) => {
    if (!h.unread) return;
    h.unread = false;
    h.versions = await h.drive.readAll(bucket, path).then(parseVersions, () => undefined);
  }));
}

/** One object of `set` as a listing sees it (undefined: a read quorum agrees on no version). */
export async function readListedObject(
  set: ErasureSet,
  bucket: string,
  name: string,
): Promise<ListedObject | undefined> {
  const having = set.drives.filter((d) => d.available).map((drive) => ({ drive, unread: true }));
  await readUnread(bucket, name, having);
  const { versions } = agreedList(having, set.readQuorum);
  return versions.length > 0 ? { name, versions } : undefined;
}

/**
 * The versions a read quorum of the drives read agree on (quorum.ts), newest first; unanimous
 * when every drive read holds exactly those.
 */
function agreedList(
  entries: DriveVersions[],
  readQuorum: number,
): { versions: ObjectVersion[]; unanimous: boolean } {
  const read = entries.filter((h) => !h.unread);
  const outcomes = read.map((h): Outcome<XlMeta> =>
    h.versions ? { ok: true, value: { versions: h.versions } } : { ok: false, error: UNREADABLE }
  );
  let agreed: QuorumVersion[] = [];
  try {
    agreed = agreedVersions(outcomes, readQuorum, "listing");
  } catch {
    // No version agreed: nothing to list.
  }
  const unanimous = read.length > 0 && agreed.every((q) => q.holders.every(Boolean)) &&
    read.every((h) => h.versions?.length === agreed.length);
  return { versions: agreed.map((q) => q.version), unanimous };
}

const UNREADABLE = new CorruptMeta("unreadable xl.meta");

function parseVersions(bytes: Uint8Array): ObjectVersion[] | undefined {
  try {
    return decodeXlMeta(bytes).versions;
  } catch {
    return undefined;
  }
}

/**
 * Every object (or common prefix) of a bucket over all its sets, in key order (the caller
 * checked the bucket). Stop iterating to end the walks.
 */
export async function* walkListing(
  sets: ErasureSet[],
  bucket: string,
  options: ListingWalkOptions,
): AsyncGenerator<ListingEntry> {
  const prefix = options.prefix ?? "";
  const delimiter = options.delimiter ?? "";
  const marker = options.marker ?? "";
  const walks = sets.map((s) => new SetWalk(s, bucket, { prefix, marker, delimiter }));
  const heads: (ListedObject | undefined)[] = sets.map(() => undefined);
  const pending = sets.map(() => true);
  let last: string | undefined;
  let skipped = 0;
  try {
    for (;;) {
      await Promise.all(walks.map(async (w, i) => {
        if (pending[i]) [heads[i], pending[i]] = [await w.next(), false];
      }));
      let min: ListedObject | undefined;
      for (const h of heads) if (h && (!min || compareKeys(h.name, min.name) < 0)) min = h;
      if (!min) return;
      heads.forEach((h, i) => pending[i] = h?.name === min.name);
      if (options.include && !options.include(min)) continue;
      const cut = delimiter ? min.name.indexOf(delimiter, prefix.length) : -1;
      const common = cut >= 0 ? min.name.slice(0, cut + delimiter.length) : undefined;
      if (common !== undefined && (common === last || compareKeys(common, marker) <= 0)) {
        if (++skipped >= SKIP_BEFORE_SEEK) {
          await Promise.all(walks.map((w) => w.seek(common + PAST)));
          heads.forEach((h, i) => pending[i] ||= !h || compareKeys(h.name, common + PAST) <= 0);
        }
        continue;
      }
      skipped = 0;
      last = common ?? min.name;
      yield common !== undefined ? { prefix: common } : min;
    }
  } finally {
    await Promise.all(walks.map((w) => w.close()));
  }
}

/** One page of ListObjects: the current versions that are not delete markers. */
export async function listObjects(
  sets: ErasureSet[],
  bucket: string,
  options: ListObjectsOptions,
): Promise<ListObjectsResult> {
  const result: ListObjectsResult = { objects: [], prefixes: [], isTruncated: false };
  if (options.maxKeys <= 0) return result;
  const walk = walkListing(sets, bucket, { ...options, include: isLive });
  let last: string | undefined;
  for await (const entry of walk) {
    if (result.objects.length + result.prefixes.length === options.maxKeys) {
      result.isTruncated = true;
      result.nextMarker = last;
      break;
    }
    if ("prefix" in entry) result.prefixes.push(entry.prefix);
    else result.objects.push(objectInfo(bucket, entry.name, entry.versions[0]));
    last = "prefix" in entry ? entry.prefix : entry.name;
  }
  return result;
}

/** Whether an object's current version is not a delete marker. */
function isLive(object: ListedObject): boolean {
  return !object.versions[0].deleteMarker;
}
