/**
 * AWS Signature Version 2 for S3, as boto3's default presigner and s3cmd still send it: the
 * `Authorization: AWS key:signature` header and presigned query strings (AWSAccessKeyId,
 * Signature, Expires). The signature is base64 HMAC-SHA1 over the method, Content-MD5,
 * Content-Type, the date (Expires when presigned), every x-amz-* header and the resource with its
 * sub-resources. SigV2 has no list of signed headers: every x-amz-* header is signed, so none can
 * be added. The payload is not signed (Content-MD5, when sent, is still checked by the handlers).
 */
import { utf8ByteString } from "../bytes.ts";
import { withQueryHeaders } from "./amz-headers.ts";
import { trimSpaces } from "./canonical.ts";
import { AuthError, signatureMismatch, sigV2Refused, unknownAccessKey } from "./errors.ts";
import { decodePayload, payloadMode } from "./payload.ts";
import { hmacSha1Base64, signaturesEqual } from "./signing.ts";
import type { AuthOptions, AuthResult, SignedRequest } from "./sigv4.ts";

const MAX_SKEW_MS = 15 * 60 * 1000;
const SIGNATURE_PATTERN = /^[A-Za-z0-9+/]{27}=$/;

/**
 * Query parameters that are part of the signed resource: the sub-resources of AWS's "Signing and
 * authenticating REST requests", the response-* overrides, and those that botocore, s3cmd and
 * MinIO add to that list (a parameter one client signs and another does not can only be one
 * operation's, which every client signs alike).
 */
const SUBRESOURCES = new Set([
  "accelerate",
  "acl",
  "analytics",
  "cors",
  "defaultObjectAcl",
  "delete",
  "encryption",
  "inventory",
  "legal-hold",
  "lifecycle",
  "location",
  "logging",
  "metrics",
  "notification",
  "object-lock",
  "partNumber",
  "policy",
  "replication",
  "requestPayment",
  "response-cache-control",
  "response-content-disposition",
  "response-content-encoding",
  "response-content-language",
  "response-content-type",
  "response-expires",
  "restore",
  "retention",
  "select",
  "select-type",
  "storageClass",
  "tagging",
  "torrent",
  "uploadId",
  "uploads",
  "versionId",
  "versioning",
  "versions",
  "website",
]);

/** Whether the request carries a SigV2 signature (header or presigned query). */
export function isSigV2(query: Map<string, string>, authorization: string | null): boolean {
  return authorization === null
    ? query.has("AWSAccessKeyId") || query.has("Signature")
    : authorization.startsWith("AWS ");
}

/** "/bucket/key?sub&sub=value": the raw path (the bucket prepended when the Host named it). */
function canonicalResource(
  rawPath: string,
  params: [string, string][],
  hostBucket?: string,
): string {
  const path = hostBucket === undefined ? rawPath || "/" : `/${hostBucket}${rawPath || "/"}`;
  const subresources = params
    .filter(([name]) => SUBRESOURCES.has(name))
    .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
    .map(([name, value]) => value === "" ? name : `${name}=${utf8ByteString(value)}`);
  return subresources.length === 0 ? path : `${path}?${subresources.join("&")}`;
}

/** "name:value\n" for every x-amz-* header, sorted by name; `skip` leaves one out. */
function canonicalAmzHeaders(headers: Headers, skip?: string): string {
  const lines: string[] = [];
  headers.forEach((value, name) => {
    if (name.startsWith("x-amz-") && name !== skip) lines.push(`${name}:${trimSpaces(value)}\n`);
  });
  return lines.sort().join("");
}

/**
 * The strings a request's signature may sign. Clients put the Date header in the date position
 * and x-amz-date among the x-amz-* headers; AWS's own example (DELETE with x-amz-date) puts
 * x-amz-date's value in the date position instead. Both sign the same request.
 */
function stringsToSign(
  method: string,
  headers: Headers,
  date: string,
  resource: string,
  presigned: boolean,
): string[] {
  const head = `${method}\n${trimSpaces(headers.get("content-md5") ?? "")}\n` +
    `${trimSpaces(headers.get("content-type") ?? "")}\n`;
  const strings = [`${head}${date}\n${canonicalAmzHeaders(headers)}${resource}`];
  const amzDate = headers.get("x-amz-date");
  if (!presigned && amzDate !== null) {
    strings.push(
      `${head}${trimSpaces(amzDate)}\n${canonicalAmzHeaders(headers, "x-amz-date")}${resource}`,
    );
  }
  return strings;
}

