/**
 * One server process per drive. Two servers on the same drives lose acknowledged writes (the
 * second empties the temp area under the first's in-flight PUTs), so a server holds an
 * exclusive flock on the drive's lock file for its whole life, taken before anything on the
 * drive is touched. The holder's pid is written into the file so that a second server can
 * name it. The kernel drops the lock when the process ends, however it ends (kill -9
 * included): no stale lock to clean up by hand.
 */
import { join, resolve } from "node:path";
import { lockFileExclusive } from "../../ffi/libc.ts";
import { SYSTEM_VOLUME } from "./api.ts";
import { DriveInUse, NotADirectory } from "./errors.ts";
import { isNotFound } from "./os-errors.ts";

/** The lock file, in the drive's system volume. */
export const LOCK_FILE = "drive.lock";

/** Drive root → descriptor holding its lock; never closed: the lock lasts as long as we do. */
const held = new Map<string, number>();

/**
 * Makes this process the drive's owner (creating the drive directory if missing). Throws
 * DriveInUse naming the holder's pid when another process owns it, NotADirectory when the path
 * is a file; other failures (permissions, I/O) are the OS errors, for the caller to treat the
 * drive as offline. Locking a drive this process already holds is a no-op while its lock file
 * exists.
 */
export async function lockDrive(path: string): Promise<void> {
  const root = resolve(path);
  const file = join(root, SYSTEM_VOLUME, LOCK_FILE);
  // Held already, unless the drive was wiped since (the lock file went with it): then the new
  // file is locked, or a second server could take the drive while this one formats it again
  // (the old descriptor stays open on the removed file).
  if (held.has(root) && await Deno.stat(file).then(() => true, () => false)) return;
  const info = await Deno.stat(root).catch((err) => {
    if (isNotFound(err)) return undefined;
    throw err;
  });
  if (info && !info.isDirectory) throw new NotADirectory(`drive ${path} is not a directory`);
  await Deno.mkdir(join(root, SYSTEM_VOLUME), { recursive: true });
  const fd = lockFileExclusive(file);
  if (fd === undefined) {
    const pid = (await Deno.readTextFile(file).catch(() => "")).trim();
    throw new DriveInUse(
      `drive ${path} is in use by another flashstor server (${
        /^\d+$/.test(pid) ? `pid ${pid}` : `see ${file}`
      }): one server per drive; stop that one first`,
    );
  }
  held.set(root, fd);
  await Deno.writeTextFile(file, `${Deno.pid}\n`);
}
