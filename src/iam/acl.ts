/**
 * S3 access control lists: grants of five permissions to canonical users and to S3's groups,
 * the canned ACLs that expand into grants, the two ways a request spells an ACL (x-amz-grant-*
 * headers, an AccessControlPolicy body), its rendering for Get*Acl, and which S3 actions each
 * permission allows (AWS's "Mapping of ACL permissions and access policy permissions"). Pure:
 * the callers find the owner, store the ACL and decide what a verdict is worth.
 */

import type { BucketMetadata } from "../bucket/metadata-store.ts";
import type { Principal } from "./principal.ts";
import { child, children, escapeXml, parseXml, S3_NAMESPACE, type XmlElement } from "../s3/xml.ts";

export type Permission = "READ" | "WRITE" | "READ_ACP" | "WRITE_ACP" | "FULL_CONTROL";
export const PERMISSIONS: readonly Permission[] = [
  "FULL_CONTROL",
  "WRITE",
  "WRITE_ACP",
  "READ",
  "READ_ACP",
];

export const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
export const AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
export const LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery";
const GROUPS = new Set([ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY]);
/** Groups whose grants make a resource public (AWS's definition, for the public access block). */
const PUBLIC_GROUPS = new Set([ALL_USERS, AUTHENTICATED_USERS]);

export type Grantee =
  | { type: "CanonicalUser"; id: string }
  | { type: "Group"; uri: string };

export interface Grant {
  grantee: Grantee;
  permission: Permission;
}

/** An ACL: its owner's canonical user id and its grants (the owner's own included). */
export interface Acl {
  owner: string;
  grants: Grant[];
}

export type CannedAcl =
  | "private"
  | "public-read"
  | "public-read-write"
  | "authenticated-read"
  | "bucket-owner-read"
  | "bucket-owner-full-control"
  | "log-delivery-write";

const CANNED = new Set<string>([
  "private",
  "public-read",
  "public-read-write",
  "authenticated-read",
  "bucket-owner-read",
  "bucket-owner-full-control",
  "log-delivery-write",
]);

/** An ACL the request got wrong; `code` is S3's (src/s3/errors.ts renders it). */
export class AclError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
    this.name = "AclError";
  }
}

/**
 * The object metadata entry holding an object's ACL when it is not private (encodeAcl's form);
 * the S3 layer never returns it as a header.
 */
export const OBJECT_ACL_KEY = "x-flashstor-acl";

/** AWS refuses grants to more than 100 grantees. */
const MAX_GRANTS = 100;

const malformed = (detail: string) =>
  new AclError(
    "MalformedACLError",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );

const unresolvableEmail = (email: string) =>
  new AclError(
    "UnresolvableGrantByEmailAddress",
    "The e-mail address you provided does not match any account on record.",
    { EmailAddressProvided: email },
  );

function ownerGrant(owner: string): Grant {
  return { grantee: { type: "CanonicalUser", id: owner }, permission: "FULL_CONTROL" };
}

const group = (uri: string, permission: Permission): Grant => ({
  grantee: { type: "Group", uri },
  permission,
});

export function isCannedAcl(name: string): name is CannedAcl {
  return CANNED.has(name);
}

/**
 * The grants of a canned ACL (AWS's canned ACL table). There is one account, so the bucket
 * owner and the object owner are the same: bucket-owner-read and bucket-owner-full-control come
 * down to the owner's FULL_CONTROL, as on AWS when the writer owns the bucket.
 */
export function cannedAcl(name: CannedAcl, owner: string, isBucket: boolean): Acl {
  const grants = [ownerGrant(owner)];
  if (name === "public-read" || name === "public-read-write") grants.push(group(ALL_USERS, "READ"));
  if (name === "public-read-write") grants.push(group(ALL_USERS, "WRITE"));
  if (name === "authenticated-read") grants.push(group(AUTHENTICATED_USERS, "READ"));
  if (name === "log-delivery-write" && isBucket) {
    grants.push(group(LOG_DELIVERY, "WRITE"), group(LOG_DELIVERY, "READ_ACP"));
  }
  return { owner, grants };
}

