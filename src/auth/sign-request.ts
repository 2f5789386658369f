/**
 * The client side of SigV4 header signing (UNSIGNED-PAYLOAD, as the AWS CLI signs over HTTPS),
 * built on the server's own canonical-request functions: the admin CLI and the benchmark's
 * client sign with it.
 */
import { canonicalHeaders, canonicalQuery, canonicalUri, parseQuery } from "./canonical.ts";
import { hmacHex, sha256Hex, signingKey } from "./signing.ts";

export interface SigningTarget {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
}

const SIGNED = ["host", "x-amz-content-sha256", "x-amz-date"];

/** Headers that authenticate `method path?query` (raw path and query) to the target. */
export function signRequest(
  target: SigningTarget,
  method: string,
  path: string,
  query = "",
): Headers {
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const date = amzDate.slice(0, 8);
  const headers = new Headers({
    host: new URL(target.endpoint).host,
    "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
    "x-amz-date": amzDate,
  });
  const canonical = [
    method,
    canonicalUri(path),
    canonicalQuery(parseQuery(query)),
    canonicalHeaders(SIGNED, headers),
    SIGNED.join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const scope = `${date}/${target.region}/s3/aws4_request`;
  const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`;
  const key = signingKey(target.accessKey, target.secretKey, date, target.region, "s3");
  headers.set(
    "authorization",
    `AWS4-HMAC-SHA256 Credential=${target.accessKey}/${scope}, SignedHeaders=${
      SIGNED.join(";")
    }, Signature=${hmacHex(key, stringToSign)}`,
  );
  headers.delete("host");
  return headers;
}
