/**
 * Bucket and object name rules, and how object names map to paths on a drive.
 *
 * A key ending in "/" (a folder marker) cannot be a directory of the same name, since "a/" and
 * the objects below it share the directory "a". Like MinIO, it is stored as "a__XLDIR__".
 */
import { utf8LongerThan } from "../bytes.ts";
import { META_FILE } from "../storage/api.ts";
import { InvalidBucketName, InvalidObjectName, ObjectNameTooLong } from "./errors.ts";

/** Storage suffix of keys ending in "/". */
export const DIR_SUFFIX = "__XLDIR__";

const MAX_OBJECT_NAME_BYTES = 1024;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IP_LIKE = /^\d+\.\d+\.\d+\.\d+$/;

export function checkBucketName(bucket: string): void {
  const bad = !BUCKET_NAME.test(bucket) || bucket.includes("..") || IP_LIKE.test(bucket) ||
    bucket.startsWith("xn--") || bucket.endsWith("-s3alias") || bucket.includes(".-") ||
    bucket.includes("-.");
  if (bad) throw new InvalidBucketName(`invalid bucket name ${JSON.stringify(bucket)}`);
}

export function checkObjectName(object: string): void {
  if (object === "") throw new InvalidObjectName("empty object name");
  if (utf8LongerThan(object, MAX_OBJECT_NAME_BYTES)) {
    throw new ObjectNameTooLong(`object name longer than ${MAX_OBJECT_NAME_BYTES} bytes`);
  }
  if (object.includes("\0")) throw new InvalidObjectName("object name contains NUL");
  if (object.startsWith("/")) throw new InvalidObjectName("object name starts with '/'");
  // The suffix would make "a__XLDIR__" and the folder marker "a/" the same object.
  if (object.includes(DIR_SUFFIX)) {
    throw new InvalidObjectName(`object name contains ${DIR_SUFFIX}`);
  }
  const segments = object.split("/");
  // A trailing "/" (folder marker) leaves one empty last segment, which is allowed.
  if (segments.at(-1) === "") segments.pop();
  for (const segment of segments) {
    // "a/xl.meta" would be the metadata file of the object "a".
    if (segment === "" || segment === "." || segment === ".." || segment === META_FILE) {
      throw new InvalidObjectName(`invalid segment ${JSON.stringify(segment)} in object name`);
    }
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
