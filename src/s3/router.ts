/**
 * The S3 dispatch table. A request's method, addressing (service, bucket or object), the one
 * routing subresource in its query and the presence of x-amz-copy-source select exactly one
 * operation; the table below is data, read top to bottom, first match wins. Anything it does
 * not name is answered NotImplemented (a known or unknown subresource) or MethodNotAllowed,
 * never a different operation. Each rule also names the IAM permissions its operation needs
 * (the authorize step in app.ts checks them before the handler runs), and a route carries the
 * parameters it was parsed with (upload id, part number, version id).
 */

import { utf8LongerThan } from "../bytes.ts";
import { S3Error } from "./errors.ts";
import { MAX_PART_NUMBER } from "../object/multipart.ts";

export type S3Operation =
  | "ListBuckets"
  | "CreateBucket"
  | "HeadBucket"
  | "DeleteBucket"
  | "GetBucketLocation"
  | "GetBucketVersioning"
  | "ListObjects"
  | "ListObjectsV2"
  | "ListObjectVersions"
  | "ListMultipartUploads"
  | "GetBucketAcl"
  | "PutBucketAcl"
  | "DeleteObjects"
  | "PostObject"
  | "PutObject"
  | "CopyObject"
  | "GetObject"
  | "HeadObject"
  | "DeleteObject"
  | "GetObjectAcl"
  | "GetObjectTagging"
  | "PutObjectAcl"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "UploadPartCopy"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "ListParts"
  | "PutBucketPolicy"
  | "GetBucketPolicy"
  | "DeleteBucketPolicy"
  | "GetBucketPolicyStatus"
  | "PutBucketOwnershipControls"
  | "GetBucketOwnershipControls"
  | "DeleteBucketOwnershipControls"
  | "PutPublicAccessBlock"
  | "GetPublicAccessBlock"
  | "DeletePublicAccessBlock"
  | "PutBucketVersioning"
  | "PutObjectTagging"
  | "DeleteObjectTagging"
  | "GetBucketTagging"
  | "PutBucketTagging"
  | "DeleteBucketTagging"
  | "GetObjectLockConfiguration"
  | "PutObjectLockConfiguration"
  | "GetObjectRetention"
  | "PutObjectRetention"
  | "GetObjectLegalHold"
  | "PutObjectLegalHold"
  | "GetBucketLifecycleConfiguration"
  | "PutBucketLifecycleConfiguration"
  | "DeleteBucketLifecycle"
  | "GetBucketCors"
  | "PutBucketCors"
  | "DeleteBucketCors"
  | "GetBucketEncryption"
  | "PutBucketEncryption"
  | "DeleteBucketEncryption";

/** The IAM actions S3 operations need (AWS's names; the policy language knows them all). */
export type S3Action =
  | "s3:ListAllMyBuckets"
  | "s3:CreateBucket"
  | "s3:DeleteBucket"
  | "s3:ListBucket"
  | "s3:ListBucketVersions"
  | "s3:ListBucketMultipartUploads"
  | "s3:GetBucketLocation"
  | "s3:GetBucketVersioning"
  | "s3:GetBucketAcl"
  | "s3:PutBucketAcl"
  | "s3:GetBucketPolicy"
  | "s3:PutBucketPolicy"
  | "s3:DeleteBucketPolicy"
  | "s3:GetBucketPolicyStatus"
  | "s3:GetBucketOwnershipControls"
  | "s3:PutBucketOwnershipControls"
  | "s3:GetBucketPublicAccessBlock"
  | "s3:PutBucketPublicAccessBlock"
  | "s3:GetObject"
  | "s3:GetObjectVersion"
  | "s3:PutObject"
  | "s3:DeleteObject"
  | "s3:DeleteObjectVersion"
  | "s3:GetObjectAcl"
  | "s3:GetObjectVersionAcl"
  | "s3:PutObjectAcl"
  | "s3:PutObjectVersionAcl"
  | "s3:GetObjectTagging"
  | "s3:GetObjectVersionTagging"
  | "s3:AbortMultipartUpload"
  | "s3:ListMultipartUploadParts"
  | "s3:PutBucketVersioning"
  | "s3:PutObjectTagging"
  | "s3:PutObjectVersionTagging"
  | "s3:DeleteObjectTagging"
  | "s3:DeleteObjectVersionTagging"
  | "s3:GetBucketTagging"
  | "s3:PutBucketTagging"
  | "s3:GetBucketObjectLockConfiguration"
  | "s3:PutBucketObjectLockConfiguration"
  | "s3:GetObjectRetention"
  | "s3:PutObjectRetention"
  | "s3:GetObjectLegalHold"
  | "s3:PutObjectLegalHold"
  | "s3:BypassGovernanceRetention"
  | "s3:GetLifecycleConfiguration"
  | "s3:PutLifecycleConfiguration"
  | "s3:GetBucketCORS"
  | "s3:PutBucketCORS"
  | "s3:GetEncryptionConfiguration"
  | "s3:PutEncryptionConfiguration";

