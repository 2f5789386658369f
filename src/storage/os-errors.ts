/**
 * Maps errors of the operating system (Deno errors carry the errno name in `code`) to the
 * typed errors of ./errors.ts, so that the erasure layer can count them towards quorum.
 */
import {
  DiskAccessDenied,
  DiskFull,
  DiskNotFound,
  FileNotFound,
  StorageError,
  VolumeNotEmpty,
  VolumeNotFound,
} from "./errors.ts";

/** The errno name of an OS error ("ENOENT", …), or undefined for anything else. */
export function errnoOf(err: unknown): string | undefined {
  if (err instanceof Error && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

/** True when the path (or one of its parents) does not exist or is not a directory. */
export function isNotFound(err: unknown): boolean {
  const code = errnoOf(err);
  return code === "ENOENT" || code === "ENOTDIR";
}

/** What a missing path means to the caller: a missing file or a missing volume. */
export type Subject = "file" | "volume";

/**
 * Converts `err` into a typed storage error; `what` names the path for the message. Errors
 * that are already typed, and errors we have no better name for, are returned unchanged.
 */
export function toStorageError(err: unknown, subject: Subject, what: string): unknown {
  if (err instanceof StorageError) return err;
  const code = errnoOf(err);
  const detail = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
    case "EISDIR":
    // A name longer than the file system holds names nothing there.
    case "ENAMETOOLONG":
      return subject === "volume" ? new VolumeNotFound(what) : new FileNotFound(what);
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new DiskAccessDenied(`${what}: ${detail}`);
    case "ENOSPC":
    case "EDQUOT":
      return new DiskFull(`${what}: ${detail}`);
    case "ENOTEMPTY":
      return new VolumeNotEmpty(what);
    case "EIO":
    case "ENXIO":
    case "ENODEV":
    case "ESTALE":
      return new DiskNotFound(`${what}: ${detail}`);
    default:
      return err;
  }
}
