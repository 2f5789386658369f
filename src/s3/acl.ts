/**
 * ACLs over HTTP: Get/Put{Bucket,Object}Acl, and the ACL a write asks for with x-amz-acl or
 * x-amz-grant-* (CreateBucket, PutObject, CopyObject, CreateMultipartUpload, POST). A bucket's
 * ACL lives in the bucket-metadata store; an object's in its metadata under OBJECT_ACL_KEY,
 * which is never returned as a header. Nothing stored means private (the owner's FULL_CONTROL).
 * Every resource is owned by the account. The bucket's settings rule: BucketOwnerEnforced
 * refuses all but owner-only ACLs (AccessControlListNotSupported), BlockPublicAcls refuses
 * public ones (AccessDenied).
 */

import type { BucketMetadata } from "../bucket/metadata-store.ts";
import { SSE_S3_DEFAULT } from "../bucket/encryption.ts";
import {
  type Acl,
  aclFromHeaders,
  aclFromXml,
  decodeAcl,
  encodeAcl,
  isOwnerOnly,
  OBJECT_ACL_KEY,
  privateAcl,
  renderAcl,
} from "../iam/acl.ts";
import type { ObjectMetadata } from "../object/layer.ts";
import type { Principal } from "../iam/principal.ts";
import { accessDenied } from "./access.ts";
import type { S3Context } from "./context.ts";
import type { S3Action } from "./router.ts";
import { S3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import {
  aclsDisabled,
  invalidBucketAclWithObjectOwnership,
  isObjectOwnership,
} from "./ownership.ts";
import { ALL_BLOCKED, checkAclNotBlocked } from "./public-access-block.ts";
import { requestedVersionId, versionHeader } from "./versioning.ts";

const MAX_ACL_BYTES = 64 * 1024;

/** A type, not an interface: it renders as an XmlValue. */
export type Owner = {
  ID: string;
  DisplayName: string;
};

/** The account: owner of every bucket and object, in listings and ACLs alike. */
export function accountOwner(ctx: S3Context): Owner {
  return { ID: ctx.canonicalUserId, DisplayName: ctx.config.rootUser };
}

function aclNotSupported(): S3Error {
  return new S3Error("AccessControlListNotSupported", "The bucket does not allow ACLs");
}

/** The bucket's settings allow setting `acl` on it or on its objects. */
function checkAclAllowed(metadata: Readonly<BucketMetadata>, acl: Acl): void {
  if (aclsDisabled(metadata) && !isOwnerOnly(acl)) throw aclNotSupported();
  checkAclNotBlocked(metadata, acl);
}

/**
 * The metadata a new bucket starts with: the server's Object Ownership, public access block and
 * default encryption for new buckets (or x-amz-object-ownership), and the ACL CreateBucket asks
 * for. It replaces whatever a former bucket of that name left.
 */
export async function newBucketMetadata(ctx: S3Context): Promise<BucketMetadata> {
  const requested = ctx.headers.get("x-amz-object-ownership")?.trim();
  if (requested !== undefined && !isObjectOwnership(requested)) {
    throw new S3Error("InvalidArgument", "Invalid x-amz-object-ownership header", {
      ArgumentName: "x-amz-object-ownership",
      ArgumentValue: requested,
    });
  }
  if (requested !== undefined) await requirePermission(ctx, "s3:PutBucketOwnershipControls");
  const ownership = requested ?? ctx.config.objectOwnership;
  const metadata: BucketMetadata = {
    ownership: ownership === "ObjectWriter" && requested === undefined ? undefined : ownership,
    publicAccessBlock: ctx.config.blockPublicAccess ? { ...ALL_BLOCKED } : undefined,
    encryption: ctx.config.defaultBucketEncryption ? SSE_S3_DEFAULT : undefined,
  };
  const acl = aclFromHeaders(ctx.headers, accountOwner(ctx).ID, true);
  if (acl === undefined) return metadata;
  await requirePermission(ctx, "s3:PutBucketAcl");
  if (isOwnerOnly(acl)) return metadata;
  if (aclsDisabled(metadata)) throw invalidBucketAclWithObjectOwnership();
  checkAclNotBlocked(metadata, acl);
  return { ...metadata, acl };
}

/** `metadata` with `acl` as an object's ACL (none stored when it is the default, private). */
export function withObjectAcl(metadata: ObjectMetadata, acl: Acl | undefined): ObjectMetadata {
  delete metadata[OBJECT_ACL_KEY];
  if (acl !== undefined && !isOwnerOnly(acl)) metadata[OBJECT_ACL_KEY] = encodeAcl(acl);
  return metadata;
}

/** Setting an ACL with a write takes the permission to set it too, as on AWS. */
async function requirePermission(
  ctx: S3Context,
  action: S3Action,
  key?: string,
  principal?: Principal,
): Promise<void> {
  if (!await ctx.access.allowed(action, ctx.bucket, key, principal)) throw accessDenied();
}

/**
 * The ACL a new object's write asks for by header, refused before any data is read when the
 * bucket's settings forbid it or the writer may not set ACLs (s3:PutObjectAcl). A POST names
 * its key, its fields as headers and its signer.
 */
export async function requestedObjectAcl(
  ctx: S3Context,
  form?: { key: string; headers: Headers; principal: Principal },
): Promise<Acl | undefined> {
  const acl = aclFromHeaders(form?.headers ?? ctx.headers, accountOwner(ctx).ID, false);
  if (acl === undefined) return undefined;
  checkAclAllowed(await ctx.buckets.get(ctx.bucket), acl);
  await requirePermission(ctx, "s3:PutObjectAcl", form?.key ?? ctx.key, form?.principal);
  return acl;
}

/** An object's ACL as its metadata holds it. */
function objectAcl(metadata: ObjectMetadata, owner: string): Acl {
  return decodeAcl(metadata[OBJECT_ACL_KEY]) ?? privateAcl(owner);
}

function aclResponse(ctx: S3Context, acl: Acl, headers: Record<string, string> = {}): Response {
  return new Response(renderAcl(acl, accountOwner(ctx).DisplayName), {
    headers: { "content-type": "application/xml", ...headers },
  });
}

/** With ACLs disabled, S3 reports the owner's FULL_CONTROL whatever was set before. */
function effective(metadata: Readonly<BucketMetadata>, acl: Acl): Acl {
  return aclsDisabled(metadata) ? privateAcl(acl.owner) : acl;
}

export async function getBucketAcl(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const metadata = await ctx.buckets.get(ctx.bucket);
  const acl = metadata.acl ?? privateAcl(accountOwner(ctx).ID);
  return aclResponse(ctx, effective(metadata, acl));
}

export async function getObjectAcl(ctx: S3Context): Promise<Response> {
  const versionId = requestedVersionId(ctx);
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  const metadata = await ctx.buckets.get(ctx.bucket);
  const acl = effective(metadata, objectAcl(info.metadata, accountOwner(ctx).ID));
  return aclResponse(ctx, acl, await versionHeader(ctx, info.versionId));
}

/** The ACL a Put*Acl sets: by header, or else by its AccessControlPolicy body. */
async function aclToPut(ctx: S3Context, isBucket: boolean): Promise<Acl> {
  const byHeader = aclFromHeaders(ctx.headers, accountOwner(ctx).ID, isBucket);
  const body = await readRequestText(ctx.auth.body, MAX_ACL_BYTES);
  if (byHeader !== undefined) {
    if (body.trim() !== "") {
      throw new S3Error("UnexpectedContent", "This request does not support content");
    }
    return byHeader;
  }
  if (body.trim() === "") {
    throw new S3Error("MissingSecurityHeader", "Your request was missing a required header", {
      MissingHeaderName: "x-amz-acl",
    });
  }
  return aclFromXml(body, accountOwner(ctx).ID);
}

export async function putBucketAcl(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const acl = await aclToPut(ctx, true);
  await ctx.buckets.update(ctx.bucket, (current) => {
    checkAclAllowed(current, acl);
    return { ...current, acl: isOwnerOnly(acl) ? undefined : acl };
  });
  return new Response(null, { status: 200 });
}

export async function putObjectAcl(ctx: S3Context): Promise<Response> {
  const versionId = requestedVersionId(ctx);
  await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  const acl = await aclToPut(ctx, false);
  checkAclAllowed(await ctx.buckets.get(ctx.bucket), acl);
  const info = await ctx.layer.updateObjectMetadata(
    ctx.bucket,
    ctx.key,
    (current) => withObjectAcl(current, acl),
    { versionId },
  );
  return new Response(null, { status: 200, headers: await versionHeader(ctx, info.versionId) });
}
