/** Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket and GetBucketLocation. */

import type { BucketInfo } from "../object/layer.ts";
import { accessDenied } from "./access.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { checkUnsupportedHeaders } from "./headers.ts";
import { accountOwner, newBucketMetadata } from "./acl.ts";
import { readRequestText } from "./multipart.ts";
import { child, escapeXml, parseXml, S3_NAMESPACE, xmlResponse } from "./xml.ts";

const MAX_CONFIGURATION_BYTES = 64 * 1024;
/** The region whose LocationConstraint S3 reports as empty. */
const DEFAULT_REGION = "us-east-1";

/**
 * Every bucket for a caller allowed s3:ListAllMyBuckets (AWS); otherwise the buckets it may
 * list (MinIO), never an error, except for anonymous callers, whom AWS refuses.
 */
async function visibleBuckets(ctx: S3Context, all: BucketInfo[]): Promise<BucketInfo[]> {
  if (await ctx.access.allowed("s3:ListAllMyBuckets", "")) return all;
  if (ctx.auth.principal.kind === "anonymous") throw accessDenied();
  const listable = await Promise.all(all.map((b) => ctx.access.allowed("s3:ListBucket", b.name)));
  return all.filter((_, i) => listable[i]);
}

export async function listBuckets(ctx: S3Context): Promise<Response> {
  const prefix = ctx.query.get("prefix") ?? "";
  const named = (await ctx.layer.listBuckets()).filter((b) => b.name.startsWith(prefix));
  const buckets = (await visibleBuckets(ctx, named))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return xmlResponse("ListAllMyBucketsResult", {
    Owner: accountOwner(ctx),
    Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: b.created })) },
    Prefix: prefix === "" ? undefined : prefix,
  });
}

/** The LocationConstraint of an optional CreateBucketConfiguration body ("" when absent). */
async function requestedLocation(ctx: S3Context): Promise<string> {
  const text = await readRequestText(ctx.auth.body, MAX_CONFIGURATION_BYTES);
  if (text.trim() === "") return "";
  const root = parseXml(text);
  if (root.name !== "CreateBucketConfiguration") throw new S3Error("MalformedXML");
  return child(root, "LocationConstraint")?.text.trim() ?? "";
}

export async function createBucket(ctx: S3Context): Promise<Response> {
  checkUnsupportedHeaders(ctx.headers);
  // Object lock needs versioning, which then can never be suspended.
  const locked = ctx.headers.get("x-amz-bucket-object-lock-enabled")?.toLowerCase() === "true";
  const location = await requestedLocation(ctx);
  // With no region configured every region is accepted, for signing and for new buckets alike.
  const pinned = ctx.config.signingRegion !== undefined;
  if (location !== "" && pinned && location !== ctx.config.region) {
    throw new S3Error(
      "InvalidLocationConstraint",
      `The specified location-constraint is not valid: this server's region is ${ctx.config.region}.`,
      { LocationConstraint: location },
    );
  }
  const created = await newBucketMetadata(ctx);
  const metadata = locked
    ? { ...created, objectLock: { enabled: true } as const, versioning: "Enabled" as const }
    : created;
  await ctx.layer.makeBucket(ctx.bucket);
  // Only once the bucket is ours: a name taken keeps its settings.
  await ctx.buckets.update(ctx.bucket, () => metadata);
  return new Response(null, { headers: { location: `/${ctx.bucket}` } });
}

export async function headBucket(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  return new Response(null, { headers: { "x-amz-bucket-region": ctx.config.region } });
}

export async function deleteBucket(ctx: S3Context): Promise<Response> {
  await ctx.layer.deleteBucket(ctx.bucket);
  // Its policy and settings go with it: a bucket created under the name starts bare.
  await ctx.buckets.remove(ctx.bucket);
  return new Response(null, { status: 204 });
}

export async function getBucketLocation(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const region = ctx.config.region === DEFAULT_REGION ? "" : ctx.config.region;
  // Hand-rendered: the constraint is the root element's own text.
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<LocationConstraint xmlns="${S3_NAMESPACE}">${escapeXml(region)}</LocationConstraint>`;
  return new Response(body, { headers: { "content-type": "application/xml" } });
}
