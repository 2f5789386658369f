/**
 * The objects of one bucket on one drive, in S3 key order, with folder markers in place.
 *
 * The drive's walkDir yields keys in order, except folder markers: "a/" is stored as
 * "a__XLDIR__", which the walk meets after the whole "a/" subtree and after siblings such as
 * "a0". So markers are taken from directory listings instead: whenever the walk first shows a
 * key inside a directory, that directory is listed once and its markers join a small sorted
 * queue, merged with the walk. A marker sorts after its directory's parent is entered, and
 * every key before it in walk order lies outside its directory, so none is emitted late.
 *
 * With delimiter "/", everything below the first "/" after the prefix folds into one common
 * prefix, so order inside those directories does not matter: they are not listed, and their
 * markers are passed on where the walk meets them.
 */
import type { StorageAPI, WalkEntry } from "../storage/api.ts";
import { META_FILE } from "../storage/api.ts";
import { compareKeys } from "../storage/paths.ts";
import { decodeObjectName, DIR_SUFFIX, encodeObjectName } from "./names.ts";

const MARKER_DIR = DIR_SUFFIX + "/";

export class DriveWalk {
  #iterator?: AsyncIterator<WalkEntry>;
  #head?: WalkEntry;
  #walkDone = false;
  #markers: string[] = [];
  /** The last name returned: a seek to before it needs no restart. */
  #last?: string;
  readonly #entered = new Set<string>();
  readonly #topDir: string;
  #entering?: Promise<void>;

  constructor(
    readonly drive: StorageAPI,
    readonly bucket: string,
    readonly prefix: string,
    private after: string,
    readonly delimiter = "",
    /** False: objects come without metadata (folder markers still bring theirs). */
    readonly withMetadata = true,
  ) {
    // The directory holding markers that start with the prefix ("a/b/" and "a/bc/" for "a/b").
    const base = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
    this.#topDir = base.slice(0, base.lastIndexOf("/") + 1);
    this.#entering = this.#enter(this.#topDir);
  }

  /** The next object (decoded name, raw metadata if asked for), or undefined at the end. */
  async next(): Promise<WalkEntry | undefined> {
    await this.#entering;
    for (;;) {
      if (!this.#head && !this.#walkDone) await this.#pull();
      const marker = this.#markers[0];
      if (marker !== undefined && (!this.#head || compareKeys(marker, this.#head.name) < 0)) {
        this.#markers.shift();
        const metaPath = `${encodeObjectName(marker)}/${META_FILE}`;
        const metadata = await this.drive.readAll(this.bucket, metaPath).catch(() => undefined);
        if (!metadata) continue;
        this.#last = marker;
        return { name: marker, metadata };
      }
      const head = this.#head;
      this.#head = undefined;
      if (head) this.#last = head.name;
      return head;
    }
  }

  /** Skips to the keys after `after` (restarting the drive's walk there). */
  async seek(after: string): Promise<void> {
    if (compareKeys(after, this.after) <= 0) return;
    this.after = after;
    this.#markers = this.#markers.filter((m) => compareKeys(m, after) > 0);
    if (this.#head && compareKeys(this.#head.name, after) > 0) return;
    this.#head = undefined;
    if (this.#walkDone || (this.#last && compareKeys(this.#last, after) >= 0)) return;
    await this.close();
    this.#walkDone = false;
  }

  async close(): Promise<void> {
    await this.#entering;
    const iterator = this.#iterator;
    this.#iterator = undefined;
    await iterator?.return?.();
  }

  async #pull(): Promise<void> {
    this.#iterator ??= this.drive.walkDir(this.bucket, {
      prefix: this.prefix,
      startAfter: this.after,
      withMetadata: this.withMetadata,
    })
      [Symbol.asyncIterator]();
    for (;;) {
      const r = await this.#iterator.next();
      if (r.done) {
        this.#walkDone = true;
        this.#iterator = undefined;
        return;
      }
      const { name, metadata } = r.value;
      await this.#enterAncestors(name);
      if (name.endsWith(DIR_SUFFIX)) {
        // Taken from the listing of its directory, unless that directory folds away.
        if (this.#ordered(name.slice(0, name.lastIndexOf("/") + 1))) continue;
        this.#head = { name: decodeObjectName(name), metadata };
      } else {
        this.#head = r.value;
      }
      return;
    }
  }

  async #enterAncestors(name: string): Promise<void> {
    for (let at = name.indexOf("/", this.#topDir.length); at >= 0; at = name.indexOf("/", at + 1)) {
      const dir = name.slice(0, at + 1);
      if (!this.#ordered(dir)) return;
      await this.#enter(dir);
    }
  }

  /** Whether the markers of directory `dir` must come out in order (see the module comment). */
  #ordered(dir: string): boolean {
    return this.delimiter !== "/" || dir.indexOf("/", this.prefix.length) < 0;
  }

  /** Lists directory `dir` ("" or "…/") once and queues its markers. */
  async #enter(dir: string): Promise<void> {
    if (this.#entered.has(dir)) return;
    this.#entered.add(dir);
    let names: string[];
    try {
      names = await this.drive.listDir(this.bucket, dir.slice(0, -1));
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.endsWith(MARKER_DIR)) continue;
      const marker = dir + n.slice(0, -MARKER_DIR.length) + "/";
      if (marker.startsWith(this.prefix) && compareKeys(marker, this.after) > 0) {
        this.#markers.push(marker);
      }
    }
    this.#markers.sort(compareKeys);
  }
}
