/**
 * Recursive listing of the objects of one volume in S3 key order, streamed: only the sorted
 * entries of the directories along the current path (and a few read ahead) are in memory.
 *
 * An object "a" is the directory "a" holding META_FILE; objects may nest ("a" and "a/b").
 * Each subdirectory "a" of a level stands for two positions in key order: the object "a"
 * itself and the subtree "a/". Sorting both kinds of position together gives the byte order
 * of full keys: "a" < "a-c" < "a/b" < "ab" (plain directory order would put "a-c" first).
 */
import { join } from "node:path";
import { META_FILE, type WalkEntry, type WalkOptions } from "./api.ts";
import type { DirListing } from "./dir-cache.ts";
import { isNotFound } from "./os-errors.ts";
import { compareKeys, isPath } from "./paths.ts";

/** Directories read ahead of the one being yielded: file-system calls run on a thread pool. */
const READ_AHEAD = 16;

interface Position {
  /** Full key of the object, or the key prefix ("…/") of the subtree. */
  key: string;
  subtree: boolean;
  /** Name of the subdirectory this position belongs to. */
  name: string;
}

/** What one directory holds, and its object's metadata if wanted. */
interface DirContents {
  listing: DirListing;
  metadata?: Uint8Array;
}

/** Lists an absolute directory; undefined when it does not exist. */
export type ListingReader = (dir: string) => Promise<DirListing | undefined>;

/** Reads a whole file by absolute path (as Deno.readFile, whose errors it throws). */
export type FileReader = (path: string) => Promise<Uint8Array>;

/**
 * Yields the objects under `root` (a volume directory) matching `options`, in key order.
 * `skip` names top-level entries that are not objects (the temp area of the system volume).
 */
export async function* walkObjects(
  root: string,
  options: WalkOptions,
  read: ListingReader,
  readFile: FileReader,
  skip: ReadonlySet<string> = new Set(),
): AsyncGenerator<WalkEntry> {
  const prefix = options.prefix ?? "";
  const startAfter = options.startAfter ?? "";
  const withMetadata = options.withMetadata ?? true;
  // Start at the deepest directory the prefix names: nothing above it can match.
  const base = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  // No stored key has an empty, "." or ".." segment; such a prefix must not leave the volume.
  if (base !== "" && !isPath(base.slice(0, -1))) return;
  const top = await read(join(root, base));
  if (!top) return;
  yield* walkLevel(join(root, base), base, top, base === "" ? skip : new Set());

  async function* walkLevel(
    dir: string,
    keyPrefix: string,
    listing: DirListing,
    skipHere: ReadonlySet<string>,
  ): AsyncGenerator<WalkEntry> {
    const todo = wanted(keyPrefix, listing.positions, skipHere);
    const ahead: Position[] = [];
    const loads = new Map<string, Promise<DirContents | undefined>>();
    const load = (pos: Position) => {
      let p = loads.get(pos.name);
      if (!p) {
        // An object position comes before its subtree's: it decides whether to read metadata.
        p = readContents(join(dir, pos.name), withMetadata && !pos.subtree);
        // Read ahead: a failure is reported when its position is reached, not before.
        p.catch(() => undefined);
        loads.set(pos.name, p);
      }
      return p;
    };
    for (;;) {
      while (ahead.length < READ_AHEAD) {
        const r = todo.next();
        if (r.done) break;
        ahead.push(r.value);
        load(r.value);
      }
      const pos = ahead.shift();
      if (!pos) return;
      const contents = await load(pos);
      if (!contents) continue;
      if (!pos.subtree) {
        if (contents.listing.isObject) yield { name: pos.key, metadata: contents.metadata };
      } else {
        loads.delete(pos.name);
        if (contents.listing.subdirs.length > 0) {
          yield* walkLevel(join(dir, pos.name), pos.key, contents.listing, new Set());
        }
      }
    }
  }

  /**
   * The positions of one level that can hold matching keys, in key order: the subtree that
   * startAfter lies in, if any, then from a binary search on, while they match the prefix.
   */
  function* wanted(
    keyPrefix: string,
    positions: readonly string[],
    skipHere: ReadonlySet<string>,
  ): Generator<Position> {
    // Below the top level every key matches the prefix; at it, keys must extend its rest.
    const rest = prefix.length > keyPrefix.length ? prefix.slice(keyPrefix.length) : "";
    const make = (rel: string): Position => {
      const subtree = rel.endsWith("/");
      return { key: keyPrefix + rel, subtree, name: subtree ? rel.slice(0, -1) : rel };
    };
    if (startAfter.startsWith(keyPrefix)) {
      const seg = startAfter.slice(keyPrefix.length);
      const slash = seg.indexOf("/");
      const rel = seg.slice(0, slash + 1);
      // Every key below "x/" sorts at or before startAfter except those of this subtree.
      if (slash >= 0 && rel.startsWith(rest) && !skipHere.has(rel.slice(0, -1))) {
        const i = firstIndex(positions, (p) => compareKeys(p, rel) >= 0);
        if (positions[i] === rel) yield make(rel);
      }
    }
    const from = Math.max(
      firstIndex(positions, (p) => compareKeys(keyPrefix + p, startAfter) > 0),
      firstIndex(positions, (p) => compareKeys(p, rest) >= 0),
    );
    for (let i = from; i < positions.length; i++) {
      const rel = positions[i];
      if (!rel.startsWith(rest)) return;
      const pos = make(rel);
      if (!skipHere.has(pos.name)) yield pos;
    }
  }

  /** A directory's listing and, when `withMetadata`, its META_FILE's contents. */
  async function readContents(dir: string, metadata: boolean): Promise<DirContents | undefined> {
    const listing = await read(dir);
    if (!listing || !listing.isObject || !metadata) return listing && { listing };
    try {
      return { listing, metadata: await readFile(join(dir, META_FILE)) };
    } catch (err) {
      // Deleted since it was listed: no longer an object, its subtree may remain.
      if (isNotFound(err)) return { listing: { ...listing, isObject: false } };
      throw err;
    }
  }
}

/** The first index of sorted `items` for which `atOrAfter` holds (items.length if none). */
function firstIndex<T>(items: readonly T[], atOrAfter: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (atOrAfter(items[mid])) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