function withHeader(headers: Headers, name: string, value: string): Headers {
  const copy = new Headers(headers);
  try {
    copy.set(name, utf8ByteString(value));
  } catch {
    throw new AuthError("InvalidArgument", `The query parameter ${name} is not a valid header.`);
  }
  return copy;
}

interface V2Signature {
  accessKey: string;
  signature: string;
  /** The date position of the string to sign: Expires, or the Date header. */
  date: string;
}

function fromHeader(authorization: string, headers: Headers, now: Date): V2Signature {
  const credentials = authorization.slice("AWS ".length);
  const colon = credentials.lastIndexOf(":");
  if (colon <= 0) {
    throw new AuthError(
      "InvalidArgument",
      "AWS authorization header is invalid. Expected AwsAccessKeyId:signature",
    );
  }
  const amzDate = headers.get("x-amz-date");
  const time = Date.parse(amzDate ?? headers.get("date") ?? "");
  if (Number.isNaN(time)) {
    throw new AuthError(
      "AccessDenied",
      "AWS authentication requires a valid Date or x-amz-date header",
    );
  }
  if (Math.abs(time - now.getTime()) > MAX_SKEW_MS) {
    throw new AuthError(
      "RequestTimeTooSkewed",
      "The difference between the request time and the server's time is too large.",
    );
  }
  return {
    accessKey: credentials.slice(0, colon),
    signature: credentials.slice(colon + 1).trim(),
    date: trimSpaces(headers.get("date") ?? ""),
  };
}

function fromQuery(query: Map<string, string>, now: Date): V2Signature {
  const accessKey = query.get("AWSAccessKeyId");
  const signature = query.get("Signature");
  const expires = query.get("Expires");
  if (accessKey === undefined || signature === undefined || expires === undefined) {
    throw new AuthError(
      "AccessDenied",
      "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
    );
  }
  if (!/^\d{1,12}$/.test(expires)) {
    throw new AuthError("AccessDenied", "Invalid date (should be seconds since epoch)");
  }
  if (now.getTime() > Number(expires) * 1000) {
    throw new AuthError("AccessDenied", "Request has expired");
  }
  return { accessKey, signature, date: expires };
}

/** Checks a SigV2 request; the body passes unsigned (an x-amz-content-sha256 hash is checked). */
export async function authenticateV2(
  req: SignedRequest,
  rawPath: string,
  params: [string, string][],
  options: AuthOptions,
): Promise<AuthResult> {
  if (options.sigv2 === false) throw sigV2Refused();
  const query = new Map(params);
  const authorization = req.headers.get("authorization");
  const presigned = authorization === null;
  const now = options.now?.() ?? new Date();
  const sig = presigned ? fromQuery(query, now) : fromHeader(authorization, req.headers, now);
  // A presigned URL's x-amz-* parameters are signed and applied like its x-amz-* headers.
  const headers = presigned ? withQueryHeaders(req.headers, params) : req.headers;
  // The session token of temporary credentials is signed as an x-amz-* header, also when a
  // presigned URL carries it in its query (as botocore's HmacV1QueryAuth does).
  const sessionToken = presigned
    ? query.get("x-amz-security-token")
    : headers.get("x-amz-security-token") ?? undefined;
  const credentials = await options.lookup(sig.accessKey, sessionToken);
  if (credentials === undefined) throw unknownAccessKey();
  if (!SIGNATURE_PATTERN.test(sig.signature)) throw signatureMismatch();
  const signedHeaders = presigned && sessionToken !== undefined
    ? withHeader(headers, "x-amz-security-token", sessionToken)
    : headers;
  const resource = canonicalResource(rawPath, params, req.hostBucket);
  const candidates = stringsToSign(req.method, signedHeaders, sig.date, resource, presigned);
  // Every candidate is computed, so that the time taken does not tell which one came close.
  let matched = false;
  for (const stringToSign of candidates) {
    const expected = hmacSha1Base64(credentials.secretKey, stringToSign);
    if (signaturesEqual(expected, sig.signature)) matched = true;
  }
  if (!matched) throw signatureMismatch();
  const mode = payloadMode(headers.get("x-amz-content-sha256") ?? "UNSIGNED-PAYLOAD");
  return {
    accessKey: credentials.accessKey,
    principal: credentials.principal,
    headers,
    ...decodePayload(headers, req.body, mode),
  };
}
