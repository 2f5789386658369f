/**
 * The one error type of request authentication and payload integrity. `code` is the S3 error
 * code (AccessDenied, SignatureDoesNotMatch, BadDigest, …); only src/s3/errors.ts turns it into an
 * HTTP status and XML. Body streams error with it too, so a handler that pipes the body into a
 * put sees the same class whether the header or the 37th chunk was wrong.
 */
export class AuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Further elements of the error document (HeadersNotSigned, Region). */
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
    this.name = "AuthError";
  }
}

/** Names the refused signature version and the one to use instead. */
export function unsupportedSignature(what: string): AuthError {
  return new AuthError(
    "NotImplemented",
    `${what} is not supported. Please use AWS4-HMAC-SHA256 (Signature Version 4).`,
  );
}

/** SigV2 when the server refuses it (FLASHSTOR_SIGV2=off), in AWS's words for such buckets. */
export function sigV2Refused(): AuthError {
  return new AuthError(
    "InvalidRequest",
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
  );
}

export function signatureMismatch(): AuthError {
  return new AuthError(
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. " +
      "Check your key and signing method.",
  );
}

export function unknownAccessKey(): AuthError {
  return new AuthError(
    "InvalidAccessKeyId",
    "The AWS Access Key Id you provided does not exist in our records.",
  );
}

/** Temporary credentials past their expiry (AWS's words). */
export function expiredToken(): AuthError {
  return new AuthError("ExpiredToken", "The provided token has expired.");
}

/** A session token that does not verify, or that belongs to another access key. */
export function invalidToken(): AuthError {
  return new AuthError("InvalidToken", "The provided token is malformed or otherwise invalid.");
}
