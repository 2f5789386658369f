/**
 * Bucket and object ACLs. Flashstor has no ACLs of its own (policies decide access), so, as
 * MinIO, it reports the owner holding FULL_CONTROL and accepts only requests that keep it that
 * way: the canned `private` ACL or a policy granting FULL_CONTROL to the owner alone. Anything
 * else answers NotImplemented rather than silently pretending to share data.
 */

import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { type Owner, ownerOf } from "./list.ts";
import { readRequestText } from "./multipart.ts";
import { children, escapeXml, parseXml, S3_NAMESPACE, type XmlElement } from "./xml.ts";

const XSI = "http://www.w3.org/2001/XMLSchema-instance";
const MAX_ACL_BYTES = 64 * 1024;
/** Canned ACLs that leave the owner alone in control. */
const OWNER_ONLY_ACLS = new Set(["private", "bucket-owner-full-control"]);

/** Hand-rendered because Grantee carries an xsi:type attribute, which the renderer omits. */
function policyResponse(owner: Owner): Response {
  const id = escapeXml(owner.ID);
  const name = escapeXml(owner.DisplayName);
  const body = '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<AccessControlPolicy xmlns="${S3_NAMESPACE}">` +
    `<Owner><ID>${id}</ID><DisplayName>${name}</DisplayName></Owner>` +
    `<AccessControlList><Grant>` +
    `<Grantee xmlns:xsi="${XSI}" xsi:type="CanonicalUser">` +
    `<ID>${id}</ID><DisplayName>${name}</DisplayName></Grantee>` +
    `<Permission>FULL_CONTROL</Permission>` +
    `</Grant></AccessControlList></AccessControlPolicy>`;
  return new Response(body, { headers: { "content-type": "application/xml" } });
}

export async function getBucketAcl(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  return policyResponse(ownerOf(ctx.auth.accessKey));
}

export async function getObjectAcl(ctx: S3Context): Promise<Response> {
  await ctx.layer.getObjectInfo(ctx.bucket, ctx.key);
  return policyResponse(ownerOf(ctx.auth.accessKey));
}

export async function putBucketAcl(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  await requireOwnerOnly(ctx);
  return new Response(null, { status: 200 });
}

export async function putObjectAcl(ctx: S3Context): Promise<Response> {
  await ctx.layer.getObjectInfo(ctx.bucket, ctx.key);
  await requireOwnerOnly(ctx);
  return new Response(null, { status: 200 });
}

const notImplemented = () =>
  new S3Error("NotImplemented", "Only the private ACL (owner FULL_CONTROL) is supported.");

/**
 * Accepts an owner-only canned ACL (`x-amz-acl: private`) or an AccessControlPolicy body whose
 * every grant is FULL_CONTROL to the owner.
 */
async function requireOwnerOnly(ctx: S3Context): Promise<void> {
  const headers = ctx.headers;
  for (const name of headers.keys()) {
    if (name.startsWith("x-amz-grant-")) throw notImplemented();
  }
  const canned = headers.get("x-amz-acl");
  if (canned !== null) {
    if (!OWNER_ONLY_ACLS.has(canned.trim())) throw notImplemented();
    await ctx.auth.body?.cancel();
    return;
  }
  const policy = parseAcl(await readRequestText(ctx.auth.body, MAX_ACL_BYTES));
  const owner = ownerOf(ctx.auth.accessKey);
  const grants = children(policy, "AccessControlList").flatMap((list) => children(list, "Grant"));
  if (grants.length === 0) throw notImplemented();
  for (const grant of grants) {
    if (!grantsOwnerFullControl(grant, owner)) throw notImplemented();
  }
}

function grantsOwnerFullControl(grant: XmlElement, owner: Owner): boolean {
  const permission = grant.children.find((c) => c.name === "Permission")?.text.trim();
  const grantee = grant.children.find((c) => c.name === "Grantee");
  if (permission !== "FULL_CONTROL" || grantee === undefined) return false;
  const fields = new Map(grantee.children.map((c) => [c.name, c.text.trim()]));
  if (fields.has("URI") || fields.has("EmailAddress")) return false;
  const id = fields.get("ID");
  return id === undefined || id === owner.ID;
}

const malformedAcl = () =>
  new S3Error(
    "MalformedACLError",
    "The XML you provided was not well-formed or did not validate against our published schema.",
  );

/** An AccessControlPolicy document; S3 reports any defect in it as MalformedACLError. */
function parseAcl(text: string): XmlElement {
  let policy: XmlElement;
  try {
    policy = parseXml(text);
  } catch {
    throw malformedAcl();
  }
  if (policy.name !== "AccessControlPolicy") throw malformedAcl();
  return policy;
}
