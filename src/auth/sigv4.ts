/**
 * AWS Signature Version 4 for S3: the Authorization header and presigned query strings.
 * authenticate() checks the signature of the request head (handing SigV2 to sigv2.ts) and returns
 * the body wrapped so that it errors unless the payload matches what was signed (see payload.ts
 * and chunked.ts), with the headers the signature vouches for. SigV4a is refused with
 * NotImplemented, as MinIO refuses what it does not speak.
 */
import { Buffer } from "node:buffer";
import { refuseUnsignedHeaders, withQueryHeaders } from "./amz-headers.ts";
import { canonicalHeaders, canonicalQuery, canonicalUri, parseQuery } from "./canonical.ts";
import type { Principal } from "../iam/principal.ts";
import { anonymousPrincipal, type CredentialLookup } from "./credentials.ts";
import { AuthError, signatureMismatch, unknownAccessKey, unsupportedSignature } from "./errors.ts";
import { decodePayload, payloadMode } from "./payload.ts";
import {
  checkScope,
  type CredentialScope,
  formatAmzDate,
  parseAmzDate,
  parseCredential,
  type Service,
} from "./scope.ts";
import { authenticateV2, isSigV2 } from "./sigv2.ts";
import { EMPTY_SHA256, hmacHex, sha256Hex, signaturesEqual, signingKey } from "./signing.ts";

export interface SignedRequest {
  method: string;
  /** Request target exactly as received: raw path (still percent-encoded, may contain "..") + "?" + raw query. */
  target: string;
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
  /** The bucket named by the Host header (virtual-host style), which SigV2 signs. */
  hostBucket?: string;
  /** SHA-256 of a body read whole (the Query API): outside S3, clients sign it without a header. */
  payloadHash?: string;
}

export interface AuthResult {
  /** "" for anonymous requests (no Authorization header, no X-Amz-Signature). */
  accessKey: string;
  /** Who the request acts as: the lookup's principal, or kind "anonymous" when unsigned. */
  principal: Principal;
  /** The request headers the handler may act on: those of the request, plus the x-amz-*
   *  parameters a presigned URL signed in its query string (which S3 applies as headers). */
  headers: Headers;
  /** The payload to store: aws-chunked decoded, chunk signatures chained and verified,
   *  x-amz-content-sha256 verified. Any mismatch or truncation makes the stream ERROR (with an
   *  AuthError) before it ends, so a put never commits bad data. */
  body: ReadableStream<Uint8Array> | null;
  /** Decoded payload length when known (x-amz-decoded-content-length, or content-length), else -1. */
  contentLength: number;
  /** Trailer headers of aws-chunked bodies; resolves after the body is fully read; empty otherwise. */
  trailers: Promise<Headers>;
}

export interface AuthOptions {
  lookup: CredentialLookup;
  /** The account id anonymous requests are attributed to ("" until the IAM store knows it). */
  accountId?: string;
  /** The one region requests may be signed for; undefined accepts any (none configured). */
  region: string | undefined;
  /** The service this endpoint is (default s3). */
  service?: Service;
  /** false refuses Signature Version 2 (AWS's rule for buckets created since June 2020). */
  sigv2?: boolean;
  now?: () => Date;
}

const ALGORITHM = "AWS4-HMAC-SHA256";
const SIGV4A = "AWS4-ECDSA-P256-SHA256";
const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 604800;
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;

/** The parts of a signature common to both places it can be carried. */
interface Signature extends CredentialScope {
  presigned: boolean;
  signedHeaders: string[];
  signature: string;
  date: Date;
  /** X-Amz-Expires of a presigned URL, in seconds. */
  expires: number;
}

function malformed(presigned: boolean, message: string): AuthError {
  return presigned ? new AuthError("AuthorizationQueryParametersError", message) : new AuthError(
    "AuthorizationHeaderMalformed",
    `The authorization header is malformed; ${message}`,
  );
}

