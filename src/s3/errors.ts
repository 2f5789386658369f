/**
 * The one place where failures become S3 errors: typed object-layer and auth errors map to an
 * S3 code and HTTP status, rendered as S3's XML error document. Anything unrecognised is an
 * InternalError whose details stay in the server log, never in the response.
 */

import { TamperedObject } from "../crypto/packages.ts";
import * as objectErrors from "../object/errors.ts";
import { renderXml } from "./xml.ts";

const STATUS: Record<string, number> = {
  AccessControlListNotSupported: 400,
  AccessDenied: 403,
  AccessForbidden: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadRequest: 400,
  BadDigest: 400,
  BucketAlreadyExists: 409,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  ConditionalRequestConflict: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  ExpiredToken: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketAclWithObjectOwnership: 400,
  InvalidBucketName: 400,
  InvalidBucketState: 409,
  InvalidDigest: 400,
  InvalidEncryptionAlgorithmError: 400,
  InvalidToken: 400,
  InvalidLocationConstraint: 400,
  InvalidObjectName: 400,
  InvalidPart: 400,
  InvalidPartNumber: 416,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidStorageClass: 400,
  KeyTooLongError: 400,
  "KMS.DisabledException": 400,
  "KMS.NotFoundException": 400,
  MalformedACLError: 400,
  MalformedTrailerError: 400,
  MalformedPolicy: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingRequestBodyError: 400,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchBucketPolicy: 404,
  NoSuchCORSConfiguration: 404,
  NoSuchPublicAccessBlockConfiguration: 404,
  NoSuchKey: 404,
  NoSuchObjectLockConfiguration: 404,
  NoSuchTagSet: 404,
  NoSuchLifecycleConfiguration: 404,
  NoSuchUpload: 404,
  NoSuchVersion: 404,
  NotImplemented: 501,
  NotModified: 304,
  ObjectLockConfigurationNotFoundError: 404,
  OwnershipControlsNotFoundError: 404,
  PolicyTooLarge: 400,
  PreconditionFailed: 412,
  RequestTimeTooSkewed: 403,
  RequestTimeout: 400,
  ServerSideEncryptionConfigurationNotFoundError: 404,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  UnexpectedContent: 400,
  UnresolvableGrantByEmailAddress: 400,
  XAmzContentSHA256Mismatch: 400,
  XMinioStorageFull: 507,
  XFlashstorNoSuchHealTask: 404,
  XFlashstorObjectTampered: 500,
  XFlashstorKMSKeyExists: 409,
  XFlashstorNoSuchKMSKey: 404,
};

const MESSAGES: Record<string, string> = {
  AccessDenied: "Access Denied.",
  BucketAlreadyOwnedByYou:
    "Your previous request to create the named bucket succeeded and you already own it.",
  BucketNotEmpty: "The bucket you tried to delete is not empty.",
  ConditionalRequestConflict:
    "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.",
  EntityTooSmall: "Your proposed upload is smaller than the minimum allowed object size.",
  IncompleteBody:
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
  InternalError: "We encountered an internal error, please try again.",
  InvalidBucketName: "The specified bucket is not valid.",
  InvalidObjectName: "Object name contains unsupported characters.",
  InvalidPart:
    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
  InvalidPartOrder:
    "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
  InvalidRange: "The requested range is not satisfiable",
  KeyTooLongError: "Your key is too long",
  MalformedXML:
    "The XML you provided was not well-formed or did not validate against our published schema.",
  MethodNotAllowed: "The specified method is not allowed against this resource.",
  NoSuchBucket: "The specified bucket does not exist",
  NoSuchKey: "The specified key does not exist.",
  NoSuchVersion: "The specified version does not exist.",
  NoSuchUpload:
    "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
  NotImplemented: "A header or query you provided implies functionality that is not implemented.",
  PreconditionFailed: "At least one of the pre-conditions you specified did not hold",
  ServiceUnavailable: "The service is unavailable. Please retry.",
  XFlashstorNoSuchHealTask: "No heal task has this id (finished tasks are kept for a while).",
  XFlashstorObjectTampered:
    "The object's stored data fails authentication: it was modified on the drives, and is not served.",
  XMinioStorageFull:
    "Storage backend has reached its minimum free drive threshold. Please delete a few objects to proceed.",
};

/** An error that already is an S3 error: code, message, and optional extra XML fields. */
export class S3Error extends Error {
  readonly status: number;
  /** Response headers that belong to this error (Content-Range of a 416). */
  readonly headers: Record<string, string> = {};
  constructor(
    readonly code: string,
    message?: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message ?? MESSAGES[code] ?? code);
    this.name = "S3Error";
    this.status = STATUS[code] ?? 400;
  }
}

