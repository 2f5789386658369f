/** Typed failures of one drive. The erasure layer counts them towards quorum. */

export class StorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The drive is not reachable or not usable (unmounted, I/O error, peer down, wrong format). */
export class DiskNotFound extends StorageError {}
/** The drive did not answer within its deadline; its handle takes it offline. */
export class DiskTimeout extends DiskNotFound {}
/** The drive belongs to another deployment or another position. */
export class UnformattedDisk extends StorageError {}
export class VolumeNotFound extends StorageError {}
export class VolumeExists extends StorageError {}
export class VolumeNotEmpty extends StorageError {}
export class FileNotFound extends StorageError {}
/** The file exists but is shorter than asked for, or its contents fail verification. */
export class FileCorrupt extends StorageError {}
/** The drive cannot be written (permissions, read-only, full). */
export class DiskAccessDenied extends StorageError {}
export class DiskFull extends StorageError {}
/** Another process (a second server) holds the drive: it is owned by one process at a time. */
export class DriveInUse extends StorageError {}
/** The path given as a drive exists but is not a directory (a file, a device). */
export class NotADirectory extends StorageError {}
