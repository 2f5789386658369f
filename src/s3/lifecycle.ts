/**
 * Put/Get/DeleteBucketLifecycleConfiguration, kept in the bucket-metadata store (the scanner
 * applies the rules: src/bucket/lifecycle-scanner.ts), and the x-amz-expiration header that
 * tells a client when its object's current version expires and under which rule.
 */

import {
  InvalidLifecycle,
  type LifecycleConfiguration,
  type LifecycleRule,
  parseLifecycle,
} from "../bucket/lifecycle.ts";
import { expiryOf } from "../bucket/lifecycle-evaluate.ts";
import type { ObjectInfo } from "../object/layer.ts";
import {
  type BucketSetting,
  deleteBucketSetting,
  getBucketSetting,
  putBucketSetting,
} from "./bucket-settings.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import type { XmlValue } from "./xml.ts";

/** 1000 rules of a few hundred bytes each, with room for tags. */
const MAX_LIFECYCLE_BYTES = 1024 * 1024;

function renderFilter(rule: LifecycleRule): { [element: string]: XmlValue } {
  const f = rule.filter;
  const tags = f.tags.map((t) => ({ Key: t.key, Value: t.value }));
  if (rule.form === "prefix") return { Prefix: f.prefix };
  if (rule.form === "and") {
    return {
      Filter: {
        And: {
          Prefix: f.prefix === "" ? undefined : f.prefix,
          Tag: tags,
          ObjectSizeGreaterThan: f.sizeGreaterThan,
          ObjectSizeLessThan: f.sizeLessThan,
        },
      },
    };
  }
  if (tags.length === 1) return { Filter: { Tag: tags[0] } };
  if (f.sizeGreaterThan !== undefined) {
    return { Filter: { ObjectSizeGreaterThan: f.sizeGreaterThan } };
  }
  if (f.sizeLessThan !== undefined) return { Filter: { ObjectSizeLessThan: f.sizeLessThan } };
  return { Filter: { Prefix: f.prefix } };
}

function renderRule(rule: LifecycleRule): XmlValue {
  const expiration = rule.expiration;
  const noncurrent = rule.noncurrentVersionExpiration;
  const abortDays = rule.abortIncompleteUploadDays;
  return {
    ID: rule.id,
    ...renderFilter(rule),
    Status: rule.enabled ? "Enabled" : "Disabled",
    Expiration: expiration && {
      Days: expiration.days,
      Date: expiration.date,
      ExpiredObjectDeleteMarker: expiration.expiredObjectDeleteMarker,
    },
    NoncurrentVersionExpiration: noncurrent && {
      NoncurrentDays: noncurrent.noncurrentDays,
      NewerNoncurrentVersions: noncurrent.newerNoncurrentVersions,
    },
    AbortIncompleteMultipartUpload: abortDays && { DaysAfterInitiation: abortDays },
  };
}

const LIFECYCLE: BucketSetting<"lifecycle"> = {
  field: "lifecycle",
  root: "LifecycleConfiguration",
  notFound: "NoSuchLifecycleConfiguration",
  notFoundMessage: "The lifecycle configuration does not exist",
  maxBytes: MAX_LIFECYCLE_BYTES,
  checksumRequired: true,
  parse(root): LifecycleConfiguration {
    try {
      return parseLifecycle(root);
    } catch (err) {
      if (err instanceof InvalidLifecycle) throw new S3Error(err.code, err.message);
      throw err;
    }
  },
  render: (config) => ({ Rule: config.rules.map(renderRule) }),
};

export const putBucketLifecycleConfiguration = (ctx: S3Context) => putBucketSetting(ctx, LIFECYCLE);
export const getBucketLifecycleConfiguration = (ctx: S3Context) => getBucketSetting(ctx, LIFECYCLE);
export const deleteBucketLifecycle = (ctx: S3Context) => deleteBucketSetting(ctx, LIFECYCLE);

/**
 * The x-amz-expiration header for the current version `info` (GET, HEAD, PUT): when the
 * bucket's rules expire it and which rule does; undefined when none does.
 */
export async function expirationHeader(
  ctx: S3Context,
  info: ObjectInfo,
): Promise<Record<string, string>> {
  if (!info.isLatest) return {};
  const rules = (await ctx.buckets.get(ctx.bucket)).lifecycle?.rules;
  const expiry = rules && expiryOf(rules, info, ctx.config.lifecycleDayMs);
  if (expiry === undefined) return {};
  const rule = expiry.rule.replaceAll('"', "%22");
  return {
    "x-amz-expiration": `expiry-date="${expiry.due.toUTCString()}", rule-id="${rule}"`,
  };
}
