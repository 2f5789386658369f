/**
 * ListObjectVersions: every version and delete marker of a bucket's keys, keys ascending and each
 * key's versions newest first, paged as AWS pages them. A page ends after `maxKeys` entries
 * (versions, markers and common prefixes all count), possibly inside one key's versions: the
 * next page then starts at `keyMarker` + `versionIdMarker`, the versions of that key after the
 * named one, then the keys after it. With `keyMarker` alone it starts after every version of that
 * key. Streamed over the listing walk, so memory is bounded by the page (and one key's versions).
 */
import { type ErasureSet, objectInfo } from "./erasure-set.ts";
import type { ListVersionsOptions, ListVersionsResult, ObjectInfo } from "./layer.ts";
import { readListedObject, walkListing } from "./list.ts";
import type { ObjectVersion } from "../storage/xl-meta.ts";

/** One page of a bucket's versions over all its sets (the caller checked the bucket). */
export async function listObjectVersions(
  sets: ErasureSet[],
  bucket: string,
  options: ListVersionsOptions,
): Promise<ListVersionsResult> {
  const result: ListVersionsResult = { versions: [], prefixes: [], isTruncated: false };
  if (options.maxKeys <= 0) return result;
  let last: { key: string; versionId?: string } | undefined;
  /** Adds one entry; false, and the page marked truncated, when it is full already. */
  const add = (entry: ObjectInfo | string): boolean => {
    if (result.versions.length + result.prefixes.length === options.maxKeys) {
      result.isTruncated = true;
      result.nextKeyMarker = last?.key;
      result.nextVersionIdMarker = last?.versionId;
      return false;
    }
    if (typeof entry === "string") {
      result.prefixes.push(entry);
      last = { key: entry };
    } else {
      result.versions.push(entry);
      last = { key: entry.name, versionId: entry.versionId };
    }
    return true;
  };
  for (const version of await markerKeyRest(sets, bucket, options)) {
    if (!add(version)) return result;
  }
  const walk = walkListing(sets, bucket, {
    prefix: options.prefix,
    delimiter: options.delimiter,
    marker: options.keyMarker,
  });
  for await (const entry of walk) {
    const entries = "prefix" in entry ? [entry.prefix] : versionInfos(bucket, entry);
    for (const e of entries) if (!add(e)) return result;
  }
  return result;
}

/**
 * The versions of the key-marker's key after the version-id-marker (all of them when that
 * version is gone: listing one twice beats losing the rest). None when no version-id-marker is
 * given, or when the key is outside the prefix or folds into a common prefix (which sorts before
 * it, so an earlier page listed it).
 */
async function markerKeyRest(
  sets: ErasureSet[],
  bucket: string,
  options: ListVersionsOptions,
): Promise<ObjectInfo[]> {
  const { keyMarker, versionIdMarker } = options;
  const prefix = options.prefix ?? "";
  if (!keyMarker || versionIdMarker === undefined || !keyMarker.startsWith(prefix)) return [];
  if (options.delimiter && keyMarker.indexOf(options.delimiter, prefix.length) >= 0) return [];
  // The key lives in one set; asking each costs one metadata read per drive.
  const found = await Promise.all(sets.map((s) => readListedObject(s, bucket, keyMarker)));
  const object = found.find((o) => o !== undefined);
  if (!object) return [];
  const at = object.versions.findIndex((v) => v.versionId === versionIdMarker);
  return versionInfos(bucket, object).slice(at + 1);
}

/** A listed key's versions as ObjectInfo, newest first, the first one current. */
function versionInfos(
  bucket: string,
  object: { name: string; versions: ObjectVersion[] },
): ObjectInfo[] {
  return object.versions.map((v, i) => objectInfo(bucket, object.name, v, i === 0));
}