/**
 * Which resource a permission is asked on: its ARN is `arn:aws:s3:::<bucket>` ("bucket"),
 * `arn:aws:s3:::<bucket>/<key>` ("object", "copy-source": the x-amz-copy-source object), or the
 * handler forms it ("account": ListBuckets filters by it; "each-key": each key of a
 * DeleteObjects body; "form-key": the key of a POST form, once its signature is checked).
 */
export type ResourceOf = "bucket" | "object" | "copy-source" | "account" | "each-key" | "form-key";

export interface Permission {
  action: S3Action;
  /** Asked instead when the request names a version (`?versionId=`), as AWS does. */
  ofVersion?: S3Action;
  on: ResourceOf;
}

export interface Route {
  op: S3Operation;
  /** "" for service operations. */
  bucket: string;
  /** Decoded key, "" for service and bucket operations. */
  key: string;
  query: URLSearchParams;
  /** What the operation needs allowed. */
  permissions: readonly Permission[];
  /** ?uploadId= ("" when present but empty). */
  uploadId?: string;
  /** ?partNumber=, for the operations that take one (checked: 1–10000). */
  partNumber?: number;
  /** ?versionId= ("" when present but empty). */
  versionId?: string;
}

type Target = "service" | "bucket" | "object";

interface Rule {
  method: string;
  target: Target;
  /** The routing subresource that must be present; none of them may be when undefined. */
  sub?: string;
  /** Required value of `sub` (list-type=2). */
  value?: string;
  /** Further query parameter that must be present (UploadPart needs partNumber). */
  param?: string;
  /** x-amz-copy-source must be present. */
  copy?: true;
  op: S3Operation;
  permissions: readonly Permission[];
}

const on = (action: S3Action, resource: ResourceOf, ofVersion?: S3Action): Permission[] => [
  ofVersion ? { action, on: resource, ofVersion } : { action, on: resource },
];
const READ_OBJECT = on("s3:GetObject", "object", "s3:GetObjectVersion");
const WRITE_OBJECT = on("s3:PutObject", "object");
const COPY_OBJECT = [
  ...WRITE_OBJECT,
  ...on("s3:GetObject", "copy-source", "s3:GetObjectVersion"),
];
const LIST_BUCKET = on("s3:ListBucket", "bucket");

/** Operations whose ?partNumber= selects something (validated by route()). */
const PART_NUMBER_OPS: ReadonlySet<S3Operation> = new Set([
  "GetObject",
  "HeadObject",
  "UploadPart",
  "UploadPartCopy",
]);