const OBJECT_LAYER_CODES: [new (...args: never[]) => Error, string][] = [
  [objectErrors.BucketNotFound, "NoSuchBucket"],
  [objectErrors.BucketExists, "BucketAlreadyOwnedByYou"],
  [objectErrors.BucketNotEmpty, "BucketNotEmpty"],
  [objectErrors.InvalidBucketName, "InvalidBucketName"],
  [objectErrors.ObjectDeleted, "NoSuchKey"],
  [objectErrors.ObjectNotFound, "NoSuchKey"],
  [objectErrors.VersionNotFound, "NoSuchVersion"],
  [objectErrors.InvalidVersionId, "InvalidArgument"],
  [objectErrors.ObjectLocked, "AccessDenied"],
  [objectErrors.InvalidObjectName, "InvalidObjectName"],
  [objectErrors.ObjectNameTooLong, "KeyTooLongError"],
  [objectErrors.InvalidRange, "InvalidRange"],
  [objectErrors.NoSuchUpload, "NoSuchUpload"],
  [objectErrors.InvalidPart, "InvalidPart"],
  [objectErrors.InvalidPartOrder, "InvalidPartOrder"],
  [objectErrors.EntityTooSmall, "EntityTooSmall"],
  [objectErrors.EntityTooLarge, "EntityTooLarge"],
  [objectErrors.IncompleteBody, "IncompleteBody"],
  [objectErrors.PreconditionFailed, "PreconditionFailed"],
  [objectErrors.ConditionalRequestConflict, "ConditionalRequestConflict"],
  [objectErrors.InsufficientReadQuorum, "ServiceUnavailable"],
  [objectErrors.StorageFull, "XMinioStorageFull"],
  [objectErrors.InsufficientWriteQuorum, "ServiceUnavailable"],
  [objectErrors.TooManyHeals, "SlowDown"],
  [objectErrors.LockTimeout, "SlowDown"],
];

/**
 * Codes whose object-layer message is written for the client (which name rule was broken, why
 * the drives could not serve); other object-layer messages stay in the server log.
 */
const LAYER_MESSAGES = new Set([
  "ServiceUnavailable",
  "InvalidObjectName",
  "KeyTooLongError",
  "SlowDown",
]);

/** The S3 error of an object-layer error, with the response headers some of them carry. */
function objectLayerError(err: Error, code: string): S3Error {
  if (err instanceof objectErrors.ObjectDeleted) {
    // A delete marker: named by the request it is a resource without GET/HEAD (405).
    const error = err.named ? new S3Error("MethodNotAllowed") : new S3Error("NoSuchKey");
    error.headers["x-amz-delete-marker"] = "true";
    error.headers["x-amz-version-id"] = err.versionId;
    error.headers["last-modified"] = err.modTime.toUTCString();
    return error;
  }
  if (err instanceof objectErrors.InvalidVersionId) {
    return new S3Error("InvalidArgument", "Invalid version id specified", {
      ArgumentName: "versionId",
    });
  }
  if (err instanceof objectErrors.ObjectLocked) {
    return new S3Error("AccessDenied", "Access Denied because object protected by object lock.");
  }
  const error = new S3Error(code, LAYER_MESSAGES.has(code) ? err.message : undefined);
  if (err instanceof objectErrors.InvalidRange) {
    error.headers["content-range"] = `bytes */${err.objectSize}`;
  }
  return error;
}

/**
 * Maps any thrown value to an S3Error. Typed errors from the object layer and errors carrying
 * a known S3 `code` (auth, checksums) keep their meaning; the rest become InternalError.
 */
export function toS3Error(err: unknown): S3Error {
  if (err instanceof S3Error) return err;
  // Encrypted bytes that passed every bitrot check but not their authentication tag.
  if (err instanceof TamperedObject) return new S3Error("XFlashstorObjectTampered");
  for (const [type, code] of OBJECT_LAYER_CODES) {
    if (err instanceof type) {
      return objectLayerError(err, code);
    }
  }
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    if (typeof code === "string" && code in STATUS && code !== "InternalError") {
      return new S3Error(code, err.message, (err as { extra?: Record<string, string> }).extra);
    }
  }
  return new S3Error("InternalError");
}

/**
 * An error reading a copy's source. A source that names a delete marker is a bad request (AWS);
 * a source whose current version is one is NoSuchKey, without the delete-marker headers, which
 * would describe the copy's destination.
 */
export function copySourceError(err: unknown): unknown {
  if (!(err instanceof objectErrors.ObjectDeleted)) return err;
  return err.named
    ? new S3Error(
      "InvalidRequest",
      "The source of a copy request may not specifically refer to a delete marker by version id.",
    )
    : new S3Error("NoSuchKey");
}

/** S3's error document; HEAD responses carry no body, as S3. */
export function errorResponse(
  error: S3Error,
  options: { resource: string; requestId: string; method: string; headers?: HeadersInit },
): Response {
  const headers = new Headers(options.headers);
  for (const [name, value] of Object.entries(error.headers)) headers.set(name, value);
  headers.set("x-amz-request-id", options.requestId);
  if (error.status === 304) return new Response(null, { status: 304, headers });
  headers.set("content-type", "application/xml");
  if (options.method === "HEAD") {
    return new Response(null, { status: error.status, headers });
  }
  const body = new TextEncoder().encode(
    renderErrorXml(error, options.resource, options.requestId),
  );
  headers.set("content-length", String(body.length));
  return new Response(body, { status: error.status, headers });
}

function renderErrorXml(error: S3Error, resource: string, requestId: string): string {
  return renderXml("Error", {
    Code: error.code,
    Message: error.message,
    Resource: resource,
    RequestId: requestId,
    ...error.extra,
  }, "");
}
