/**
 * Single-object operations: PutObject, GetObject, HeadObject, DeleteObject and CopyObject.
 * Bodies stream between the request, the checksum verifier and the object layer; nothing here
 * buffers object data.
 */

import type { ByteRange, ObjectInfo, ObjectMetadata } from "../object/layer.ts";
import { requestedObjectAcl, withObjectAcl } from "./acl.ts";
import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import {
  checkUnsupportedHeaders,
  copySourceConditions,
  evaluateConditions,
  metadataFromHeaders,
  objectHeaders,
  parseRange,
  storedChecksums,
} from "./headers.ts";
import { checkBucketName, checkKey, decodePath } from "./router.ts";
import { concatBytes } from "../bytes.ts";
import { wholeBodyResponse } from "../http/whole-body.ts";
import { xmlResponse } from "./xml.ts";

/** MinIO's limit for a single PUT; S3's own is 5 GiB. */
const MAX_OBJECT_SIZE = 5 * 1024 ** 4;
/** S3's limit on the source of a CopyObject (larger objects copy with UploadPartCopy). */
const MAX_COPY_SIZE = 5 * 1024 ** 3;

/** The response-* query parameters and the headers they override. */
const OVERRIDES: [string, string][] = [
  ["response-content-type", "content-type"],
  ["response-content-language", "content-language"],
  ["response-expires", "expires"],
  ["response-cache-control", "cache-control"],
  ["response-content-disposition", "content-disposition"],
  ["response-content-encoding", "content-encoding"],
];

export function emptyBody(): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (controller) => controller.close() });
}

/** Every object is version "null" until versioning lands; other ids name nothing. */
export function checkVersionId(versionId: string | null | undefined): void {
  if (versionId != null && versionId !== "null") {
    throw new S3Error("NoSuchVersion", "The specified version does not exist.");
  }
}

export async function putObject(ctx: S3Context): Promise<Response> {
  const headers = ctx.headers;
  const size = ctx.auth.contentLength;
  if (size < 0) {
    throw new S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.");
  }
  if (size > MAX_OBJECT_SIZE) {
    throw new S3Error(
      "EntityTooLarge",
      "Your proposed upload exceeds the maximum allowed object size.",
    );
  }
  // Conditional writes need an atomic check-and-put in the object layer; refuse rather than race.
  if (headers.has("if-match") || headers.has("if-none-match")) {
    throw new S3Error("NotImplemented", "Conditional writes (If-Match, If-None-Match) on PUT.");
  }
  const metadata = withObjectAcl(metadataFromHeaders(headers), await requestedObjectAcl(ctx));
  const verifier = checksumVerifier(requestChecksumSpec(headers, ctx.auth.trailers));
  const body = (ctx.auth.body ?? emptyBody()).pipeThrough(verifier.transform);
  const info = await ctx.layer.putObject(ctx.bucket, ctx.key, body, {
    size,
    metadata,
    finalMetadata: verifier.result,
  });
  return new Response(null, { headers: { etag: `"${info.etag}"`, ...verifier.result() } });
}

/** The byte range a GET ?partNumber=N selects, and how many parts the object has. */
function partRange(number: number, info: ObjectInfo): { range?: ByteRange; partsCount: number } {
  const parts = info.parts.length > 0 ? info.parts : [{ number: 1, size: info.size }];
  if (number > parts.length) {
    throw new S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable");
  }
  let start = 0;
  for (let i = 0; i < number - 1; i++) start += parts[i].size;
  const size = parts[number - 1].size;
  const range = size > 0 ? { start, end: start + size - 1 } : undefined;
  return { range, partsCount: info.parts.length };
}

interface Selection {
  range?: ByteRange;
  /** Set for ?partNumber requests of multipart objects (x-amz-mp-parts-count). */
  partsCount?: number;
}

