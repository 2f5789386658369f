/**
 * A bounded cache of directory listings, so that a page deep into a folder of many thousand
 * keys costs a stat and a binary search instead of reading and sorting the whole folder again.
 *
 * An entry is used only while the directory's mtime and inode are what they were when it was
 * read, and only when that mtime was already older than RACY_MS at the time of reading: a
 * change in the same clock tick as the read could otherwise leave the mtime unchanged. The
 * owner also invalidates every directory it changes, so its own writes are seen at once
 * whatever the timestamps; a change by another process is seen at the next stat, or later on a
 * file system whose timestamps are coarser than RACY_MS (FAT, some network file systems).
 * Memory is bounded by the number of names held, least recently used entries going first.
 */
import { META_FILE } from "./api.ts";
import { isNotFound } from "./os-errors.ts";
import { sortKeys } from "./paths.ts";

/**
 * A directory's mtime must be at least this much older than its reading to be trusted: Linux
 * stamps files from a clock that lags the wall clock by up to one tick (at most 10 ms).
 */
const RACY_MS = 50;

/** What one directory holds. Shared between callers: never modified. */
export interface DirListing {
  /** Holds META_FILE: the directory is an object. */
  readonly isObject: boolean;
  /** Subdirectory names, unsorted. */
  readonly subdirs: readonly string[];
  /** Each subdirectory twice, as "name" and "name/", in S3 key order (see walk.ts). */
  readonly positions: readonly string[];
  /** Every name, subdirectories ending in "/", in key order (StorageAPI.listDir). */
  readonly names: readonly string[];
}

interface Entry {
  listing: DirListing;
  mtime: number;
  ino: number | null;
}

interface Reading {
  promise: Promise<DirListing | undefined>;
  /** Invalidated while being read: its result must not be cached. */
  stale: boolean;
}

export class DirCache {
  readonly #entries = new Map<string, Entry>();
  readonly #reading = new Map<string, Reading>();
  #names = 0;

  constructor(readonly maxNames = 100_000) {}

  /** Names held, the quantity bounded by maxNames. */
  get size(): number {
    return this.#names;
  }

  /** The listing of absolute directory `dir`; undefined when it does not exist. */
  async read(dir: string): Promise<DirListing | undefined> {
    const entry = this.#entries.get(dir);
    if (entry) {
      let st: Deno.FileInfo | undefined;
      try {
        st = await Deno.stat(dir);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      // Still the entry read then (not invalidated meanwhile) and the directory unchanged.
      if (this.#entries.get(dir) === entry) {
        if (st?.isDirectory && st.mtime?.getTime() === entry.mtime && st.ino === entry.ino) {
          this.#entries.delete(dir);
          this.#entries.set(dir, entry);
          return entry.listing;
        }
        this.#drop(dir);
      }
      if (!st?.isDirectory) return undefined;
    }
    let reading = this.#reading.get(dir);
    if (!reading) {
      const r: Reading = { promise: this.#load(dir, () => r.stale), stale: false };
      reading = r;
      this.#reading.set(dir, r);
      r.promise.finally(() => {
        if (this.#reading.get(dir) === r) this.#reading.delete(dir);
      }).catch(() => {});
    }
    return await reading.promise;
  }

  /** Forgets directory `dir` (absolute): it has changed or is about to. */
  invalidate(dir: string): void {
    this.#drop(dir);
    const reading = this.#reading.get(dir);
    if (reading) {
      reading.stale = true;
      this.#reading.delete(dir);
    }
  }

  /** Forgets every directory below `dir` (a removed tree). */
  invalidateBelow(dir: string): void {
    const below = dir + "/";
    for (const d of [...this.#entries.keys(), ...this.#reading.keys()]) {
      if (d.startsWith(below)) this.invalidate(d);
    }
  }

  async #load(dir: string, stale: () => boolean): Promise<DirListing | undefined> {
    const started = Date.now();
    let st: Deno.FileInfo;
    try {
      // Stat first: a change after it shows as a different mtime next time.
      st = await Deno.stat(dir);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const listing = await readListing(dir);
    const mtime = st.mtime?.getTime();
    if (listing && !stale() && mtime !== undefined && mtime < started - RACY_MS) {
      this.#insert(dir, { listing, mtime, ino: st.ino });
    }
    return listing;
  }

  #insert(dir: string, entry: Entry): void {
    const weight = entryWeight(entry);
    if (weight > this.maxNames) return;
    this.#drop(dir);
    this.#entries.set(dir, entry);
    this.#names += weight;
    for (const oldest of this.#entries.keys()) {
      if (this.#names <= this.maxNames) break;
      this.#drop(oldest);
    }
  }

  #drop(dir: string): void {
    const entry = this.#entries.get(dir);
    if (!entry) return;
    this.#entries.delete(dir);
    this.#names -= entryWeight(entry);
  }
}

function entryWeight(entry: Entry): number {
  const { subdirs, positions, names } = entry.listing;
  return subdirs.length + positions.length + names.length;
}

/** Reads a directory without caching (volumes whose writers bypass the invalidation). */
export async function readListing(dir: string): Promise<DirListing | undefined> {
  const subdirs: string[] = [];
  const files: string[] = [];
  let isObject = false;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) {
        subdirs.push(e.name);
      } else {
        files.push(e.name);
        isObject ||= e.name === META_FILE && e.isFile;
      }
    }
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const positions = sortKeys(subdirs.flatMap((n) => [n, n + "/"]));
  const names = sortKeys([...files, ...subdirs.map((n) => n + "/")]);
  return { isObject, subdirs, positions, names };
}