function parseSignedHeaders(presigned: boolean, text: string): string[] {
  const names = text.split(";").map((name) => name.trim().toLowerCase());
  if (names.some((name) => name === "")) throw malformed(presigned, "SignedHeaders is malformed.");
  if (!names.includes("host")) throw malformed(presigned, "SignedHeaders must include host.");
  return names;
}

function fromHeader(authorization: string, headers: Headers): Signature {
  const space = authorization.indexOf(" ");
  const algorithm = space < 0 ? authorization : authorization.slice(0, space);
  if (algorithm === SIGV4A) {
    throw unsupportedSignature("Signature Version 4a (AWS4-ECDSA-P256-SHA256)");
  }
  if (algorithm !== ALGORITHM) {
    throw new AuthError("InvalidArgument", `Unsupported Authorization Type '${algorithm}'.`);
  }
  const fields = new Map<string, string>();
  for (const part of authorization.slice(space + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get("Credential");
  const signedHeaders = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformed(false, "Credential, SignedHeaders and Signature are required.");
  }
  const amzDate = headers.get("x-amz-date");
  const httpDate = headers.get("date");
  const date = amzDate !== null
    ? parseAmzDate(amzDate.trim())
    : httpDate !== null
    ? new Date(Date.parse(httpDate))
    : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) {
    throw new AuthError(
      "AccessDenied",
      "AWS authentication requires a valid Date or x-amz-date header",
    );
  }
  return {
    presigned: false,
    ...parseCredential(credential, (m) => malformed(false, m)),
    signedHeaders: parseSignedHeaders(false, signedHeaders),
    signature,
    date,
    expires: 0,
  };
}