export const ROUTES: readonly Rule[] = [
  {
    method: "GET",
    target: "service",
    op: "ListBuckets",
    permissions: on("s3:ListAllMyBuckets", "account"),
  },

  {
    method: "GET",
    target: "bucket",
    sub: "location",
    op: "GetBucketLocation",
    permissions: on("s3:GetBucketLocation", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "versioning",
    op: "GetBucketVersioning",
    permissions: on("s3:GetBucketVersioning", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "acl",
    op: "GetBucketAcl",
    permissions: on("s3:GetBucketAcl", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "policy",
    op: "GetBucketPolicy",
    permissions: on("s3:GetBucketPolicy", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "policyStatus",
    op: "GetBucketPolicyStatus",
    permissions: on("s3:GetBucketPolicyStatus", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "uploads",
    op: "ListMultipartUploads",
    permissions: on("s3:ListBucketMultipartUploads", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "versions",
    op: "ListObjectVersions",
    permissions: on("s3:ListBucketVersions", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "list-type",
    value: "2",
    op: "ListObjectsV2",
    permissions: LIST_BUCKET,
  },
  { method: "GET", target: "bucket", op: "ListObjects", permissions: LIST_BUCKET },
  { method: "HEAD", target: "bucket", op: "HeadBucket", permissions: LIST_BUCKET },
  {
    method: "PUT",
    target: "bucket",
    sub: "acl",
    op: "PutBucketAcl",
    permissions: on("s3:PutBucketAcl", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "policy",
    op: "PutBucketPolicy",
    permissions: on("s3:PutBucketPolicy", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    op: "CreateBucket",
    permissions: on("s3:CreateBucket", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "policy",
    op: "DeleteBucketPolicy",
    permissions: on("s3:DeleteBucketPolicy", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    op: "DeleteBucket",
    permissions: on("s3:DeleteBucket", "bucket"),
  },
  // Deleting a setting takes the permission to put it, as AWS.
  {
    method: "PUT",
    target: "bucket",
    sub: "versioning",
    op: "PutBucketVersioning",
    permissions: on("s3:PutBucketVersioning", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "tagging",
    op: "GetBucketTagging",
    permissions: on("s3:GetBucketTagging", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "tagging",
    op: "PutBucketTagging",
    permissions: on("s3:PutBucketTagging", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "tagging",
    op: "DeleteBucketTagging",
    permissions: on("s3:PutBucketTagging", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "object-lock",
    op: "GetObjectLockConfiguration",
    permissions: on("s3:GetBucketObjectLockConfiguration", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "object-lock",
    op: "PutObjectLockConfiguration",
    permissions: on("s3:PutBucketObjectLockConfiguration", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "lifecycle",
    op: "GetBucketLifecycleConfiguration",
    permissions: on("s3:GetLifecycleConfiguration", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "lifecycle",
    op: "PutBucketLifecycleConfiguration",
    permissions: on("s3:PutLifecycleConfiguration", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "lifecycle",
    op: "DeleteBucketLifecycle",
    permissions: on("s3:PutLifecycleConfiguration", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "cors",
    op: "GetBucketCors",
    permissions: on("s3:GetBucketCORS", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "cors",
    op: "PutBucketCors",
    permissions: on("s3:PutBucketCORS", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "cors",
    op: "DeleteBucketCors",
    permissions: on("s3:PutBucketCORS", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "encryption",
    op: "GetBucketEncryption",
    permissions: on("s3:GetEncryptionConfiguration", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "encryption",
    op: "PutBucketEncryption",
    permissions: on("s3:PutEncryptionConfiguration", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "encryption",
    op: "DeleteBucketEncryption",
    permissions: on("s3:PutEncryptionConfiguration", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "ownershipControls",
    op: "GetBucketOwnershipControls",
    permissions: on("s3:GetBucketOwnershipControls", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "ownershipControls",
    op: "PutBucketOwnershipControls",
    permissions: on("s3:PutBucketOwnershipControls", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "ownershipControls",
    op: "DeleteBucketOwnershipControls",
    permissions: on("s3:PutBucketOwnershipControls", "bucket"),
  },
  {
    method: "GET",
    target: "bucket",
    sub: "publicAccessBlock",
    op: "GetPublicAccessBlock",
    permissions: on("s3:GetBucketPublicAccessBlock", "bucket"),
  },
  {
    method: "PUT",
    target: "bucket",
    sub: "publicAccessBlock",
    op: "PutPublicAccessBlock",
    permissions: on("s3:PutBucketPublicAccessBlock", "bucket"),
  },
  {
    method: "DELETE",
    target: "bucket",
    sub: "publicAccessBlock",
    op: "DeletePublicAccessBlock",
    permissions: on("s3:PutBucketPublicAccessBlock", "bucket"),
  },
  {
    method: "POST",
    target: "bucket",
    sub: "delete",
    op: "DeleteObjects",
    permissions: on("s3:DeleteObject", "each-key", "s3:DeleteObjectVersion"),
  },
  // A browser form upload; its handler refuses bodies that are not multipart/form-data.
  {
    method: "POST",
    target: "bucket",
    op: "PostObject",
    permissions: on("s3:PutObject", "form-key"),
  },

  {
    method: "GET",
    target: "object",
    sub: "acl",
    op: "GetObjectAcl",
    permissions: on("s3:GetObjectAcl", "object", "s3:GetObjectVersionAcl"),
  },
  {
    method: "GET",
    target: "object",
    sub: "tagging",
    op: "GetObjectTagging",
    permissions: on("s3:GetObjectTagging", "object", "s3:GetObjectVersionTagging"),
  },
  {
    method: "PUT",
    target: "object",
    sub: "tagging",
    op: "PutObjectTagging",
    permissions: on("s3:PutObjectTagging", "object", "s3:PutObjectVersionTagging"),
  },
  {
    method: "DELETE",
    target: "object",
    sub: "tagging",
    op: "DeleteObjectTagging",
    permissions: on("s3:DeleteObjectTagging", "object", "s3:DeleteObjectVersionTagging"),
  },
  {
    method: "GET",
    target: "object",
    sub: "retention",
    op: "GetObjectRetention",
    permissions: on("s3:GetObjectRetention", "object"),
  },
  {
    method: "PUT",
    target: "object",
    sub: "retention",
    op: "PutObjectRetention",
    permissions: on("s3:PutObjectRetention", "object"),
  },
  {
    method: "GET",
    target: "object",
    sub: "legal-hold",
    op: "GetObjectLegalHold",
    permissions: on("s3:GetObjectLegalHold", "object"),
  },
  {
    method: "PUT",
    target: "object",
    sub: "legal-hold",
    op: "PutObjectLegalHold",
    permissions: on("s3:PutObjectLegalHold", "object"),
  },
  {
    method: "GET",
    target: "object",
    sub: "uploadId",
    op: "ListParts",
    permissions: on("s3:ListMultipartUploadParts", "object"),
  },
  { method: "GET", target: "object", op: "GetObject", permissions: READ_OBJECT },
  { method: "HEAD", target: "object", op: "HeadObject", permissions: READ_OBJECT },
  {
    method: "PUT",
    target: "object",
    sub: "uploadId",
    param: "partNumber",
    copy: true,
    op: "UploadPartCopy",
    permissions: COPY_OBJECT,
  },
  {
    method: "PUT",
    target: "object",
    sub: "uploadId",
    param: "partNumber",
    op: "UploadPart",
    permissions: WRITE_OBJECT,
  },
  {
    method: "PUT",
    target: "object",
    sub: "acl",
    op: "PutObjectAcl",
    permissions: on("s3:PutObjectAcl", "object", "s3:PutObjectVersionAcl"),
  },
  { method: "PUT", target: "object", copy: true, op: "CopyObject", permissions: COPY_OBJECT },
  { method: "PUT", target: "object", op: "PutObject", permissions: WRITE_OBJECT },
  {
    method: "POST",
    target: "object",
    sub: "uploads",
    op: "CreateMultipartUpload",
    permissions: WRITE_OBJECT,
  },
  {
    method: "POST",
    target: "object",
    sub: "uploadId",
    op: "CompleteMultipartUpload",
    permissions: WRITE_OBJECT,
  },
  {
    method: "DELETE",
    target: "object",
    sub: "uploadId",
    op: "AbortMultipartUpload",
    permissions: on("s3:AbortMultipartUpload", "object"),
  },
  {
    method: "DELETE",
    target: "object",
    op: "DeleteObject",
    permissions: on("s3:DeleteObject", "object", "s3:DeleteObjectVersion"),
  },
];

/** Subresources that select an operation in ROUTES. */
const ROUTING = new Set(ROUTES.flatMap((r) => r.sub ? [r.sub] : []));

/**
 * Subresources of S3 we do not implement: present in a request, they make it NotImplemented
 * even where the table would otherwise match (GET ?policy is not a listing).
 */
const UNSUPPORTED = new Set([
  "accelerate",
  "analytics",
  "attributes",
  "intelligent-tiering",
  "inventory",
  "logging",
  "metadataTable",
  "metrics",
  "notification",
  "renameObject",
  "replication",
  "requestPayment",
  "restore",
  "select",
  "select-type",
  "session",
  "torrent",
  "website",
]);

/** Query parameters of the operations above (and of presigned URLs); they never route. */
const PARAMETERS = new Set([
  "bucket-region",
  "continuation-token",
  "delimiter",
  "encoding-type",
  "fetch-owner",
  "key-marker",
  "marker",
  "max-buckets",
  "max-keys",
  "max-parts",
  "max-uploads",
  "part-number-marker",
  "partNumber",
  "prefix",
  "start-after",
  "upload-id-marker",
  "version-id-marker",
  "versionId",
  "x-id",
]);

function isParameter(name: string): boolean {
  return PARAMETERS.has(name) || name.startsWith("response-") ||
    name.toLowerCase().startsWith("x-amz-");
}

const MAX_KEY_BYTES = 1024;
const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Percent-decodes a raw path piece without touching "..", "//" or "+". A "%" not followed by two
 * hex digits stays literal, as SigV4's canonical path treats it. Undefined for invalid UTF-8.
 */
export function decodePath(raw: string): string | undefined {
  if (!raw.includes("%")) return raw;
  const bytes = encoder.encode(raw);
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25 && i + 2 < bytes.length) {
      const hi = hexValue(bytes[i + 1]);
      const lo = hexValue(bytes[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = bytes[i];
  }
  try {
    return strictUtf8.decode(out.subarray(0, n));
  } catch {
    return undefined;
  }
}

/** The bucket name that would shadow /flashstor/health/… and other server endpoints. */
export const RESERVED_BUCKET = "flashstor";

/**
 * S3's rules for bucket names (MinIO's strict variant): 3–63 characters of lower-case letters,
 * digits, "." and "-", starting and ending with a letter or digit, no "..", ".-" or "-.", and
 * not shaped like an IPv4 address.
 */
export function isValidBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !/\.\.|\.-|-\./.test(name) &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) && name !== RESERVED_BUCKET;
}

export function checkBucketName(name: string): void {
  if (!isValidBucketName(name)) throw new S3Error("InvalidBucketName");
}

export function checkKey(key: string): void {
  if (utf8LongerThan(key, MAX_KEY_BYTES)) throw new S3Error("KeyTooLongError");
}

/** The bucket named by a virtual-host-style Host header, if it is one. */
/** The bucket named by a virtual-host-style Host header (`bucket.<domain>`), if any. */
export function hostBucket(host: string | null, domains: readonly string[]): string | undefined {
  if (!host || domains.length === 0) return undefined;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  for (const domain of domains) {
    const suffix = "." + domain.toLowerCase();
    if (name.endsWith(suffix) && name.length > suffix.length) {
      return name.slice(0, -suffix.length);
    }
  }
  return undefined;
}

/** Splits the path into raw bucket and raw key pieces, by addressing style. */
function splitPath(path: string, bucketFromHost: string | undefined): [string, string] {
  if (bucketFromHost !== undefined) return [bucketFromHost, path.slice(1)];
  const slash = path.indexOf("/", 1);
  return slash < 0 ? [path.slice(1), ""] : [path.slice(1, slash), path.slice(slash + 1)];
}

/** Names of the query parameters whose presence or emptiness decides routing. */
function subresources(query: URLSearchParams): { routing: string[]; unknown: string[] } {
  const routing: string[] = [];
  const unknown: string[] = [];
  query.forEach((value, name) => {
    if (ROUTING.has(name)) routing.push(name);
    else if (UNSUPPORTED.has(name)) unknown.push(name);
    // An unknown name without a value reads as a subresource; with one, as a parameter.
    else if (value === "" && !isParameter(name)) unknown.push(name);
  });
  return { routing, unknown };
}

function matches(
  rule: Rule,
  method: string,
  target: Target,
  query: URLSearchParams,
  routing: string[],
  copy: boolean,
): boolean {
  if (rule.method !== method || rule.target !== target) return false;
  if (rule.copy && !copy) return false;
  if (rule.param !== undefined && !query.has(rule.param)) return false;
  if (rule.sub === undefined) return routing.length === 0;
  if (routing.length !== 1 || routing[0] !== rule.sub) return false;
  return rule.value === undefined || query.get(rule.sub) === rule.value;
}

/** The part number a ?partNumber= names, or InvalidArgument. */
export function parsePartNumber(raw: string): number | S3Error {
  const number = /^\d{1,5}$/.test(raw) ? Number(raw) : 0;
  if (number >= 1 && number <= MAX_PART_NUMBER) return number;
  return new S3Error(
    "InvalidArgument",
    "Part number must be an integer between 1 and 10000, inclusive",
    { ArgumentName: "partNumber", ArgumentValue: raw },
  );
}

function parsedRoute(
  rule: Rule,
  bucket: string,
  key: string,
  query: URLSearchParams,
): Route | S3Error {
  const routed: Route = { op: rule.op, bucket, key, query, permissions: rule.permissions };
  const uploadId = query.get("uploadId");
  if (uploadId !== null) routed.uploadId = uploadId;
  const versionId = query.get("versionId");
  if (versionId !== null) routed.versionId = versionId;
  const partNumber = query.get("partNumber");
  if (partNumber !== null && PART_NUMBER_OPS.has(rule.op)) {
    const number = parsePartNumber(partNumber);
    if (number instanceof S3Error) return number;
    routed.partNumber = number;
  }
  return routed;
}

const notImplemented = (what: string) =>
  new S3Error(
    "NotImplemented",
    `A header or query you provided implies functionality that is not implemented (${what}).`,
  );

/** The decoded bucket and key a raw request target names (by addressing style), and its query. */
export function addressOf(
  target: string,
  host: string | null,
  domains: readonly string[],
): { bucket: string; key: string; rawQuery: string } | S3Error {
  if (!target.startsWith("/")) {
    return new S3Error("InvalidURI", "Couldn't parse the specified URI.");
  }
  const hashless = target.split("#", 1)[0];
  const q = hashless.indexOf("?");
  const rawPath = q < 0 ? hashless : hashless.slice(0, q);
  const rawQuery = q < 0 ? "" : hashless.slice(q + 1);

  const [rawBucket, rawKey] = splitPath(rawPath, hostBucket(host, domains));
  const bucket = decodePath(rawBucket);
  const key = decodePath(rawKey);
  if (bucket === undefined || key === undefined) {
    return new S3Error("InvalidURI", "Couldn't parse the specified URI.");
  }
  return { bucket, key, rawQuery };
}

/**
 * Resolves a request to its operation. `target` is the raw request target (path and query as
 * sent); `host` the Host header; `headers` are consulted only for x-amz-copy-source.
 */
export function route(
  method: string,
  target: string,
  host: string | null,
  domains: readonly string[],
  headers?: Headers,
): Route | S3Error {
  const address = addressOf(target, host, domains);
  if (address instanceof S3Error) return address;
  const { bucket, key, rawQuery } = address;
  const kind: Target = bucket === "" ? "service" : key === "" ? "bucket" : "object";
  if (kind !== "service" && !isValidBucketName(bucket)) return new S3Error("InvalidBucketName");
  if (utf8LongerThan(key, MAX_KEY_BYTES)) return new S3Error("KeyTooLongError");

  const query = new URLSearchParams(rawQuery);
  const { routing, unknown } = subresources(query);
  if (unknown.length > 0) return notImplemented(`?${unknown[0]}`);
  const copy = headers?.has("x-amz-copy-source") ?? false;
  const rule = ROUTES.find((r) => matches(r, method, kind, query, routing, copy));
  if (rule) return parsedRoute(rule, bucket, key, query);
  if (routing.length > 0) return notImplemented(`${method} ?${routing.join("&")}`);
  return new S3Error("MethodNotAllowed");
}
