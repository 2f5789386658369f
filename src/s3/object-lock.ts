/**
 * Object lock (WORM) over HTTP: the bucket's configuration (Get/PutObjectLockConfiguration),
 * a version's retention (Get/PutObjectRetention) and legal hold (Get/PutObjectLegalHold), and
 * whether a request may bypass GOVERNANCE retention. The object layer enforces what is stored
 * here whenever a version would be removed or replaced (checkRemovable).
 */

import {
  type DefaultRetention,
  type ObjectLockConfiguration,
  type RetentionMode,
} from "../bucket/object-lock.ts";
import type { ObjectMetadata } from "../object/layer.ts";
import { LOCK_LEGAL_HOLD, LOCK_MODE, LOCK_RETAIN_UNTIL } from "../object/object-lock.ts";
import {
  type BucketSetting,
  getBucketSetting,
  malformedXml,
  putBucketSetting,
} from "./bucket-settings.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { readDocument } from "./request-document.ts";
import { requestedVersionId } from "./versioning.ts";
import { child, type XmlElement, xmlResponse } from "./xml.ts";

const MAX_DOCUMENT_BYTES = 16 * 1024;
const MAX_DOCUMENT_ELEMENTS = 16;
/** AWS's longest default retention. */
const MAX_DAYS = 36_500;
const MAX_YEARS = 100;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})$/;

export function isRetentionMode(mode: string | undefined): mode is RetentionMode {
  return mode === "GOVERNANCE" || mode === "COMPLIANCE";
}

