/** Durable file-system primitives of a local drive: directory fsync, mkdir -p, atomic write. */
import { dirname } from "node:path";
import { errnoOf } from "./os-errors.ts";

/**
 * The mode of every file a drive holds (shards, xl.meta, records): readable by the server's
 * user only (the umask may narrow it further, never widen it).
 */
export const PRIVATE_FILE = 0o600;

/** Per directory: the fsync running now and the one queued behind it (shared by its waiters). */
const dirSyncs = new Map<string, { running: Promise<void>; queued?: Promise<void> }>();

const ignore = () => {};

/**
 * fsyncs a directory so that entries created, renamed or removed in it before the call survive
 * a crash. Concurrent calls for one directory share fsyncs: a call waits for the next fsync
 * that starts after it, so N writers into one directory cost about two fsyncs, not N.
 */
export function fsyncDir(dir: string): Promise<void> {
  const state = dirSyncs.get(dir);
  if (!state) {
    const running = startSync(dir);
    dirSyncs.set(dir, { running });
    return running;
  }
  // The running fsync may have started before our change: wait for the one after it, which
  // startSync's handler (registered first) has made the running one by then.
  state.queued ??= state.running.then(ignore, ignore).then(() => dirSyncs.get(dir)!.running);
  return state.queued;
}

/** Starts an fsync of `dir`; once it settles, the queued one (if any) starts. */
function startSync(dir: string): Promise<void> {
  const sync = syncDirOnce(dir);
  // A handler on `sync` itself, so that a failure no caller is waiting for yet is not an
  // unhandled rejection; callers get it through `sync`.
  const next = () => {
    const state = dirSyncs.get(dir)!;
    if (!state.queued) {
      dirSyncs.delete(dir);
      return;
    }
    state.queued = undefined;
    state.running = startSync(dir);
  };
  sync.then(next, next);
  return sync;
}

async function syncDirOnce(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Creates `dir` and its missing parents, never above `base` (which must exist: if it does
 * not, the NotFound error of `base` is thrown). Returns the directories it created,
 * outermost first, so that callers can fsync their parents.
 */
export async function makeDirs(base: string, dir: string): Promise<string[]> {
  if (dir === base || dir.length < base.length) {
    await Deno.stat(base);
    return [];
  }
  try {
    await Deno.mkdir(dir);
    return [dir];
  } catch (err) {
    if (errnoOf(err) === "EEXIST") return [];
    if (errnoOf(err) !== "ENOENT") throw err;
  }
  const created = await makeDirs(base, dirname(dir));
  try {
    await Deno.mkdir(dir);
    created.push(dir);
  } catch (err) {
    if (errnoOf(err) !== "EEXIST") throw err;
  }
  return created;
}

/** fsyncs the parents of freshly created directories, innermost last. */
export async function fsyncParents(created: string[]): Promise<void> {
  for (const dir of created) await fsyncDir(dirname(dir));
}

/** Writes all of `data` to an open file (Deno may write less than asked per call). */
export async function writeFully(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.length) done += await file.write(data.subarray(done));
}

/**
 * Writes `data` to the new file `tmpFile`, fsyncs it and renames it over `target`: readers see
 * the old contents or the new ones, never a mix. `target`'s directory must exist. On failure
 * the temp file is removed.
 */
export async function writeAtomic(tmpFile: string, target: string, data: Uint8Array) {
  await writeNew(tmpFile, data);
  try {
    await Deno.rename(tmpFile, target);
  } catch (err) {
    await removeQuietly(tmpFile);
    throw err;
  }
}

/**
 * Creates file `path` (which must not exist) holding `data`, fsynced. A crash or failure
 * midway can leave a partial file: only for files whose readers detect that (a checksum) and
 * that nothing older is lost with. On failure the file is removed.
 */
export async function writeNew(path: string, data: Uint8Array) {
  try {
    const file = await Deno.open(path, { write: true, createNew: true, mode: PRIVATE_FILE });
    try {
      await writeFully(file, data);
      await file.sync();
    } finally {
      file.close();
    }
  } catch (err) {
    await removeQuietly(path);
    throw err;
  }
}

/** The contents of a file, or undefined when it does not exist. */
export async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return undefined;
    throw err;
  }
}

/** Removes a path recursively for cleanup; never throws (what is left is swept at start). */
export async function removeQuietly(path: string): Promise<void> {
  await Deno.remove(path, { recursive: true }).catch(() => undefined);
}
