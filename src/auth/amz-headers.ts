/**
 * Which x-amz-* headers a request may act on. An x-amz-* header changes what a request does
 * (x-amz-copy-source turns a PUT into a copy, x-amz-meta-* is stored), so one that the signature
 * does not cover is refused, as S3 refuses it; and the x-amz-* parameters that a presigned URL
 * signed in its query string are applied as headers, as S3 applies them.
 */
import { utf8ByteString } from "../bytes.ts";
import { AuthError } from "./errors.ts";

/** Exactly this prefix: x-amzn-trace-id and the like are not S3's and are never signed. */
const AMZ_PREFIX = "x-amz-";

/** Query parameters that carry a presigned signature itself, never a header (lower case). */
const AUTH_PARAMETERS = new Set([
  "x-amz-algorithm",
  "x-amz-credential",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-signedheaders",
  "x-amz-signature",
  "x-amz-security-token",
  "x-amz-content-sha256",
]);

/**
 * Refuses x-amz-* request headers missing from `signed` (lower-case names). A presigned URL
 * cannot know the payload hash of the body sent to it, so x-amz-content-sha256 may come unsigned.
 */
export function refuseUnsignedHeaders(
  headers: Headers,
  signed: readonly string[],
  presigned: boolean,
): void {
  const unsigned: string[] = [];
  headers.forEach((_, name) => {
    if (!name.startsWith(AMZ_PREFIX) || signed.includes(name)) return;
    if (presigned && name === "x-amz-content-sha256") return;
    unsigned.push(name);
  });
  if (unsigned.length > 0) {
    throw new AuthError(
      "AccessDenied",
      "There were headers present in the request which were not signed",
      { HeadersNotSigned: unsigned.join(", ") },
    );
  }
}

/**
 * Checksum parameters are signed but not applied: the JS SDK v3 signs the CRC32 of an empty body
 * into every presigned PUT by default, AWS documents presigned URLs as not supporting those
 * algorithms, and MinIO ignores them; a checksum sent as a (signed) header is checked.
 */
function appliedFromQuery(name: string): boolean {
  return name.startsWith(AMZ_PREFIX) && !AUTH_PARAMETERS.has(name) &&
    !name.startsWith("x-amz-checksum-") && name !== "x-amz-sdk-checksum-algorithm";
}

/**
 * The request headers plus the x-amz-* parameters of a presigned query string (other than the
 * signature's own), decoded to header bytes. A name that is both a header and a parameter must have one value: the two
 * disagreeing leaves no way to tell which one the signer meant.
 */
export function withQueryHeaders(headers: Headers, params: [string, string][]): Headers {
  let merged: Headers | undefined;
  for (const [rawName, text] of params) {
    const name = rawName.toLowerCase();
    if (!appliedFromQuery(name)) continue;
    // Byte for byte what the same value sent as a header would be.
    const value = utf8ByteString(text);
    const present = (merged ?? headers).get(name);
    if (present !== null) {
      if (present === value) continue;
      throw new AuthError(
        "InvalidRequest",
        `${name} is given both as a header and as a query parameter, with different values.`,
      );
    }
    merged ??= new Headers(headers);
    try {
      merged.set(name, value);
    } catch {
      throw new AuthError("InvalidArgument", `The query parameter ${name} is not a valid header.`);
    }
  }
  return merged ?? headers;
}