function select(ctx: S3Context, info: ObjectInfo): Selection {
  const partNumber = ctx.route.partNumber;
  const rangeHeader = ctx.headers.get("range");
  if (partNumber === undefined) return { range: parseRange(rangeHeader, info.size) };
  if (rangeHeader !== null) {
    throw new S3Error(
      "InvalidRequest",
      "Cannot specify both Range header and partNumber query parameter",
    );
  }
  const { range, partsCount } = partRange(partNumber, info);
  return { range, partsCount: partsCount > 0 ? partsCount : undefined };
}

/** response-* overrides; S3 honours them only on signed (or presigned) requests. */
function overrides(ctx: S3Context): [string, string][] {
  const found = OVERRIDES.flatMap(([param, header]): [string, string][] => {
    const value = ctx.query.get(param);
    return value === null ? [] : [[header, value]];
  });
  if (found.length > 0 && ctx.auth.accessKey === "") {
    throw new S3Error(
      "InvalidRequest",
      "Request specific response headers cannot be used for anonymous GET requests.",
    );
  }
  return found;
}

function notModified(info: ObjectInfo): Response {
  return new Response(null, {
    status: 304,
    headers: { etag: `"${info.etag}"`, "last-modified": info.modTime.toUTCString() },
  });
}

/** Bytes a GET sends: the range's, or the whole object's. */
function bodyLength(range: Selection["range"], size: number): number {
  return range ? range.end - range.start + 1 : size;
}

