/**
 * The one error type of request authentication and payload integrity. `code` is the S3 error
 * code (AccessDenied, SignatureDoesNotMatch, BadDigest, …); only src/s3/errors.ts turns it into an
 * HTTP status and XML. Body streams error with it too, so a handler that pipes the body into a
 * put sees the same class whether the header or the 37th chunk was wrong.
 */
export class AuthError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = "AuthError";
  }
}

/** Names the refused version and the fix, since old clients (boto3's default presigner before
 *  botocore 1.36, s3cmd signurl) send SigV2 without being asked to. */
export function unsupportedSignature(what: string): AuthError {
  return new AuthError(
    "NotImplemented",
    `${what} is not supported. Please use AWS4-HMAC-SHA256 (Signature Version 4), ` +
      "e.g. boto3 Config(signature_version='s3v4').",
  );
}
