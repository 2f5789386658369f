/**
 * Put/Get/DeleteBucketOwnershipControls. Object Ownership decides whether ACLs count:
 * BucketOwnerEnforced disables them (the bucket owner owns every object; only owner-only ACLs
 * may still be sent, and no ACL grants anything), ObjectWriter and BucketOwnerPreferred keep
 * them. A bucket without the setting behaves as ObjectWriter, what S3 did before 2023.
 */

import type { BucketMetadata, ObjectOwnership } from "../bucket/metadata-store.ts";
import { isOwnerOnly } from "../iam/acl.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import {
  type BucketSetting,
  deleteBucketSetting,
  getBucketSetting,
  malformedXml,
  putBucketSetting,
} from "./bucket-settings.ts";
import { children } from "./xml.ts";

const OWNERSHIPS: readonly string[] = [
  "BucketOwnerEnforced",
  "BucketOwnerPreferred",
  "ObjectWriter",
];

export function isObjectOwnership(value: string): value is ObjectOwnership {
  return OWNERSHIPS.includes(value);
}

/** The bucket's Object Ownership, ObjectWriter when it has none set. */
export function objectOwnership(metadata: Readonly<BucketMetadata>): ObjectOwnership {
  return metadata.ownership ?? "ObjectWriter";
}

export function aclsDisabled(metadata: Readonly<BucketMetadata>): boolean {
  return objectOwnership(metadata) === "BucketOwnerEnforced";
}

/** AWS refuses to enforce bucket ownership over a bucket ACL that grants others access. */
export function invalidBucketAclWithObjectOwnership(): S3Error {
  return new S3Error(
    "InvalidBucketAclWithObjectOwnership",
    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
  );
}

const OWNERSHIP_CONTROLS: BucketSetting<"ownership"> = {
  field: "ownership",
  root: "OwnershipControls",
  notFound: "OwnershipControlsNotFoundError",
  notFoundMessage: "The bucket ownership controls were not found",
  parse(root) {
    const rules = children(root, "Rule");
    const values = rules.flatMap((rule) => children(rule, "ObjectOwnership"));
    if (rules.length !== 1 || values.length !== 1) {
      throw malformedXml("OwnershipControls takes one Rule with one ObjectOwnership");
    }
    const value = values[0].text.trim();
    if (!isObjectOwnership(value)) throw malformedXml(`unknown ObjectOwnership ${value}`);
    return value;
  },
  render: (ownership) => ({ Rule: { ObjectOwnership: ownership } }),
  check(ownership, current) {
    if (ownership === "BucketOwnerEnforced" && current.acl && !isOwnerOnly(current.acl)) {
      throw invalidBucketAclWithObjectOwnership();
    }
  },
};

export const putBucketOwnershipControls = (ctx: S3Context) =>
  putBucketSetting(ctx, OWNERSHIP_CONTROLS);
export const getBucketOwnershipControls = (ctx: S3Context) =>
  getBucketSetting(ctx, OWNERSHIP_CONTROLS);
export const deleteBucketOwnershipControls = (ctx: S3Context) =>
  deleteBucketSetting(ctx, OWNERSHIP_CONTROLS);