/** The instant an ISO 8601 date names; undefined when it is not one. */
export function parseIsoDate(text: string): Date | undefined {
  if (!ISO_8601.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

function objectLockedError(): S3Error {
  return new S3Error("AccessDenied", "Access Denied because object protected by object lock.");
}

/**
 * Whether the request may shorten or remove a GOVERNANCE retention (and remove a version it
 * protects): it says so with x-amz-bypass-governance-retention: true and its principal is
 * allowed s3:BypassGovernanceRetention on the object — on each of them for a request naming
 * several (DeleteObjects: one refusal withholds the bypass from the whole batch).
 */
export async function governanceBypass(
  ctx: S3Context,
  keys: string | readonly string[] = ctx.key,
): Promise<boolean> {
  const header = ctx.headers.get("x-amz-bypass-governance-retention");
  if (header?.trim().toLowerCase() !== "true") return false;
  for (const key of typeof keys === "string" ? [keys] : keys) {
    if (!await ctx.access.allowed("s3:BypassGovernanceRetention", ctx.bucket, key)) return false;
  }
  return true;
}

/** The bucket's object lock; InvalidRequest when it has none, as AWS answers. */
async function bucketObjectLock(ctx: S3Context): Promise<ObjectLockConfiguration> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const lock = (await ctx.buckets.get(ctx.bucket)).objectLock;
  if (lock === undefined) {
    throw new S3Error("InvalidRequest", "Bucket is missing Object Lock Configuration");
  }
  return lock;
}

function text(element: XmlElement, name: string): string | undefined {
  return child(element, name)?.text.trim();
}

function retentionPeriod(value: string, max: number): number {
  const period = /^\d{1,9}$/.test(value) ? Number(value) : 0;
  if (period < 1) {
    throw new S3Error(
      "InvalidArgument",
      "Default retention period must be a positive integer value",
    );
  }
  if (period > max) {
    throw new S3Error("InvalidArgument", "Default retention period is too large");
  }
  return period;
}

function parseDefaultRetention(rule: XmlElement): DefaultRetention {
  const retention = child(rule, "DefaultRetention");
  if (retention === undefined) throw malformedXml("a Rule holds a DefaultRetention");
  const mode = text(retention, "Mode");
  if (!isRetentionMode(mode)) throw malformedXml("Mode is GOVERNANCE or COMPLIANCE");
  const days = text(retention, "Days");
  const years = text(retention, "Years");
  if (days !== undefined && years === undefined) {
    return { mode, days: retentionPeriod(days, MAX_DAYS) };
  }
  if (years !== undefined && days === undefined) {
    return { mode, years: retentionPeriod(years, MAX_YEARS) };
  }
  throw malformedXml("a DefaultRetention holds either Days or Years");
}

function parseLockConfiguration(root: XmlElement): ObjectLockConfiguration {
  if (text(root, "ObjectLockEnabled") !== "Enabled") {
    throw malformedXml("ObjectLockEnabled is Enabled");
  }
  const rule = child(root, "Rule");
  return rule === undefined
    ? { enabled: true }
    : { enabled: true, defaultRetention: parseDefaultRetention(rule) };
}

const OBJECT_LOCK: BucketSetting<"objectLock"> = {
  field: "objectLock",
  root: "ObjectLockConfiguration",
  notFound: "ObjectLockConfigurationNotFoundError",
  notFoundMessage: "Object Lock configuration does not exist for this bucket",
  parse: parseLockConfiguration,
  check(_lock, current) {
    if (current.objectLock === undefined && current.versioning !== "Enabled") {
      throw new S3Error(
        "InvalidBucketState",
        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
      );
    }
  },
  checksumRequired: true,
  render: (lock) => ({
    ObjectLockEnabled: "Enabled",
    Rule: lock.defaultRetention && {
      DefaultRetention: {
        Mode: lock.defaultRetention.mode,
        Days: lock.defaultRetention.days,
        Years: lock.defaultRetention.years,
      },
    },
  }),
};

export function getObjectLockConfiguration(ctx: S3Context): Promise<Response> {
  return getBucketSetting(ctx, OBJECT_LOCK);
}

/** Sets the default retention; enables object lock on a bucket whose versioning is Enabled. */
export function putObjectLockConfiguration(ctx: S3Context): Promise<Response> {
  return putBucketSetting(ctx, OBJECT_LOCK);
}

interface Retention {
  mode: RetentionMode;
  until: Date;
}

/** A Retention document; undefined: an empty one, which removes the retention. */
function parseRetention(root: XmlElement, now: number): Retention | undefined {
  if (root.name !== "Retention") throw malformedXml("the root element is not Retention");
  const mode = text(root, "Mode");
  const date = text(root, "RetainUntilDate");
  if (mode === undefined && date === undefined) return undefined;
  if (!isRetentionMode(mode)) throw malformedXml("Mode is GOVERNANCE or COMPLIANCE");
  const until = date === undefined ? undefined : parseIsoDate(date);
  if (until === undefined) throw malformedXml("RetainUntilDate is an ISO 8601 date");
  if (until.getTime() <= now) {
    throw new S3Error("InvalidArgument", "The retain until date must be in the future!");
  }
  return { mode, until };
}

/**
 * Refuses a retention change that weakens one in force (earlier date, removal, COMPLIANCE to
 * GOVERNANCE) unless it is GOVERNANCE and the request may bypass it.
 */
function checkRetentionChange(
  current: ObjectMetadata,
  next: Retention | undefined,
  bypass: boolean,
  now: number,
): void {
  const mode = current[LOCK_MODE];
  const until = Date.parse(current[LOCK_RETAIN_UNTIL] ?? "");
  if (!isRetentionMode(mode) || !(until > now)) return;
  const weakens = next === undefined || next.until.getTime() < until ||
    (mode === "COMPLIANCE" && next.mode !== "COMPLIANCE");
  if (weakens && !(mode === "GOVERNANCE" && bypass)) throw objectLockedError();
}

function withRetention(metadata: ObjectMetadata, retention: Retention | undefined): ObjectMetadata {
  const { [LOCK_MODE]: _mode, [LOCK_RETAIN_UNTIL]: _until, ...rest } = metadata;
  if (retention === undefined) return rest;
  return {
    ...rest,
    [LOCK_MODE]: retention.mode,
    [LOCK_RETAIN_UNTIL]: retention.until.toISOString(),
  };
}

function noLockOnObject(): S3Error {
  return new S3Error(
    "NoSuchObjectLockConfiguration",
    "The specified object does not have a ObjectLock configuration",
  );
}

export async function getObjectRetention(ctx: S3Context): Promise<Response> {
  await bucketObjectLock(ctx);
  const versionId = requestedVersionId(ctx);
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  const mode = info.metadata[LOCK_MODE];
  if (mode === undefined) throw noLockOnObject();
  return xmlResponse("Retention", {
    Mode: mode,
    RetainUntilDate: info.metadata[LOCK_RETAIN_UNTIL],
  });
}

export async function putObjectRetention(ctx: S3Context): Promise<Response> {
  await bucketObjectLock(ctx);
  const root = await readDocument(ctx, {
    bytes: MAX_DOCUMENT_BYTES,
    elements: MAX_DOCUMENT_ELEMENTS,
    digestRequired: true,
  });
  const now = Date.now();
  const retention = parseRetention(root, now);
  const bypass = await governanceBypass(ctx);
  await ctx.layer.updateObjectMetadata(ctx.bucket, ctx.key, (current) => {
    checkRetentionChange(current, retention, bypass, now);
    return withRetention(current, retention);
  }, { versionId: requestedVersionId(ctx) });
  return new Response(null, { status: 200 });
}

export async function getObjectLegalHold(ctx: S3Context): Promise<Response> {
  await bucketObjectLock(ctx);
  const versionId = requestedVersionId(ctx);
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  const status = info.metadata[LOCK_LEGAL_HOLD];
  if (status === undefined) throw noLockOnObject();
  return xmlResponse("LegalHold", { Status: status });
}

export async function putObjectLegalHold(ctx: S3Context): Promise<Response> {
  await bucketObjectLock(ctx);
  const root = await readDocument(ctx, {
    bytes: MAX_DOCUMENT_BYTES,
    elements: MAX_DOCUMENT_ELEMENTS,
    digestRequired: true,
  });
  if (root.name !== "LegalHold") throw malformedXml("the root element is not LegalHold");
  const status = text(root, "Status");
  if (status !== "ON" && status !== "OFF") throw malformedXml("Status is ON or OFF");
  await ctx.layer.updateObjectMetadata(
    ctx.bucket,
    ctx.key,
    (current) => ({ ...current, [LOCK_LEGAL_HOLD]: status }),
    { versionId: requestedVersionId(ctx) },
  );
  return new Response(null, { status: 200 });
}
