/**
 * Put/Get/DeletePublicAccessBlock: four switches that keep a bucket from being made public.
 * BlockPublicAcls refuses requests that set public ACLs, IgnorePublicAcls makes public grants
 * grant nothing, BlockPublicPolicy refuses public bucket policies, RestrictPublicBuckets limits
 * a public policy to this account's principals. Unlike AWS since 2023 they default to off (a
 * server setting turns them on for new buckets).
 */

import type { BucketMetadata, PublicAccessBlock } from "../bucket/metadata-store.ts";
import { type Acl, isPublicAcl } from "../iam/acl.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import {
  type BucketSetting,
  deleteBucketSetting,
  getBucketSetting,
  malformedXml,
  putBucketSetting,
} from "./bucket-settings.ts";
import { child } from "./xml.ts";

/** Element names of the document, by switch. */
const SWITCHES: [keyof PublicAccessBlock, string][] = [
  ["blockPublicAcls", "BlockPublicAcls"],
  ["ignorePublicAcls", "IgnorePublicAcls"],
  ["blockPublicPolicy", "BlockPublicPolicy"],
  ["restrictPublicBuckets", "RestrictPublicBuckets"],
];

export const ALL_BLOCKED: PublicAccessBlock = {
  blockPublicAcls: true,
  ignorePublicAcls: true,
  blockPublicPolicy: true,
  restrictPublicBuckets: true,
};

/** Whether the bucket has switch `name` on. */
export function blocks(metadata: Readonly<BucketMetadata>, name: keyof PublicAccessBlock): boolean {
  return metadata.publicAccessBlock?.[name] ?? false;
}

/** BlockPublicAcls: a request that would set a public ACL is refused. */
export function checkAclNotBlocked(metadata: Readonly<BucketMetadata>, acl: Acl): void {
  if (blocks(metadata, "blockPublicAcls") && isPublicAcl(acl)) {
    throw new S3Error(
      "AccessDenied",
      "Access Denied: the bucket's public access block refuses public ACLs.",
    );
  }
}

const PUBLIC_ACCESS_BLOCK: BucketSetting<"publicAccessBlock"> = {
  field: "publicAccessBlock",
  root: "PublicAccessBlockConfiguration",
  notFound: "NoSuchPublicAccessBlockConfiguration",
  notFoundMessage: "The public access block configuration was not found",
  parse(root) {
    const config = { ...ALL_BLOCKED };
    for (const [name, element] of SWITCHES) {
      const text = child(root, element)?.text.trim().toLowerCase() ?? "false";
      if (text !== "true" && text !== "false") throw malformedXml(`${element} is true or false`);
      config[name] = text === "true";
    }
    return config;
  },
  render: (config) =>
    Object.fromEntries(SWITCHES.map(([name, element]) => [element, config[name]])),
};

export const putPublicAccessBlock = (ctx: S3Context) => putBucketSetting(ctx, PUBLIC_ACCESS_BLOCK);
export const getPublicAccessBlock = (ctx: S3Context) => getBucketSetting(ctx, PUBLIC_ACCESS_BLOCK);
export const deletePublicAccessBlock = (ctx: S3Context) =>
  deleteBucketSetting(ctx, PUBLIC_ACCESS_BLOCK);
