/**
 * The tagging and object-lock settings an upload gives the version it writes (PutObject, POST
 * Object, CreateMultipartUpload, CopyObject): x-amz-tagging (with x-amz-tagging-directive on a
 * copy), x-amz-object-lock-mode / -retain-until-date / -legal-hold, and the bucket's default
 * retention when the upload names none. Validated before any byte is stored.
 */

import { defaultRetainUntil } from "../bucket/object-lock.ts";
import type { Principal } from "../iam/principal.ts";
import type { ObjectMetadata } from "../object/layer.ts";
import { LOCK_LEGAL_HOLD, LOCK_MODE, LOCK_RETAIN_UNTIL, TAGGING } from "../object/object-lock.ts";
import { accessDenied } from "./access.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { isRetentionMode, parseIsoDate } from "./object-lock.ts";
import type { S3Action } from "./router.ts";
import { hasBodyDigest } from "./request-document.ts";
import {
  encodeTags,
  MAX_OBJECT_TAGS,
  MAX_TAGGING_ELEMENTS,
  parseTagging,
  parseTaggingHeader,
} from "./tag-set.ts";
import { parseXml } from "./xml.ts";

export type Upload = "put" | "post" | "multipart" | "copy";

/** Who may read each setting on GET/HEAD (AWS): the rest is left out of the response. */
const READ_PERMISSIONS: [string, S3Action, S3Action][] = [
  ["x-amz-tagging-count", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"],
  [LOCK_MODE, "s3:GetObjectRetention", "s3:GetObjectRetention"],
  [LOCK_RETAIN_UNTIL, "s3:GetObjectRetention", "s3:GetObjectRetention"],
  [LOCK_LEGAL_HOLD, "s3:GetObjectLegalHold", "s3:GetObjectLegalHold"],
];

/**
 * Removes from GET/HEAD response headers the settings the caller may not read: the tag count
 * without s3:GetObject(Version)Tagging, the retention without s3:GetObjectRetention, the legal
 * hold without s3:GetObjectLegalHold. Objects without settings cost no permission check.
 */
export async function hideUnreadableSettings(
  ctx: S3Context,
  headers: Record<string, string>,
): Promise<void> {
  for (const [header, action, ofVersion] of READ_PERMISSIONS) {
    if (headers[header] === undefined) continue;
    const asked = ctx.route.versionId === undefined ? action : ofVersion;
    if (!await ctx.access.allowed(asked, ctx.bucket, ctx.key)) delete headers[header];
  }
}

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
  if (header === null) return null;
  // A POST form's tagging field is a Tagging document, a header its URL-encoded form.
  const tags = upload === "post"
    ? parseTagging(parseXml(header, MAX_TAGGING_ELEMENTS), MAX_OBJECT_TAGS)
    : parseTaggingHeader(header);
  return encodeTags(tags) ?? null;
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
  if (upload === "put") checkLockedBodyDigest(entries, headers);
  return entries;
}

/**
 * A body that will be locked must come with its digest (AWS): PutObject's, and each part of an
 * upload whose metadata (`settings`) locks its object.
 */
export function checkLockedBodyDigest(settings: ObjectMetadata, headers: Headers): void {
  const locked = settings[LOCK_MODE] !== undefined || settings[LOCK_LEGAL_HOLD] !== undefined;
  if (locked && !hasBodyDigest(headers)) {
    throw new S3Error(
      "InvalidRequest",
      "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters",
    );
  }
}

/** The permissions setting them takes besides the write's own (AWS). */
function permissionsOf(tagging: string | null | undefined, lock: ObjectMetadata, asked: Headers) {
  const needed: S3Action[] = [];
  if (typeof tagging === "string") needed.push("s3:PutObjectTagging");
  if (asked.has(LOCK_MODE)) needed.push("s3:PutObjectRetention");
  if (lock[LOCK_LEGAL_HOLD] !== undefined) needed.push("s3:PutObjectLegalHold");
  return needed;
}

/**
 * The settings the upload's headers ask for, checked: a malformed or over-limit tag set, lock
 * headers on a bucket without object lock, an unknown mode or a past date, or a writer not
 * allowed to set them (s3:PutObjectTagging, s3:PutObjectRetention, s3:PutObjectLegalHold) are
 * refused here, before the body is read. A POST names its key, its fields as headers and its
 * signer.
 */
export async function requestedObjectSettings(
  ctx: S3Context,
  upload: Upload,
  form?: { key: string; headers: Headers; principal: Principal },
): Promise<ObjectSettings> {
  const headers = form?.headers ?? ctx.headers;
  const tagging = requestedTagging(headers, upload);
  const lock = await requestedLock(ctx, headers, upload);
  for (const action of permissionsOf(tagging, lock, headers)) {
    if (!await ctx.access.allowed(action, ctx.bucket, form?.key ?? ctx.key, form?.principal)) {
      throw accessDenied();
    }
  }
  return (metadata, source) => {
    const out = { ...metadata };
    for (const name of SETTINGS) delete out[name];
    const tags = tagging === undefined ? source?.[TAGGING] : tagging ?? undefined;
    if (tags !== undefined) out[TAGGING] = tags;
    return { ...out, ...lock };
  };
}
