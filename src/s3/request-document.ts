/**
 * The small XML documents of object configuration requests (tagging, retention, legal hold),
 * read whole and checked against the Content-MD5 / x-amz-checksum-* sent with them; AWS
 * requires one on some of them (its httpChecksumRequired operations).
 */

import { checksumVerifier, parseChecksumHeaders, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { checksummedBody } from "./bucket-settings.ts";
import { readRequestText } from "./multipart.ts";
import { parseXml, type XmlElement } from "./xml.ts";

/** Whether the request carries a digest of its body (Content-MD5 or a flexible checksum). */
export function hasBodyDigest(headers: Headers): boolean {
  const sent = parseChecksumHeaders(headers);
  return sent.contentMd5 !== undefined || sent.algorithm !== undefined;
}

/** The request's XML document; an empty body is MalformedXML, as AWS answers it. */
export async function readDocument(
  ctx: S3Context,
  limits: { bytes: number; elements: number; digestRequired: boolean },
): Promise<XmlElement> {
  const body = limits.digestRequired ? checksummedBody(ctx) : ctx.auth.body?.pipeThrough(
    checksumVerifier(requestChecksumSpec(ctx.headers, ctx.auth.trailers)).transform,
  ) ?? null;
  const text = await readRequestText(body, limits.bytes);
  if (text.trim() === "") throw new S3Error("MalformedXML");
  return parseXml(text, limits.elements);
}