/** The ACL of a resource that never had one set: its owner's FULL_CONTROL. */
export function privateAcl(owner: string): Acl {
  return cannedAcl("private", owner, false);
}

/** A grant to a canonical id that is not the account's: there are no other accounts. */
function checkGrantee(grantee: Grantee, owner: string): void {
  if (grantee.type === "CanonicalUser" && grantee.id !== owner) {
    throw new AclError("InvalidArgument", "Invalid id", {
      ArgumentName: "CanonicalUser/ID",
      ArgumentValue: grantee.id,
    });
  }
  if (grantee.type === "Group" && !GROUPS.has(grantee.uri)) {
    throw new AclError("InvalidArgument", "Invalid group uri", {
      ArgumentName: "Group/URI",
      ArgumentValue: grantee.uri,
    });
  }
}

function checkedAcl(owner: string, grants: Grant[]): Acl {
  if (grants.length > MAX_GRANTS) throw malformed(`more than ${MAX_GRANTS} grants`);
  for (const grant of grants) checkGrantee(grant.grantee, owner);
  return { owner, grants };
}

const GRANT_HEADERS: [string, Permission][] = [
  ["x-amz-grant-full-control", "FULL_CONTROL"],
  ["x-amz-grant-write", "WRITE"],
  ["x-amz-grant-write-acp", "WRITE_ACP"],
  ["x-amz-grant-read", "READ"],
  ["x-amz-grant-read-acp", "READ_ACP"],
];

