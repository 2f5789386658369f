/**
 * The tagging and object-lock settings an upload gives the version it writes (PutObject, POST
 * Object, CreateMultipartUpload, CopyObject): x-amz-tagging (with x-amz-tagging-directive on a
 * copy), x-amz-object-lock-mode / -retain-until-date / -legal-hold, and the bucket's default
 * retention when the upload names none. Validated before any byte is stored.
 */

import { defaultRetainUntil } from "../bucket/object-lock.ts";
import type { ObjectMetadata } from "../object/layer.ts";
import { LOCK_LEGAL_HOLD, LOCK_MODE, LOCK_RETAIN_UNTIL, TAGGING } from "../object/object-lock.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { isRetentionMode, parseIsoDate } from "./object-lock.ts";
import { hasBodyDigest } from "./request-document.ts";
import { encodeTags, parseTaggingHeader } from "./tag-set.ts";

export type Upload = "put" | "post" | "multipart" | "copy";

/**
 * The stored metadata of the new version from the one the upload computed (and, for a copy,
 * the source version's): any tagging or lock entries in it are replaced by the request's.
 */
export type ObjectSettings = (metadata: ObjectMetadata, source?: ObjectMetadata) => ObjectMetadata;

const SETTINGS = [TAGGING, LOCK_MODE, LOCK_RETAIN_UNTIL, LOCK_LEGAL_HOLD];

function invalidArgument(name: string, value: string, message: string): S3Error {
  return new S3Error("InvalidArgument", message, {
    ArgumentName: name,
    ArgumentValue: value.slice(0, 256),
  });
}

/** The stored tag set the request asks for; undefined: the copy source's (directive COPY). */
function requestedTagging(headers: Headers, upload: Upload): string | undefined | null {
  const directive = headers.get("x-amz-tagging-directive");
  if (upload === "copy") {
    if (directive !== null && directive !== "COPY" && directive !== "REPLACE") {
      throw invalidArgument("x-amz-tagging-directive", directive, "Unknown tagging directive.");
    }
    if (directive !== "REPLACE") return undefined;
  }
  const header = headers.get("x-amz-tagging");
  return header === null ? null : encodeTags(parseTaggingHeader(header)) ?? null;
}

/** The lock entries the request's headers ask for (checked), or the bucket's default retention. */
async function requestedLock(
  ctx: S3Context,
  headers: Headers,
  upload: Upload,
): Promise<ObjectMetadata> {
  const mode = headers.get(LOCK_MODE) ?? undefined;
  const date = headers.get(LOCK_RETAIN_UNTIL) ?? undefined;
  const hold = headers.get(LOCK_LEGAL_HOLD) ?? undefined;
  const asked = mode !== undefined || date !== undefined || hold !== undefined;
  const lock = (await ctx.buckets.get(ctx.bucket)).objectLock;
  if (lock === undefined) {
    if (asked) throw new S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration");
    return {};
  }
  const entries: ObjectMetadata = {};
  if ((mode === undefined) !== (date === undefined)) {
    throw new S3Error(
      "InvalidArgument",
      "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
    );
  }
  if (mode !== undefined && date !== undefined) {
    if (!isRetentionMode(mode)) {
      throw invalidArgument(LOCK_MODE, mode, "Unknown wormMode directive.");
    }
    const until = parseIsoDate(date);
    if (until === undefined) {
      throw invalidArgument(
        LOCK_RETAIN_UNTIL,
        date,
        "The retain until date must be provided in ISO 8601 format",
      );
    }
    if (until.getTime() <= Date.now()) {
      throw invalidArgument(
        LOCK_RETAIN_UNTIL,
        date,
        "The retain until date must be in the future!",
      );
    }
    entries[LOCK_MODE] = mode;
    entries[LOCK_RETAIN_UNTIL] = until.toISOString();
  } else if (lock.defaultRetention !== undefined) {
    entries[LOCK_MODE] = lock.defaultRetention.mode;
    entries[LOCK_RETAIN_UNTIL] = defaultRetainUntil(lock.defaultRetention, new Date())
      .toISOString();
  }
  if (hold !== undefined) {
    if (hold !== "ON" && hold !== "OFF") {
      throw invalidArgument(LOCK_LEGAL_HOLD, hold, "Legal Hold must be either of 'ON' or 'OFF'");
    }
    entries[LOCK_LEGAL_HOLD] = hold;
  }
  // A body that will be locked must come with its digest (AWS).
  if (upload === "put" && Object.keys(entries).length > 0 && !hasBodyDigest(headers)) {
    throw new S3Error(
      "InvalidRequest",
      "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
    );
  }
  return entries;
}

/**
 * The settings the upload's headers (a POST form's fields as headers) ask for, checked: a
 * malformed or over-limit tag set, lock headers on a bucket without object lock, an unknown
 * mode or a past date are refused here, before the body is read.
 */
export async function requestedObjectSettings(
  ctx: S3Context,
  upload: Upload,
  headers: Headers = ctx.headers,
): Promise<ObjectSettings> {
  const tagging = requestedTagging(headers, upload);
  const lock = await requestedLock(ctx, headers, upload);
  return (metadata, source) => {
    const out = { ...metadata };
    for (const name of SETTINGS) delete out[name];
    const tags = tagging === undefined ? source?.[TAGGING] : tagging ?? undefined;
    if (tags !== undefined) out[TAGGING] = tags;
    return { ...out, ...lock };
  };
}