function objectResponse(
  ctx: S3Context,
  info: ObjectInfo,
  selection: Selection,
  body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null,
): Response {
  const { range, partsCount } = selection;
  const checksums = ctx.headers.get("x-amz-checksum-mode")?.toUpperCase() === "ENABLED";
  const headers = objectHeaders(info, checksums && range === undefined);
  for (const [name, value] of overrides(ctx)) headers[name] = value;
  headers["content-length"] = String(bodyLength(range, info.size));
  if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${info.size}`;
  if (partsCount !== undefined) headers["x-amz-mp-parts-count"] = String(partsCount);
  const init = { status: range ? 206 : 200, headers };
  return body instanceof Uint8Array ? wholeBodyResponse(body, init) : new Response(body, init);
}

/** Bodies up to this size are read whole before the response goes out (see primed). */
const WHOLE_BODY_LIMIT = 64 * 1024;

/**
 * Reads the body's first chunk before the status line goes out, so a read that fails at once
 * (too few healthy shards) is answered with its S3 error, not a 200 that breaks off. A body of
 * at most WHOLE_BODY_LIMIT bytes is read to its end and returned as bytes: the object layer
 * hands it over in one piece per data shard, and one buffer is far cheaper to send than a
 * stream (reading to the end also releases the object's read lock at once).
 */
async function primed(
  body: ReadableStream<Uint8Array>,
  length: number,
): Promise<ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer>> {
  const reader = body.getReader();
  const first = await reader.read();
  if (first.done) return new Uint8Array(0);
  const chunks = [first.value];
  if (length <= WHOLE_BODY_LIMIT) {
    for (let next = await reader.read(); !next.done; next = await reader.read()) {
      chunks.push(next.value);
    }
    return concatBytes(chunks);
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = chunks.shift() ?? (await reader.read()).value;
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

export async function getObject(ctx: S3Context): Promise<Response> {
  checkVersionId(ctx.route.versionId);
  overrides(ctx);
  const headers = ctx.headers;
  if (!headers.has("range") && !ctx.query.has("partNumber")) {
    // The common case: one metadata read, conditions checked on what the read returned.
    const { info, body } = await ctx.layer.getObject(ctx.bucket, ctx.key);
    try {
      if (evaluateConditions(headers, info) === "not-modified") {
        await body.cancel();
        return notModified(info);
      }
    } catch (err) {
      await body.cancel();
      throw err;
    }
    return objectResponse(ctx, info, {}, await primed(body, info.size));
  }
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key);
  if (evaluateConditions(headers, info) === "not-modified") return notModified(info);
  const selection = select(ctx, info);
  const result = await ctx.layer.getObject(ctx.bucket, ctx.key, { range: selection.range });
  const length = bodyLength(selection.range, result.info.size);
  return objectResponse(ctx, result.info, selection, await primed(result.body, length));
}

export async function headObject(ctx: S3Context): Promise<Response> {
  checkVersionId(ctx.route.versionId);
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key);
  if (evaluateConditions(ctx.headers, info) === "not-modified") return notModified(info);
  return objectResponse(ctx, info, select(ctx, info), null);
}

export async function deleteObject(ctx: S3Context): Promise<Response> {
  checkVersionId(ctx.route.versionId);
  await ctx.layer.deleteObject(ctx.bucket, ctx.key);
  return new Response(null, { status: 204 });
}

/**
 * Tags cannot be set (x-amz-tagging and PUT ?tagging are refused), so every object's tag set is
 * truly empty; answering that lets clients that copy tags along (aws s3 cp) work.
 */
export async function getObjectTagging(ctx: S3Context): Promise<Response> {
  checkVersionId(ctx.route.versionId);
  await ctx.layer.getObjectInfo(ctx.bucket, ctx.key);
  return xmlResponse("Tagging", { TagSet: {} });
}

/**
 * x-amz-copy-source: "bucket/key" or "/bucket/key", URL-encoded, optionally with
 * "?versionId=" ("null" is the only version there is).
 */
export function parseCopySource(value: string): { bucket: string; key: string } {
  const invalid = () =>
    new S3Error(
      "InvalidArgument",
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      { ArgumentName: "x-amz-copy-source", ArgumentValue: value },
    );
  const questionMark = value.indexOf("?");
  if (questionMark >= 0) {
    checkVersionId(new URLSearchParams(value.slice(questionMark + 1)).get("versionId"));
  }
  const decoded = decodePath(questionMark < 0 ? value.trim() : value.slice(0, questionMark));
  if (decoded === undefined) throw invalid();
  const path = decoded.startsWith("/") ? decoded.slice(1) : decoded;
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) throw invalid();
  const source = { bucket: path.slice(0, slash), key: path.slice(slash + 1) };
  checkBucketName(source.bucket);
  checkKey(source.key);
  return source;
}

export async function copyObject(ctx: S3Context): Promise<Response> {
  const headers = ctx.headers;
  const source = parseCopySource(headers.get("x-amz-copy-source") ?? "");
  const directive = headers.get("x-amz-metadata-directive") ?? "COPY";
  if (directive !== "COPY" && directive !== "REPLACE") {
    throw new S3Error("InvalidArgument", "Unknown metadata directive.", {
      ArgumentName: "x-amz-metadata-directive",
      ArgumentValue: directive,
    });
  }
  const replace = directive === "REPLACE";
  if (!replace && source.bucket === ctx.bucket && source.key === ctx.key) {
    throw new S3Error(
      "InvalidRequest",
      "This copy request is illegal because it is trying to copy an object to itself without " +
        "changing the object's metadata, storage class, website redirect location or " +
        "encryption attributes.",
    );
  }
  const replaced = replace ? metadataFromHeaders(headers) : undefined;
  if (!replace) checkUnsupportedHeaders(headers);
  const acl = await requestedObjectAcl(ctx);
  const sourceInfo = await ctx.layer.getObjectInfo(source.bucket, source.key);
  copySourceConditions(headers, sourceInfo);
  if (sourceInfo.size > MAX_COPY_SIZE) {
    throw new S3Error(
      "InvalidRequest",
      `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_COPY_SIZE}`,
    );
  }
  // The bytes do not change, so their checksums stay true under new metadata; the source's
  // ACL stays behind, as on S3.
  const metadata = (source: ObjectMetadata) =>
    withObjectAcl({ ...(replaced ?? source), ...storedChecksums(source) }, acl);
  const info = await ctx.layer.copyObject(source.bucket, source.key, ctx.bucket, ctx.key, {
    metadata,
  });
  return xmlResponse("CopyObjectResult", {
    LastModified: info.modTime,
    ETag: `"${info.etag}"`,
  });
}
