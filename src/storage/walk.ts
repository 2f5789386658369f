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
import { isNotFound } from "./os-errors.ts";
import { compareKeys, isPath, sortKeys } from "./paths.ts";

/** Directories read ahead of the one being yielded: file-system calls run on a thread pool. */
const READ_AHEAD = 16;

interface Position {
  /** Full key of the object, or the key prefix ("…/") of the subtree. */
  key: string;
  subtree: boolean;
  /** Name of the subdirectory this position belongs to. */
  name: string;
}

/** What one directory holds: whether it is an object (and its metadata, if wanted), its subdirectories. */
interface DirContents {
  isObject: boolean;
  metadata?: Uint8Array;
  subdirs: string[];
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
  const withMetadata = options.withMetadata ?? true;
  // Start at the deepest directory the prefix names: nothing above it can match.
  const base = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  // No stored key has an empty, "." or ".." segment; such a prefix must not leave the volume.
  if (base !== "" && !isPath(base.slice(0, -1))) return;
  const top = await readContents(join(root, base), false);
  if (!top) return;
  const subdirs = base === "" ? top.subdirs.filter((n) => !skip.has(n)) : top.subdirs;
  yield* walkLevel(join(root, base), base, subdirs);

  async function* walkLevel(
    dir: string,
    keyPrefix: string,
    subdirs: string[],
  ): AsyncGenerator<WalkEntry> {
    const todo = wanted(keyPrefix, subdirs);
    const wantObject = new Set(todo.filter((p) => !p.subtree).map((p) => p.name));
    const loads = new Map<string, Promise<DirContents | undefined>>();
    const load = (name: string) => {
      let p = loads.get(name);
      if (!p) {
        p = readContents(join(dir, name), withMetadata && wantObject.has(name));
        // Read ahead: a failure is reported when its position is reached, not before.
        p.catch(() => undefined);
        loads.set(name, p);
      }
      return p;
    };
    for (let i = 0; i < todo.length; i++) {
      for (let j = i; j < Math.min(todo.length, i + READ_AHEAD); j++) load(todo[j].name);
      const pos = todo[i];
      const contents = await load(pos.name);
      if (!contents) continue;
      if (!pos.subtree) {
        if (contents.isObject) yield { name: pos.key, metadata: contents.metadata };
      } else {
        loads.delete(pos.name);
        if (contents.subdirs.length > 0) {
          yield* walkLevel(join(dir, pos.name), pos.key, contents.subdirs);
        }
      }
    }
  }

  /** The positions of one level that can hold matching keys, in key order. */
  function wanted(keyPrefix: string, subdirs: string[]): Position[] {
    // Filtered before sorting: a page deep into a large directory sorts only what follows it.
    const positions = new Map<string, Position>();
    for (const name of subdirs) {
      for (
        const pos of [
          { key: keyPrefix + name, subtree: false, name },
          { key: keyPrefix + name + "/", subtree: true, name },
        ]
      ) {
        const matches = pos.subtree
          ? pos.key.startsWith(prefix) || prefix.startsWith(pos.key)
          : pos.key.startsWith(prefix);
        const after = pos.subtree
          // Every key below "x/" sorts at or before startAfter.
          ? compareKeys(pos.key, startAfter) < 0 && !startAfter.startsWith(pos.key)
          : compareKeys(pos.key, startAfter) <= 0;
        if (matches && !after) positions.set(pos.key, pos);
      }
    }
    return sortKeys([...positions.keys()]).map((key) => positions.get(key)!);
  }
}

/**
 * Lists a directory: its subdirectories (unsorted) and, when `withMetadata`, the contents of
 * its META_FILE. Undefined when the directory is missing (removed while walking).
 */
async function readContents(dir: string, withMetadata: boolean): Promise<DirContents | undefined> {
  const subdirs: string[] = [];
  let hasMeta = false;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) subdirs.push(entry.name);
      else if (entry.name === META_FILE && entry.isFile) hasMeta = true;
    }
    if (!hasMeta || !withMetadata) return { isObject: hasMeta, subdirs };
    return { isObject: true, subdirs, metadata: await Deno.readFile(join(dir, META_FILE)) };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
