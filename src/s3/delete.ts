/**
 * DeleteObjects (POST /bucket?delete): up to 1000 keys in one XML document, whose integrity S3
 * requires through Content-MD5 or an x-amz-checksum-* (current SDKs send the latter). Each key
 * succeeds or fails on its own; Quiet mode reports only the failures.
 */

import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error, toS3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import { emptyBody } from "./object.ts";
import { checkKey } from "./router.ts";
import { child, children, parseXml, xmlResponse, type XmlValue } from "./xml.ts";

const MAX_KEYS = 1000;
/** 1000 keys of 1024 bytes, every byte escaped as a 6-character entity, plus the markup. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

interface DeleteRequest {
  quiet: boolean;
  objects: { key: string; versionId?: string }[];
}

function parseDeleteRequest(text: string): DeleteRequest {
  if (text.trim() === "") throw new S3Error("MalformedXML");
  const root = parseXml(text);
  if (root.name !== "Delete") throw new S3Error("MalformedXML");
  const quietText = child(root, "Quiet")?.text.trim().toLowerCase() ?? "false";
  if (quietText !== "true" && quietText !== "false") throw new S3Error("MalformedXML");
  const entries = children(root, "Object");
  if (entries.length === 0 || entries.length > MAX_KEYS) throw new S3Error("MalformedXML");
  const objects = entries.map((entry) => {
    const key = child(entry, "Key");
    if (key === undefined) throw new S3Error("MalformedXML");
    return { key: key.text, versionId: child(entry, "VersionId")?.text.trim() };
  });
  return { quiet: quietText === "true", objects };
}

/** Why one key cannot even be attempted, if so. */
function keyError(key: string, versionId: string | undefined): S3Error | undefined {
  if (key === "") return new S3Error("InvalidArgument", "The key must not be empty.");
  if (versionId !== undefined && versionId !== "null") {
    return new S3Error("NoSuchVersion", "The specified version does not exist.");
  }
  try {
    checkKey(key);
  } catch (err) {
    return toS3Error(err);
  }
  return undefined;
}

export async function deleteObjects(ctx: S3Context): Promise<Response> {
  const headers = ctx.headers;
  const spec = requestChecksumSpec(headers, ctx.auth.trailers);
  if (spec.contentMd5 === undefined && spec.expected === undefined) {
    throw new S3Error(
      "InvalidRequest",
      "Missing required header for this request: Content-MD5 or x-amz-checksum-*",
    );
  }
  const verifier = checksumVerifier(spec);
  const body = (ctx.auth.body ?? emptyBody()).pipeThrough(verifier.transform);
  const request = parseDeleteRequest(await readRequestText(body, MAX_BODY_BYTES));

  const errors = new Map<number, S3Error>();
  request.objects.forEach(({ key, versionId }, i) => {
    const error = keyError(key, versionId);
    if (error) errors.set(i, error);
  });
  const attempted = request.objects.flatMap((o, i) => errors.has(i) ? [] : [o.key]);
  const results = await ctx.layer.deleteObjects(ctx.bucket, attempted);
  let next = 0;
  const deleted: XmlValue[] = [];
  const failed: XmlValue[] = [];
  request.objects.forEach(({ key, versionId }, i) => {
    let error = errors.get(i);
    if (error === undefined) {
      const result = results[next++];
      if (result?.error) {
        error = toS3Error(result.error);
        if (error.code === "InternalError") {
          console.error(`flashstor: ${ctx.requestId} delete ${ctx.bucket}/${key}:`, result.error);
        }
      }
    }
    if (error) {
      failed.push({ Key: key, VersionId: versionId, Code: error.code, Message: error.message });
    } else if (!request.quiet) deleted.push({ Key: key, VersionId: versionId });
  });
  return xmlResponse("DeleteResult", { Deleted: deleted, Error: failed });
}
