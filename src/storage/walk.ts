/**
 * Recursive listing of the objects of one volume in S3 key order, streamed: only the sorted
 * entries of the directories along the current path are held in memory.
 *
 * An object "a" is the directory "a" holding META_FILE; objects may nest ("a" and "a/b").
 * Each subdirectory "a" of a level stands for two positions in key order: the object "a"
 * itself and the subtree "a/". Sorting both kinds of position together gives the byte order
 * of full keys: "a" < "a-c" < "a/b" < "ab" (plain directory order would put "a-c" first).
 */
import { join } from "node:path";
import { META_FILE, type WalkEntry, type WalkOptions } from "./api.ts";
import { isNotFound } from "./os-errors.ts";
import { compareKeys } from "./paths.ts";

interface Position {
  /** Full key of the object, or the key prefix ("…/") of the subtree. */
  key: string;
  subtree: boolean;
  /** Directory on disk. */
  dir: string;
}

/**
 * Yields the objects under `root` (a volume directory) matching `options`, in key order.
 * `skip` names top-level entries that are not objects (the temp area of the system volume).
 */
export async function* walkObjects(
  root: string,
  options: WalkOptions,
  skip: ReadonlySet<string> = new Set(),
): AsyncGenerator<WalkEntry> {
  const prefix = options.prefix ?? "";
  const startAfter = options.startAfter ?? "";
  // Start at the deepest directory the prefix names: nothing above it can match.
  const base = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  yield* walkLevel(join(root, base), base, base === "" ? skip : new Set());

  async function* walkLevel(
    dir: string,
    keyPrefix: string,
    skipHere: ReadonlySet<string>,
  ): AsyncGenerator<WalkEntry> {
    for (const pos of await positions(dir, keyPrefix, skipHere)) {
      if (pos.subtree) {
        if (!overlapsPrefix(pos.key)) {
          if (compareKeys(pos.key, prefix) > 0) return;
          continue;
        }
        if (entirelyBefore(pos.key)) continue;
        yield* walkLevel(pos.dir, pos.key, new Set());
      } else {
        if (!pos.key.startsWith(prefix)) {
          if (compareKeys(pos.key, prefix) > 0) return;
          continue;
        }
        if (compareKeys(pos.key, startAfter) <= 0) continue;
        const metadata = await readMeta(pos.dir);
        if (metadata) yield { name: pos.key, metadata };
      }
    }
  }

  /** True when some key below `subtree` ("x/") can start with the prefix. */
  function overlapsPrefix(subtree: string): boolean {
    return subtree.startsWith(prefix) || prefix.startsWith(subtree);
  }

  /** True when every key below `subtree` sorts at or before startAfter. */
  function entirelyBefore(subtree: string): boolean {
    return compareKeys(subtree, startAfter) < 0 && !startAfter.startsWith(subtree);
  }
}

/** The positions of one directory level, sorted by key. Missing directory → none. */
async function positions(
  dir: string,
  keyPrefix: string,
  skip: ReadonlySet<string>,
): Promise<Position[]> {
  const out: Position[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory || skip.has(entry.name)) continue;
      const key = keyPrefix + entry.name;
      const path = join(dir, entry.name);
      out.push({ key, subtree: false, dir: path }, { key: key + "/", subtree: true, dir: path });
    }
  } catch (err) {
    if (isNotFound(err)) return out;
    throw err;
  }
  return out.sort((a, b) => compareKeys(a.key, b.key));
}

/** The object's metadata, or undefined when the directory holds no object. */
async function readMeta(dir: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(join(dir, META_FILE));
  } catch (err) {
    if (isNotFound(err) || err instanceof Deno.errors.IsADirectory) return undefined;
    throw err;
  }
}
