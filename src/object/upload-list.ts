/**
 * ListMultipartUploads: the uploads recorded on a read quorum of each set's drives, then one
 * page of all sets' uploads in key order (then age), folded by delimiter. Uploads are few and
 * short-lived, so a bucket's uploads are gathered in memory before paging.
 */
import { type StorageAPI, SYSTEM_VOLUME } from "../storage/api.ts";
import { compareKeys } from "../storage/paths.ts";
import type { ErasureSet } from "./erasure-set.ts";
import type { ListUploadsOptions, ListUploadsResult, MultipartUploadInfo } from "./layer.ts";
import { toInfo, UPLOAD_ID, type UploadRecord } from "./multipart.ts";
import { fanOut } from "./quorum.ts";
import { listOrNone } from "./system-records.ts";

/** Directories of multipart/<bucket>/ that hold uploads (others: completed-upload records). */
const OBJECT_HASH = /^[0-9a-f]{64}$/;

/** Every upload of `bucket` in this set whose object starts with `prefix`, unsorted. */
export async function listUploads(
  set: ErasureSet,
  bucket: string,
  prefix: string,
): Promise<MultipartUploadInfo[]> {
  const root = `multipart/${bucket}`;
  const perDrive = await fanOut(set.drives, async (d) => {
    const found: [string, string][] = [];
    for (const hash of await subdirs(d, root)) {
      if (!OBJECT_HASH.test(hash)) continue;
      for (const uploadId of await subdirs(d, `${root}/${hash}`)) {
        if (!UPLOAD_ID.test(uploadId)) continue;
        const path = `${root}/${hash}/${uploadId}/upload.json`;
        const bytes = await d.readAll(SYSTEM_VOLUME, path).catch(() => undefined);
        if (bytes) found.push([uploadId, new TextDecoder().decode(bytes)]);
      }
    }
    return found;
  });
  const counts = new Map<string, number>();
  for (const o of perDrive) {
    if (!o.ok) continue;
    for (const [id, text] of o.value) {
      counts.set(`${id}\n${text}`, (counts.get(`${id}\n${text}`) ?? 0) + 1);
    }
  }
  const uploads: MultipartUploadInfo[] = [];
  for (const [key, count] of counts) {
    if (count < set.readQuorum) continue;
    const [uploadId, text] = [key.slice(0, key.indexOf("\n")), key.slice(key.indexOf("\n") + 1)];
    try {
      const record = JSON.parse(text) as UploadRecord;
      if (record.object.startsWith(prefix)) uploads.push(toInfo(bucket, uploadId, record));
    } catch {
      // A record that does not parse on a quorum of drives is no upload.
    }
  }
  return uploads;
}

/** Names of the subdirectories of a system-volume directory; none when it is absent. */
async function subdirs(drive: StorageAPI, path: string): Promise<string[]> {
  const names = await listOrNone(drive, path);
  return names.filter((n) => n.endsWith("/")).map((n) => n.slice(0, -1));
}

/** One page of uploads (of all sets), in key order then age, folded by delimiter. */
export function pageUploads(
  all: MultipartUploadInfo[],
  options: ListUploadsOptions,
): ListUploadsResult {
  const prefix = options.prefix ?? "";
  const keyMarker = options.keyMarker ?? "";
  const idMarker = options.uploadIdMarker ?? "";
  const sorted = all.filter((u) =>
    compareKeys(u.object, keyMarker) > 0 ||
    (u.object === keyMarker && idMarker !== "" && u.uploadId > idMarker)
  ).sort((a, b) => compareKeys(a.object, b.object) || (a.uploadId < b.uploadId ? -1 : 1));
  const result: ListUploadsResult = { uploads: [], prefixes: [], isTruncated: false };
  let last: { key: string; uploadId?: string } | undefined;
  for (const u of sorted) {
    const cut = options.delimiter ? u.object.indexOf(options.delimiter, prefix.length) : -1;
    const common = cut >= 0 ? u.object.slice(0, cut + options.delimiter!.length) : undefined;
    if (common !== undefined && (common === last?.key || common === keyMarker)) continue;
    if (result.uploads.length + result.prefixes.length === options.maxUploads) {
      result.isTruncated = true;
      result.nextKeyMarker = last?.key;
      result.nextUploadIdMarker = last?.uploadId;
      break;
    }
    if (common !== undefined) {
      result.prefixes.push(common);
      last = { key: common };
    } else {
      result.uploads.push(u);
      last = { key: u.object, uploadId: u.uploadId };
    }
  }
  return result;
}
