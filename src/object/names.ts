/**
 * Bucket and object name rules, and how object names map to paths on a drive.
 *
 * A key ending in "/" (a folder marker) cannot be a directory of the same name, since "a/" and
 * the objects below it share the directory "a". Like MinIO, it is stored as "a__XLDIR__".
 *
 * An object's directory also holds Flashstor's own entries: its metadata file (xl.meta) and
 * its data directories (part.N files inside). Data directories are named "<uuid>__XLDATA__",
 * so no key can name one: keys containing either reserved marker, or a segment "xl.meta", are
 * refused. (Data directories written before the marker existed are plain UUIDs; their
 * objects' metadata names them, so they keep working.)
 */
import { utf8LongerThan } from "../bytes.ts";
import { META_FILE } from "../storage/api.ts";
import {
  InvalidBucketName,
  InvalidObjectName,
  InvalidVersionId,
  ObjectNameTooLong,
} from "./errors.ts";

/** Storage suffix of keys ending in "/". */
export const DIR_SUFFIX = "__XLDIR__";
/** Suffix of every data directory (newDataDir). */
export const DATA_DIR_SUFFIX = "__XLDATA__";
/** Markers a key may not contain: they would name Flashstor's entries, not objects. */
const RESERVED_MARKERS = [DIR_SUFFIX, DATA_DIR_SUFFIX] as const;

const MAX_OBJECT_NAME_BYTES = 1024;
/** A file name's limit on Linux file systems: each stored segment is one directory name. */
const MAX_SEGMENT_BYTES = 255;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_LIKE = /^\d+\.\d+\.\d+\.\d+$/;

/** The name of a new data directory, which no key can collide with. */
export function newDataDir(): string {
  return crypto.randomUUID() + DATA_DIR_SUFFIX;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A version id names the null version ("null") or one made here (a UUID); absent is fine. */
export function checkVersionId(versionId: string | undefined): void {
  if (versionId === undefined || versionId === "null" || UUID.test(versionId)) return;
  throw new InvalidVersionId(`invalid version id: ${versionId.slice(0, 64)}`);
}

/** S3's rules; they also keep a bucket name one short path segment (≤ 63 bytes). */
export function checkBucketName(bucket: string): void {
  const bad = !BUCKET_NAME.test(bucket) || bucket.includes("..") || IP_LIKE.test(bucket) ||
    bucket.startsWith("xn--") || bucket.endsWith("-s3alias") || bucket.includes(".-") ||
    bucket.includes("-.");
  if (bad) throw new InvalidBucketName(`invalid bucket name ${JSON.stringify(bucket)}`);
}

/** Whether a volume is a bucket (not the system volume or other non-bucket directories). */
export function isBucketName(name: string): boolean {
  try {
    checkBucketName(name);
    return true;
  } catch {
    return false;
  }
}

/** Throws InvalidObjectName or ObjectNameTooLong, with a message for the client. */
export function checkObjectName(object: string): void {
  if (object === "") throw new InvalidObjectName("The object key must not be empty.");
  if (utf8LongerThan(object, MAX_OBJECT_NAME_BYTES)) {
    throw new ObjectNameTooLong(`Your key is longer than ${MAX_OBJECT_NAME_BYTES} bytes.`);
  }
  if (object.includes("\0")) {
    throw new InvalidObjectName("The object key must not contain a NUL character.");
  }
  if (object.startsWith("/")) {
    throw new InvalidObjectName("The object key must not start with '/'.");
  }
  // "a__XLDIR__" would be the folder marker "a/"; "a/<uuid>__XLDATA__" a data dir of "a".
  for (const marker of RESERVED_MARKERS) {
    if (object.includes(marker)) {
      throw new InvalidObjectName(`The object key must not contain ${marker}: it is reserved.`);
    }
  }
  const segments = object.split("/");
  // A trailing "/" (folder marker) leaves one empty last segment, which is allowed.
  if (segments.at(-1) === "") segments.pop();
  for (const segment of segments) {
    // "a/xl.meta" would be the metadata file of the object "a".
    if (segment === "" || segment === "." || segment === ".." || segment === META_FILE) {
      throw new InvalidObjectName(
        `The object key must not hold the segment ${JSON.stringify(segment)}.`,
      );
    }
  }
  // As stored: a folder marker's last segment carries DIR_SUFFIX.
  if (encodeObjectName(object).split("/").some((s) => utf8LongerThan(s, MAX_SEGMENT_BYTES))) {
    throw new ObjectNameTooLong(
      `Each segment of a key (the text between '/') may hold at most ${MAX_SEGMENT_BYTES} bytes,` +
        ` ${MAX_SEGMENT_BYTES - DIR_SUFFIX.length} for the last one of a key ending in '/'.`,
    );
  }
}

/** The path of an object's directory on a drive. */
export function encodeObjectName(object: string): string {
  return object.endsWith("/") ? object.slice(0, -1) + DIR_SUFFIX : object;
}

/** Inverse of encodeObjectName. */
export function decodeObjectName(path: string): string {
  return path.endsWith(DIR_SUFFIX) ? path.slice(0, -DIR_SUFFIX.length) + "/" : path;
}