/** One `type=value` of a grant header: `id="…"`, `uri="…"` or `emailAddress="…"`. */
function headerGrantee(header: string, item: string): Grantee {
  const match = /^([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([^",]*))$/.exec(item.trim());
  const invalid = () =>
    new AclError("InvalidArgument", `Invalid grantee in ${header}`, {
      ArgumentName: header,
      ArgumentValue: item.trim(),
    });
  if (!match) throw invalid();
  const value = (match[2] ?? match[3]).trim();
  switch (match[1].toLowerCase()) {
    case "id":
      return { type: "CanonicalUser", id: value };
    case "uri":
      return { type: "Group", uri: value };
    case "emailaddress":
      throw unresolvableEmail(value);
  }
  throw invalid();
}

/** Splits on the commas between grantees, not those inside quotes. */
function splitGrantees(value: string): string[] {
  return value.match(/(?:[^,"]|"[^"]*")+/g)?.filter((item) => item.trim() !== "") ?? [];
}

/**
 * What the request asks for its resource's ACL by header: a canned `x-amz-acl` or
 * `x-amz-grant-*` grants (never both: InvalidRequest), undefined when it names none.
 */
export function aclFromHeaders(
  headers: Headers,
  owner: string,
  isBucket: boolean,
): Acl | undefined {
  const canned = headers.get("x-amz-acl");
  const granted = GRANT_HEADERS.filter(([name]) => headers.has(name));
  if (canned !== null && granted.length > 0) {
    throw new AclError(
      "InvalidRequest",
      "Specifying both Canned ACLs and Header Grants is not allowed",
    );
  }
  if (canned !== null) {
    const name = canned.trim();
    if (!isCannedAcl(name)) {
      throw new AclError("InvalidArgument", `Unknown canned ACL ${name}`, {
        ArgumentName: "x-amz-acl",
        ArgumentValue: name,
      });
    }
    return cannedAcl(name, owner, isBucket);
  }
  if (granted.length === 0) return undefined;
  const grants = granted.flatMap(([name, permission]) =>
    splitGrantees(headers.get(name)!).map((item) => ({
      grantee: headerGrantee(name, item),
      permission,
    }))
  );
  return checkedAcl(owner, grants);
}

const XSI = "http://www.w3.org/2001/XMLSchema-instance";

function text(element: XmlElement, name: string): string | undefined {
  return child(element, name)?.text.trim();
}

function xmlGrantee(element: XmlElement): Grantee {
  const type = element.attributes?.type;
  if (type === "CanonicalUser") {
    const id = text(element, "ID");
    if (!id) throw malformed("a CanonicalUser grantee without ID");
    return { type, id };
  }
  if (type === "Group") {
    const uri = text(element, "URI");
    if (!uri) throw malformed("a Group grantee without URI");
    return { type, uri };
  }
  if (type === "AmazonCustomerByEmail") {
    const email = text(element, "EmailAddress");
    if (!email) throw malformed("an AmazonCustomerByEmail grantee without EmailAddress");
    throw unresolvableEmail(email);
  }
  throw malformed(`grantee type ${type === undefined ? "missing" : JSON.stringify(type)}`);
}

function xmlGrant(element: XmlElement): Grant {
  const grantee = child(element, "Grantee");
  if (grantee === undefined) throw malformed("a Grant without Grantee");
  const permission = text(element, "Permission") ?? "";
  if (!(PERMISSIONS as readonly string[]).includes(permission)) {
    throw malformed(`permission ${JSON.stringify(permission)}`);
  }
  return { grantee: xmlGrantee(grantee), permission: permission as Permission };
}

/**
 * An AccessControlPolicy body. Its Owner, when given, must be the resource's owner (an ACL
 * cannot change ownership: AccessDenied, as AWS).
 */
export function aclFromXml(body: string, owner: string): Acl {
  let root: XmlElement;
  try {
    root = parseXml(body, 4 * MAX_GRANTS + 8);
  } catch {
    throw malformed("not well-formed");
  }
  if (root.name !== "AccessControlPolicy") throw malformed(`root element ${root.name}`);
  const ownerElement = child(root, "Owner");
  const ownerId = ownerElement && text(ownerElement, "ID");
  if (ownerElement !== undefined && !ownerId) throw malformed("an Owner without ID");
  if (ownerId !== undefined && ownerId !== owner) {
    throw new AclError("AccessDenied", "The ACL's Owner is not the owner of the resource.");
  }
  const lists = children(root, "AccessControlList");
  if (lists.length !== 1) throw malformed("one AccessControlList is required");
  return checkedAcl(owner, children(lists[0], "Grant").map(xmlGrant));
}

/** Whether a grant makes its resource public: to everyone, or to every signed request. */
export function isPublicGrant(grant: Grant): boolean {
  return grant.grantee.type === "Group" && PUBLIC_GROUPS.has(grant.grantee.uri);
}

export function isPublicAcl(acl: Acl): boolean {
  return acl.grants.some(isPublicGrant);
}

/** The ACL without its public grants (what IgnorePublicAcls leaves in force). */
export function withoutPublicGrants(acl: Acl): Acl {
  return { owner: acl.owner, grants: acl.grants.filter((g) => !isPublicGrant(g)) };
}

/** Whether an ACL is exactly the owner's FULL_CONTROL (what BucketOwnerEnforced allows). */
export function isOwnerOnly(acl: Acl): boolean {
  return acl.grants.length > 0 &&
    acl.grants.every((g) =>
      g.permission === "FULL_CONTROL" && g.grantee.type === "CanonicalUser" &&
      g.grantee.id === acl.owner
    );
}

/** Get{Bucket,Object}Acl's document; hand-rendered for the Grantee's xsi:type attribute. */
export function renderAcl(acl: Acl, displayName: string): string {
  const owner = `<ID>${escapeXml(acl.owner)}</ID><DisplayName>${
    escapeXml(displayName)
  }</DisplayName>`;
  const grants = acl.grants.map(({ grantee, permission }) => {
    const inner = grantee.type === "CanonicalUser"
      ? `<ID>${escapeXml(grantee.id)}</ID>` +
        (grantee.id === acl.owner ? `<DisplayName>${escapeXml(displayName)}</DisplayName>` : "")
      : `<URI>${escapeXml(grantee.uri)}</URI>`;
    return `<Grant><Grantee xmlns:xsi="${XSI}" xsi:type="${grantee.type}">${inner}</Grantee>` +
      `<Permission>${permission}</Permission></Grant>`;
  });
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<AccessControlPolicy xmlns="${S3_NAMESPACE}"><Owner>${owner}</Owner>` +
    `<AccessControlList>${grants.join("")}</AccessControlList></AccessControlPolicy>`;
}

/** The compact form an ACL is stored in (object metadata, bucket metadata). */
export function encodeAcl(acl: Acl): string {
  return JSON.stringify(acl);
}

/** A stored ACL; undefined when `stored` is absent or not one (the resource is then private). */
export function decodeAcl(stored: string | undefined): Acl | undefined {
  if (stored === undefined) return undefined;
  try {
    const acl = JSON.parse(stored) as Acl;
    return typeof acl.owner === "string" && Array.isArray(acl.grants) ? acl : undefined;
  } catch {
    return undefined;
  }
}

/** S3 actions each permission allows on a bucket (AWS's mapping table). */
const BUCKET_ACTIONS: Record<Exclude<Permission, "FULL_CONTROL">, readonly string[]> = {
  READ: ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"],
  // An upload's writer may also abandon it; the other multipart steps are s3:PutObject.
  WRITE: ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
  READ_ACP: ["s3:GetBucketAcl"],
  WRITE_ACP: ["s3:PutBucketAcl"],
};

/** S3 actions each permission allows on an object (WRITE means nothing on an object). */
const OBJECT_ACTIONS: Record<Exclude<Permission, "FULL_CONTROL">, readonly string[]> = {
  READ: ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent"],
  WRITE: [],
  READ_ACP: ["s3:GetObjectAcl", "s3:GetObjectVersionAcl"],
  WRITE_ACP: ["s3:PutObjectAcl", "s3:PutObjectVersionAcl"],
};

function permissionAllows(permission: Permission, action: string, isBucket: boolean): boolean {
  const table = isBucket ? BUCKET_ACTIONS : OBJECT_ACTIONS;
  if (permission !== "FULL_CONTROL") return table[permission].includes(action);
  return Object.values(table).some((actions) => actions.includes(action));
}

function granteeMatches(grantee: Grantee, principal: Principal): boolean {
  if (grantee.type === "Group") {
    if (grantee.uri === ALL_USERS) return true;
    return grantee.uri === AUTHENTICATED_USERS && principal.kind !== "anonymous";
  }
  // A canonical id names an account, which here is always this one; its grant speaks for the
  // account root (its IAM users act through their policies, as on AWS).
  return principal.kind === "root";
}

/**
 * Whether `acl` allows `principal` to perform the S3 `action`. `isBucket` says whose ACL it is
 * (the bucket's or an object's); left out, both tables apply (their actions do not overlap).
 */
export function aclAllows(
  acl: Acl | undefined,
  principal: Principal,
  action: string,
  isBucket?: boolean,
): boolean {
  if (acl === undefined) return false;
  return acl.grants.some((grant) =>
    granteeMatches(grant.grantee, principal) &&
    (isBucket === undefined
      ? permissionAllows(grant.permission, action, true) ||
        permissionAllows(grant.permission, action, false)
      : permissionAllows(grant.permission, action, isBucket))
  );
}

/** Whose ACL can grant `action`: the bucket's (listing, writing objects) or the object's. */
export function aclResourceOf(action: string): "bucket" | "object" | undefined {
  const granted = (table: typeof BUCKET_ACTIONS) =>
    Object.values(table).some((actions) => actions.includes(action));
  return granted(BUCKET_ACTIONS) ? "bucket" : granted(OBJECT_ACTIONS) ? "object" : undefined;
}

/**
 * The ACL verdict of a request, for the authorizer: whether the bucket's ACL (bucket actions)
 * or the object's, read from `objectMetadata` (object actions; undefined when there is no such
 * object), allows `action` — as the bucket's settings let ACLs count: not at all under
 * BucketOwnerEnforced, and without their public grants under IgnorePublicAcls.
 */
export function aclVerdict(
  bucket: Readonly<BucketMetadata>,
  objectMetadata: Readonly<Record<string, string>> | undefined,
  principal: Principal,
  action: string,
): boolean {
  if (bucket.ownership === "BucketOwnerEnforced") return false;
  const resource = aclResourceOf(action);
  const acl = resource === "bucket"
    ? bucket.acl
    : resource === "object"
    ? decodeAcl(objectMetadata?.[OBJECT_ACL_KEY])
    : undefined;
  if (acl === undefined) return false;
  const counted = bucket.publicAccessBlock?.ignorePublicAcls ? withoutPublicGrants(acl) : acl;
  return aclAllows(counted, principal, action, resource === "bucket");
}