function fromQuery(query: Map<string, string>): Signature {
  const algorithm = query.get("X-Amz-Algorithm");
  if (algorithm === SIGV4A) {
    throw unsupportedSignature("Signature Version 4a (AWS4-ECDSA-P256-SHA256)");
  }
  const credential = query.get("X-Amz-Credential");
  const amzDate = query.get("X-Amz-Date");
  const expiresText = query.get("X-Amz-Expires");
  const signedHeaders = query.get("X-Amz-SignedHeaders");
  const signature = query.get("X-Amz-Signature");
  if (
    algorithm === undefined || credential === undefined || amzDate === undefined ||
    expiresText === undefined || signedHeaders === undefined || signature === undefined
  ) {
    throw malformed(
      true,
      "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, " +
        "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
    );
  }
  if (algorithm !== ALGORITHM) {
    throw malformed(true, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  }
  const date = parseAmzDate(amzDate);
  if (date === undefined) {
    throw malformed(true, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  }
  if (!/^\d{1,10}$/.test(expiresText)) {
    throw malformed(true, "X-Amz-Expires should be a number");
  }
  const expires = Number(expiresText);
  if (expires < 1) throw malformed(true, "X-Amz-Expires must be non-negative");
  if (expires > MAX_PRESIGN_SECONDS) {
    throw malformed(true, "X-Amz-Expires must be less than a week (in seconds) that is 604800");
  }
  return {
    presigned: true,
    ...parseCredential(credential, (m) => malformed(true, m)),
    signedHeaders: parseSignedHeaders(true, signedHeaders),
    signature,
    date,
    expires,
  };
}

function checkTime(sig: Signature, now: Date): void {
  const skew = sig.date.getTime() - now.getTime();
  if (!sig.presigned) {
    if (Math.abs(skew) > MAX_SKEW_MS) {
      throw new AuthError(
        "RequestTimeTooSkewed",
        "The difference between the request time and the server's time is too large.",
      );
    }
    return;
  }
  if (skew > MAX_SKEW_MS) throw new AuthError("AccessDenied", "Request is not valid yet");
  if (now.getTime() > sig.date.getTime() + sig.expires * 1000) {
    throw new AuthError("AccessDenied", "Request has expired");
  }
}

/**
 * Checks the request's SigV4 signature (header or presigned query) and returns the body that
 * enforces the signed payload. Throws AuthError on any failure of the request head; failures of
 * the body surface as an error of the returned stream.
 */
export async function authenticate(req: SignedRequest, options: AuthOptions): Promise<AuthResult> {
  const questionMark = req.target.indexOf("?");
  const rawPath = questionMark < 0 ? req.target : req.target.slice(0, questionMark);
  const params = parseQuery(questionMark < 0 ? "" : req.target.slice(questionMark + 1));
  const query = new Map(params);
  const authorization = req.headers.get("authorization");
  if (isSigV2(query, authorization)) return await authenticateV2(req, rawPath, params, options);
  const presigned = query.has("X-Amz-Signature") || query.has("X-Amz-Credential") ||
    query.has("X-Amz-Algorithm");
  if (authorization !== null && presigned) {
    throw new AuthError(
      "InvalidArgument",
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
    );
  }
  const contentSha256 = req.headers.get("x-amz-content-sha256");
  if (authorization === null && !presigned) {
    const mode = payloadMode(contentSha256 ?? "UNSIGNED-PAYLOAD");
    return {
      accessKey: "",
      principal: anonymousPrincipal(options.accountId ?? ""),
      headers: req.headers,
      ...decodePayload(req.headers, req.body, mode),
    };
  }

  const sig = authorization !== null ? fromHeader(authorization, req.headers) : fromQuery(query);
  if (!SIGNATURE_PATTERN.test(sig.signature)) {
    throw malformed(sig.presigned, "the Signature must be 64 lowercase hex digits.");
  }
  // A presigned URL signs UNSIGNED-PAYLOAD unless it says otherwise; a header-signed request
  // without x-amz-content-sha256 is taken to have an empty body, as MinIO does.
  const payloadHash = sig.presigned
    ? query.get("X-Amz-Content-Sha256") ?? contentSha256 ?? "UNSIGNED-PAYLOAD"
    : contentSha256 ?? req.payloadHash ?? EMPTY_SHA256;
  const mode = payloadMode(payloadHash);
  checkScope(
    sig,
    sig.date,
    options.region,
    options.service ?? "s3",
    (m) => malformed(sig.presigned, m),
  );
  refuseUnsignedHeaders(req.headers, sig.signedHeaders, sig.presigned);
  // Temporary credentials: the token is a signed header, or a parameter of the signed query.
  const sessionToken = sig.presigned
    ? query.get("X-Amz-Security-Token")
    : req.headers.get("x-amz-security-token") ?? undefined;
  const credentials = await options.lookup(sig.accessKey, sessionToken);
  if (credentials === undefined) throw unknownAccessKey();
  checkTime(sig, options.now?.() ?? new Date());

  const amzDate = formatAmzDate(sig.date);
  const scope = `${sig.scopeDate}/${sig.region}/${sig.service}/aws4_request`;
  const canonicalRequest = [
    req.method,
    canonicalUri(rawPath),
    canonicalQuery(params, sig.presigned ? "X-Amz-Signature" : undefined),
    canonicalHeaders(sig.signedHeaders, req.headers),
    sig.signedHeaders.join(";"),
    payloadHash,
  ].join("\n");
  // Header values are byte strings: hashed as those bytes, which is what the client signed.
  const requestHash = sha256Hex(Buffer.from(canonicalRequest, "latin1"));
  const stringToSign = `${ALGORITHM}\n${amzDate}\n${scope}\n${requestHash}`;
  const key = signingKey(
    credentials.accessKey,
    credentials.secretKey,
    sig.scopeDate,
    sig.region,
    sig.service,
  );
  const expected = hmacHex(key, stringToSign);
  if (!signaturesEqual(expected, sig.signature)) throw signatureMismatch();
  const signing = { context: { key, amzDate, scope }, seed: expected };
  return {
    accessKey: credentials.accessKey,
    principal: credentials.principal,
    // A presigned URL's x-amz-* parameters are signed: S3 applies them as headers.
    headers: sig.presigned ? withQueryHeaders(req.headers, params) : req.headers,
    ...decodePayload(req.headers, req.body, mode, signing),
  };
}
