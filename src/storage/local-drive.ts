/**
 * A local directory as a drive of the deployment: its handle, opened. The opener locks the
 * drive for this process (when asked) and opens it as an XlStorage; the drive monitor calls
 * it again to bring the drive back.
 */
import { resolve } from "node:path";
import { DriveHandle } from "./drive-handle.ts";
import { lockDrive } from "./drive-lock.ts";
import { DriveInUse } from "./errors.ts";
import { type DriveOptions, XlStorage } from "./xl-storage.ts";

export interface LocalDriveOptions extends DriveOptions {
  /** Take the drive's lock for this process (a server does; tools and tests may not). */
  lock?: boolean;
  /** Deadline of each call (DriveHandle's default when omitted). */
  timeoutMs?: number;
}

/**
 * The handle of the drive at `path`. A drive another server holds throws DriveInUse; any
 * other failure (a path that is not a directory included) leaves the handle offline, as a
 * failed disk would.
 */
export async function openLocalDrive(
  path: string,
  options: LocalDriveOptions = {},
): Promise<DriveHandle> {
  const handle = new DriveHandle(resolve(path), {
    open: async () => {
      if (options.lock) await lockDrive(path);
      return await XlStorage.open(path, options);
    },
    timeoutMs: options.timeoutMs,
  });
  await handle.connect().catch((err) => {
    if (err instanceof DriveInUse) throw err;
  });
  return handle;
}
