/**
 * Object tagging (per version, stored with the version's metadata) and bucket tagging (in the
 * bucket-metadata store): Get/Put/DeleteObjectTagging, Get/Put/DeleteBucketTagging.
 */

import { TAGGING } from "../object/object-lock.ts";
import type { ObjectMetadata } from "../object/layer.ts";
import { authorizeRoute } from "./access.ts";
import { type BucketSetting, deleteBucketSetting, getBucketSetting } from "./bucket-settings.ts";
import type { S3Context } from "./context.ts";
import { readDocument } from "./request-document.ts";
import {
  decodeTags,
  encodeTags,
  MAX_BUCKET_TAGS,
  MAX_OBJECT_TAGS,
  MAX_TAGGING_ELEMENTS,
  parseTagging,
  renderTagSet,
  type Tag,
} from "./tag-set.ts";
import { requestedVersionId, versionHeader } from "./versioning.ts";
import { xmlResponse } from "./xml.ts";

/** Room for the largest legal document (50 tags of 128 + 256 characters, 4 bytes each). */
const MAX_TAGGING_BYTES = 256 * 1024;

/** The metadata with the version's tag set replaced (no entry for none). */
function withTags(metadata: ObjectMetadata, tags: readonly Tag[]): ObjectMetadata {
  const { [TAGGING]: _, ...rest } = metadata;
  const encoded = encodeTags(tags);
  return encoded === undefined ? rest : { ...rest, [TAGGING]: encoded };
}

export async function getObjectTagging(ctx: S3Context): Promise<Response> {
  const versionId = requestedVersionId(ctx);
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  return xmlResponse("Tagging", renderTagSet(decodeTags(info.metadata[TAGGING])), {
    headers: await versionHeader(ctx, info.versionId),
  });
}

async function setObjectTags(
  ctx: S3Context,
  tags: readonly Tag[],
  status: number,
): Promise<Response> {
  const versionId = requestedVersionId(ctx);
  const info = await ctx.layer.updateObjectMetadata(
    ctx.bucket,
    ctx.key,
    (current) => withTags(current, tags),
    { versionId },
  );
  return new Response(null, { status, headers: await versionHeader(ctx, info.versionId) });
}

export async function putObjectTagging(ctx: S3Context): Promise<Response> {
  const root = await readDocument(ctx, {
    bytes: MAX_TAGGING_BYTES,
    elements: MAX_TAGGING_ELEMENTS,
    digestRequired: false,
  });
  const tags = parseTagging(root, MAX_OBJECT_TAGS);
  // The tags are condition keys (s3:RequestObjectTag/<key>): authorized once they are known.
  await authorizeRoute(ctx.route, ctx.access.withRequestTags(tags), ctx.headers, true);
  return await setObjectTags(ctx, tags, 200);
}

export function deleteObjectTagging(ctx: S3Context): Promise<Response> {
  return setObjectTags(ctx, [], 204);
}

const BUCKET_TAGGING: BucketSetting<"tags"> = {
  field: "tags",
  root: "Tagging",
  notFound: "NoSuchTagSet",
  notFoundMessage: "The TagSet does not exist",
  parse: (root) => parseTagging(root, MAX_BUCKET_TAGS),
  render: renderTagSet,
};

export async function putBucketTagging(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const root = await readDocument(ctx, {
    bytes: MAX_TAGGING_BYTES,
    elements: MAX_TAGGING_ELEMENTS,
    digestRequired: true,
  });
  const tags = BUCKET_TAGGING.parse(root);
  await ctx.buckets.update(
    ctx.bucket,
    (current) => ({ ...current, tags: tags.length === 0 ? undefined : tags }),
  );
  return new Response(null, { status: 204 });
}

export function getBucketTagging(ctx: S3Context): Promise<Response> {
  return getBucketSetting(ctx, BUCKET_TAGGING);
}

export function deleteBucketTagging(ctx: S3Context): Promise<Response> {
  return deleteBucketSetting(ctx, BUCKET_TAGGING);
}
