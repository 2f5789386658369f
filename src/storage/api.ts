/**
 * The storage API: everything the erasure layer may ask of one drive. A local directory
 * (xl-storage.ts) and a peer's drive over HTTP (rest-storage.ts) both implement it, so the
 * code above never knows which it talks to.
 *
 * Paths are relative to a volume and use "/" separators; volumes are buckets or the system
 * volume. Implementations throw the typed errors of ./errors.ts. The erasure layer talks to
 * drive handles (drive-handle.ts), which add deadlines, cancellation and the drive's state.
 */

/** The volume that holds Flashstor's own state: temp area, multipart uploads, bucket metadata. */
export const SYSTEM_VOLUME = ".flashstor.sys";
/**
 * Where a drive found without format.json keeps what it held, moved aside (never deleted) before
 * it is formatted again. No bucket can have this name, and no listing shows it.
 */
export const QUARANTINE_DIR = ".flashstor.quarantine";
/** Area of the system volume for in-flight writes; emptied at every start. */
export const TMP_DIR = "tmp";
/** Name of the per-object metadata file inside an object's directory. */
export const META_FILE = "xl.meta";

export interface DiskInfo {
  /** Bytes of the file system holding the drive. */
  total: number;
  free: number;
  /** The drive's id from its format.json ("" before it is formatted). */
  id: string;
  endpoint: string;
}

export interface VolumeInfo {
  name: string;
  /** Creation time, ms since the epoch. */
  created: number;
}

/** One object found by walkDir: its name and its raw metadata file. */
export interface WalkEntry {
  /** Object name relative to the volume, e.g. "photos/2024/a.jpg". */
  name: string;
  /** Contents of the object's META_FILE; absent when the walk was asked for names only. */
  metadata?: Uint8Array;
}

/**
 * What every call may carry: a signal that abandons it (the caller no longer needs the answer).
 * A drive handle also gives every call a deadline (drive-handle.ts).
 */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface ReadStreamOptions extends CallOptions {
  /**
   * Bytes per chunk, where the drive reads a file in chunks (a local one): a caller reading
   * fixed-size frames passes a multiple of their size, so that no frame spans two chunks.
   */
  chunkSize?: number;
}

export interface WalkOptions extends CallOptions {
  /** Only objects whose names start with this (need not end at a "/"). */
  prefix?: string;
  /** Only objects whose names sort strictly after this. */
  startAfter?: string;
  /** False: yield names only, without reading each META_FILE (default true). */
  withMetadata?: boolean;
}

/** A shard file being written: sequential appends, then close (fsync) or abort (unlink). */
export interface FileWriter {
  write(data: Uint8Array): Promise<void>;
  /** Flushes and fsyncs; the file is complete once this resolves. */
  close(): Promise<void>;
  /** Drops the file; never throws. */
  abort(): Promise<void>;
}

export interface StorageAPI {
  /** Human-readable location, e.g. "/mnt/d1" or "http://node2:9000/mnt/d1". */
  readonly endpoint: string;

  diskInfo(options?: CallOptions): Promise<DiskInfo>;

  makeVolume(volume: string, options?: CallOptions): Promise<void>;
  listVolumes(options?: CallOptions): Promise<VolumeInfo[]>;
  statVolume(volume: string, options?: CallOptions): Promise<VolumeInfo>;
  /** Removes an empty volume (VolumeNotEmpty otherwise) or, with force, everything in it. */
  deleteVolume(volume: string, force?: boolean, options?: CallOptions): Promise<void>;

  /** Names directly under a directory; subdirectories end with "/". FileNotFound if absent. */
  listDir(volume: string, path: string, options?: CallOptions): Promise<string[]>;
  /**
   * Every object (directory holding META_FILE) under the volume, recursively, in S3 key order
   * (UTF-8 byte order of the full name), streamed so that memory stays bounded.
   */
  walkDir(volume: string, options: WalkOptions): AsyncIterable<WalkEntry>;

  /** Whole small file (metadata, format, upload records). FileNotFound if absent. */
  readAll(volume: string, path: string, options?: CallOptions): Promise<Uint8Array>;
  /** Writes a small file atomically: temp file, fsync, rename over the old one. */
  writeAll(
    volume: string,
    path: string,
    data: Uint8Array,
    options?: CallOptions,
  ): Promise<void>;

  /** Starts a new file (parents created); it only becomes visible once written in full. */
  createFile(volume: string, path: string, options?: CallOptions): Promise<FileWriter>;
  /** Streams `length` bytes of a file from `offset`. FileNotFound / FileCorrupt (too short). */
  readFileStream(
    volume: string,
    path: string,
    offset: number,
    length: number,
    options?: ReadStreamOptions,
  ): Promise<ReadableStream<Uint8Array>>;
  /** Size of a file in bytes. FileNotFound if absent. */
  statFile(volume: string, path: string, options?: CallOptions): Promise<{ size: number }>;

  /**
   * The commit point of a write: moves directory `srcVolume/srcPath` ("" for none: inline data,
   * a delete marker) to `dstVolume/object/dataDir` and merges `metadata`, an xl.meta holding
   * the version written, into the object's META_FILE: it replaces the version with the same id
   * and keeps the others (written atomically, fsynced), so that readers see the old object or
   * the new one. FileNotFound, and nothing written, when `srcPath` names a directory that is
   * not there; CorruptMeta when `metadata` does not parse. A previous data directory named by
   * `replacedDataDir` is removed afterwards unless a version still refers to it. Resolves to
   * the META_FILE it replaced (undefined if none), for the caller to roll back or clean up.
   */
  renameData(
    srcVolume: string,
    srcPath: string,
    dstVolume: string,
    object: string,
    dataDir: string,
    metadata: Uint8Array,
    replacedDataDir?: string,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined>;

  /**
   * Removes an object: its META_FILE first (so it disappears at once), then `dataDir` if
   * given, then directories left empty up to the volume. Objects nested below it survive.
   */
  deleteObject(
    volume: string,
    object: string,
    dataDir?: string,
    options?: CallOptions,
  ): Promise<void>;

  /**
   * Removes one version from the object's META_FILE, and the data dir no remaining version
   * refers to; with no version left, the object as deleteObject does. One round trip.
   * FileNotFound when the drive lacks the version (or its META_FILE does not parse).
   */
  deleteVersion(
    volume: string,
    object: string,
    versionId: string,
    options?: CallOptions,
  ): Promise<void>;

  /** Removes a file or, with recursive, a directory tree. Absent paths are not an error. */
  delete(
    volume: string,
    path: string,
    recursive?: boolean,
    options?: CallOptions,
  ): Promise<void>;
}
