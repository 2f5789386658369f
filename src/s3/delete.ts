/**
 * DeleteObjects (POST /bucket?delete): up to 1000 keys in one XML document, whose integrity S3
 * requires through Content-MD5 or an x-amz-checksum-* (current SDKs send the latter). Each key
 * succeeds or fails on its own; Quiet mode reports only the failures.
 */

import type { DeletedObject, DeleteResult } from "../object/layer.ts";
import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error, toS3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import { emptyBody } from "./object.ts";
import { governanceBypass } from "./object-lock.ts";
import { accessDenied } from "./access.ts";
import { checkKey } from "./router.ts";
import { child, children, parseXmlYielding, xmlResponse, type XmlValue } from "./xml.ts";

const MAX_KEYS = 1000;
/** Elements an Object may hold (Object, Key, VersionId, ETag, LastModifiedTime, Size). */
const ELEMENTS_PER_OBJECT = 6;
const MAX_ELEMENTS = 2 + MAX_KEYS * ELEMENTS_PER_OBJECT;
/**
 * The largest legal body: per Object a key and a version id of 1024 bytes with every byte
 * escaped (at most 6 characters a byte: "&quot;", "&#127;"; a character reference of a
 * multi-byte character is shorter per byte), an ETag escaped the same way (34 × 6), a
 * timestamp and a size, 114 bytes of tags and 32 of whitespace per element; 1 KiB for the
 * declaration, the root and Quiet. Anything larger is refused before it is read.
 */
const MAX_BODY_BYTES = 1024 + MAX_KEYS * (2 * 1024 * 6 + 34 * 6 + 30 + 20 + 114 + 32 * 6);

interface DeleteRequest {
  quiet: boolean;
  objects: { key: string; versionId?: string }[];
}

async function parseDeleteRequest(text: string): Promise<DeleteRequest> {
  if (text.trim() === "") throw new S3Error("MalformedXML");
  const root = await parseXmlYielding(text, MAX_ELEMENTS);
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

/** Why one key cannot even be attempted, if so (a malformed version id is the layer's to say). */
function keyError(key: string, versionId: string | undefined): S3Error | undefined {
  if (key === "") return new S3Error("InvalidArgument", "The key must not be empty.");
  if (versionId === "") {
    return new S3Error("InvalidArgument", "Version id cannot be the empty string");
  }
  try {
    checkKey(key);
  } catch (err) {
    return toS3Error(err);
  }
  return undefined;
}

/** AccessDenied when the caller may not delete this key (DeleteObjects is authorized per key). */
async function refusal(
  ctx: S3Context,
  key: string,
  versionId: string | undefined,
): Promise<S3Error | undefined> {
  const action = versionId === undefined ? "s3:DeleteObject" : "s3:DeleteObjectVersion";
  return await ctx.access.allowed(action, ctx.bucket, key) ? undefined : accessDenied();
}

/**
 * One Deleted element, as AWS: the version asked for, and whether a delete marker was removed
 * (asked by its id) or created (asked without one: DeleteMarkerVersionId names it).
 */
function deletedEntry(
  key: string,
  versionId: string | undefined,
  deleted: DeletedObject | undefined,
): XmlValue {
  const marker = deleted?.deleteMarker === true;
  return {
    Key: key,
    VersionId: versionId,
    DeleteMarker: marker ? true : undefined,
    DeleteMarkerVersionId: marker ? deleted?.versionId : undefined,
  };
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
  if (ctx.auth.contentLength > MAX_BODY_BYTES) {
    throw new S3Error("MalformedXML", `The request body is larger than ${MAX_BODY_BYTES} bytes.`);
  }
  const verifier = checksumVerifier(spec);
  const body = (ctx.auth.body ?? emptyBody()).pipeThrough(verifier.transform);
  const request = await parseDeleteRequest(await readRequestText(body, MAX_BODY_BYTES));

  const errors = new Map<number, S3Error>();
  for (const [i, { key, versionId }] of request.objects.entries()) {
    const error = keyError(key, versionId) ?? await refusal(ctx, key, versionId);
    if (error) errors.set(i, error);
  }
  const attempted = request.objects.flatMap((o, i) =>
    errors.has(i) ? [] : [{ name: o.key, versionId: o.versionId }]
  );
  // The header is the batch's; the permission to bypass is asked on each of its objects.
  const results = await ctx.layer.deleteObjects(ctx.bucket, attempted, {
    bypassGovernance: await governanceBypass(ctx, attempted.map((o) => o.name)),
  });
  let next = 0;
  const deleted: XmlValue[] = [];
  const failed: XmlValue[] = [];
  request.objects.forEach(({ key, versionId }, i) => {
    let error = errors.get(i);
    let result: DeleteResult | undefined;
    if (error === undefined) {
      result = results[next++];
      if (result?.error) {
        error = toS3Error(result.error);
        if (error.code === "InternalError") {
          console.error(`flashstor: ${ctx.requestId} delete ${ctx.bucket}/${key}:`, result.error);
        }
      }
    }
    if (error) {
      failed.push({ Key: key, VersionId: versionId, Code: error.code, Message: error.message });
    } else if (!request.quiet) deleted.push(deletedEntry(key, versionId, result?.deleted));
  });
  return xmlResponse("DeleteResult", { Deleted: deleted, Error: failed });
}
