/**
 * The small XML documents of configuration requests (tagging, object lock), read whole and
 * checked against the Content-MD5 / x-amz-checksum-* sent with them; AWS requires one on
 * some of them (its httpChecksumRequired operations).
 */

import { checksumVerifier, parseChecksumHeaders, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import { emptyBody } from "./object.ts";
import { parseXml, type XmlElement } from "./xml.ts";

/** Whether the request carries a digest of its body (Content-MD5 or a flexible checksum). */
export function hasBodyDigest(headers: Headers): boolean {
  const sent = parseChecksumHeaders(headers);
  return sent.contentMd5 !== undefined || sent.algorithm !== undefined;
}

export function missingDigest(): S3Error {
  return new S3Error(
    "InvalidRequest",
    "Missing required header for this request: Content-MD5 (or an x-amz-checksum-* header).",
  );
}

/** The request's XML document; an empty body is MalformedXML, as AWS answers it. */
export async function readDocument(
  ctx: S3Context,
  limits: { bytes: number; elements: number; digestRequired: boolean },
): Promise<XmlElement> {
  if (limits.digestRequired && !hasBodyDigest(ctx.headers)) throw missingDigest();
  const verifier = checksumVerifier(requestChecksumSpec(ctx.headers, ctx.auth.trailers));
  const body = (ctx.auth.body ?? emptyBody()).pipeThrough(verifier.transform);
  const text = await readRequestText(body, limits.bytes);
  if (text.trim() === "") throw new S3Error("MalformedXML");
  return parseXml(text, limits.elements);
}
