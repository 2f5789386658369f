/**
 * Single-object operations: PutObject, GetObject, HeadObject, DeleteObject and CopyObject.
 * Bodies stream between the request, the checksum verifier and the object layer; nothing here
 * buffers object data.
 */

import type { ByteRange, ObjectInfo, ObjectMetadata, WritePreconditions } from "../object/layer.ts";
import { requestedObjectAcl, withObjectAcl } from "./acl.ts";
import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { copySourceError, S3Error } from "./errors.ts";
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
import { hideUnreadableSettings, requestedObjectSettings } from "./object-settings.ts";
import { requestedVersionId, versionHeader } from "./versioning.ts";
import { governanceBypass } from "./object-lock.ts";
import { expirationHeader } from "./lifecycle.ts";
import { withoutSealed } from "../crypto/sealed-metadata.ts";
import { encryptionHeaders, requestedEncryption } from "./sse-request.ts";
import {
  decrypted,
  decryptionPlan,
  headEncryption,
  newObjectKey,
  type ObjectKey,
  openCopySourceKey,
  openObjectKey,
  readPlaintext,
  storedBody,
  withSealedKey,
} from "./sse.ts";

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

/**
 * The conditions of a conditional write (PutObject, CompleteMultipartUpload, CopyObject):
 * If-None-Match takes only "*" (AWS answers anything else NotImplemented); If-Match an ETag.
 */
export function writePreconditions(headers: Headers): WritePreconditions | undefined {
  const ifNoneMatch = headers.get("if-none-match")?.trim();
  const ifMatch = headers.get("if-match")?.trim();
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  if (ifNoneMatch !== undefined && ifNoneMatch !== "*") {
    throw new S3Error(
      "NotImplemented",
      "A header you provided implies functionality that is not implemented (If-None-Match other than *).",
    );
  }
  if (ifMatch === "") {
    throw new S3Error("InvalidArgument", "If-Match must name an ETag.", {
      ArgumentName: "If-Match",
      ArgumentValue: "",
    });
  }
  return { ifNoneMatch, ifMatch };
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
  const preconditions = writePreconditions(headers);
  const settings = await requestedObjectSettings(ctx, "put");
  const metadata = withObjectAcl(
    settings(metadataFromHeaders(headers)),
    await requestedObjectAcl(ctx),
  );
  const objectKey = await newObjectKey(ctx, ctx.bucket, ctx.key);
  const verifier = checksumVerifier(requestChecksumSpec(headers, ctx.auth.trailers));
  const plain = (ctx.auth.body ?? emptyBody()).pipeThrough(verifier.transform);
  const { body, ...stored } = storedBody(plain, size, objectKey);
  const info = await ctx.layer.putObject(ctx.bucket, ctx.key, body, {
    ...stored,
    metadata: withSealedKey(metadata, objectKey),
    finalMetadata: verifier.result,
    preconditions,
  });
  return new Response(null, {
    headers: {
      etag: `"${info.etag}"`,
      ...verifier.result(),
      ...encryptionHeaders(objectKey?.sealed, objectKey?.customer),
      ...await versionHeader(ctx, info.versionId),
      ...await expirationHeader(ctx, info),
    },
  });
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

async function objectResponse(
  ctx: S3Context,
  info: ObjectInfo,
  selection: Selection,
  body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null,
  encryption: Record<string, string>,
): Promise<Response> {
  const { range, partsCount } = selection;
  const checksums = ctx.headers.get("x-amz-checksum-mode")?.toUpperCase() === "ENABLED";
  const headers = objectHeaders(info, checksums && range === undefined);
  Object.assign(headers, encryption);
  await hideUnreadableSettings(ctx, headers);
  Object.assign(headers, await versionHeader(ctx, info.versionId));
  Object.assign(headers, await expirationHeader(ctx, info));
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
  const versionId = requestedVersionId(ctx);
  overrides(ctx);
  const headers = ctx.headers;
  if (!headers.has("range") && !ctx.query.has("partNumber")) {
    // The common case: one metadata read, conditions checked on what the read returned.
    const { info, body } = await ctx.layer.getObject(ctx.bucket, ctx.key, { versionId });
    let objectKey: ObjectKey | undefined;
    try {
      if (evaluateConditions(headers, info) === "not-modified") {
        await body.cancel();
        return notModified(info);
      }
      objectKey = await openObjectKey(ctx, ctx.bucket, ctx.key, info.metadata);
    } catch (err) {
      await body.cancel();
      throw err;
    }
    const plain = objectKey ? decrypted(body, decryptionPlan(info), objectKey) : body;
    const encryption = encryptionHeaders(objectKey?.sealed, objectKey?.customer);
    return await objectResponse(ctx, info, {}, await primed(plain, info.size), encryption);
  }
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  if (evaluateConditions(headers, info) === "not-modified") return notModified(info);
  const selection = select(ctx, info);
  const objectKey = await openObjectKey(ctx, ctx.bucket, ctx.key, info.metadata);
  // The version read first: a newer one written meanwhile must not lend its bytes to the range.
  const body = await readPlaintext(ctx, ctx.bucket, ctx.key, info, objectKey, selection.range);
  const length = bodyLength(selection.range, info.size);
  const encryption = encryptionHeaders(objectKey?.sealed, objectKey?.customer);
  return await objectResponse(ctx, info, selection, await primed(body, length), encryption);
}

export async function headObject(ctx: S3Context): Promise<Response> {
  const versionId = requestedVersionId(ctx);
  const info = await ctx.layer.getObjectInfo(ctx.bucket, ctx.key, { versionId });
  if (evaluateConditions(ctx.headers, info) === "not-modified") return notModified(info);
  const encryption = await headEncryption(ctx, info);
  return await objectResponse(ctx, info, select(ctx, info), null, encryption);
}

export async function deleteObject(ctx: S3Context): Promise<Response> {
  const deleted = await ctx.layer.deleteObject(ctx.bucket, ctx.key, {
    versionId: requestedVersionId(ctx),
    bypassGovernance: await governanceBypass(ctx),
  });
  const headers = await versionHeader(ctx, deleted.versionId);
  if (deleted.deleteMarker) headers["x-amz-delete-marker"] = "true";
  return new Response(null, { status: 204, headers });
}

/** What x-amz-copy-source names: an object, and maybe one of its versions. */
export interface CopySource {
  bucket: string;
  key: string;
  /** Absent: the source's current version. */
  versionId?: string;
}

/** x-amz-copy-source: "bucket/key" or "/bucket/key", URL-encoded, optionally "?versionId=". */
export function parseCopySource(value: string): CopySource {
  const invalid = () =>
    new S3Error(
      "InvalidArgument",
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      { ArgumentName: "x-amz-copy-source", ArgumentValue: value },
    );
  const questionMark = value.indexOf("?");
  const versionId = questionMark < 0
    ? undefined
    : new URLSearchParams(value.slice(questionMark + 1)).get("versionId") ?? undefined;
  if (versionId === "") {
    throw new S3Error("InvalidArgument", "Version id cannot be the empty string", {
      ArgumentName: "x-amz-copy-source",
      ArgumentValue: value,
    });
  }
  const decoded = decodePath(questionMark < 0 ? value.trim() : value.slice(0, questionMark));
  if (decoded === undefined) throw invalid();
  const path = decoded.startsWith("/") ? decoded.slice(1) : decoded;
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) throw invalid();
  const source = { bucket: path.slice(0, slash), key: path.slice(slash + 1), versionId };
  checkBucketName(source.bucket);
  checkKey(source.key);
  return source;
}

/**
 * The source version a copy reads, checked against the x-amz-copy-source-if-* conditions; a
 * delete marker is no source (errors.ts: copySourceError).
 */
export async function copySourceInfo(ctx: S3Context, source: CopySource): Promise<ObjectInfo> {
  const info = await ctx.layer.getObjectInfo(source.bucket, source.key, {
    versionId: source.versionId,
  }).catch((err) => {
    throw copySourceError(err);
  });
  copySourceConditions(ctx.headers, info);
  return info;
}

/** x-amz-copy-source-version-id: the version copied, when its bucket has versions. */
export async function copySourceVersionHeader(
  ctx: S3Context,
  source: CopySource,
  info: ObjectInfo,
): Promise<Record<string, string>> {
  const header = await versionHeader(ctx, info.versionId, source.bucket);
  const versionId = header["x-amz-version-id"];
  return versionId === undefined ? {} : { "x-amz-copy-source-version-id": versionId };
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
  const encryption = requestedEncryption(ctx, headers);
  // Copying a named version onto its key restores it: that changes the object.
  const self = source.bucket === ctx.bucket && source.key === ctx.key;
  if (!replace && self && source.versionId === undefined && !encryption) {
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
  const settings = await requestedObjectSettings(ctx, "copy");
  const preconditions = writePreconditions(headers);
  const sourceInfo = await copySourceInfo(ctx, source);
  if (sourceInfo.size > MAX_COPY_SIZE) {
    throw new S3Error(
      "InvalidRequest",
      `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_COPY_SIZE}`,
    );
  }
  const sourceKey = await openCopySourceKey(ctx, source, sourceInfo);
  const targetKey = await newObjectKey(ctx, ctx.bucket, ctx.key, encryption);
  // The plaintext does not change, so its checksums stay true under new metadata; the
  // source's ACL and sealed keys stay behind, as on S3.
  const metadata = (stored: ObjectMetadata) => {
    const source = withoutSealed(stored);
    return withObjectAcl(
      settings({ ...(replaced ?? source), ...storedChecksums(source) }, source),
      acl,
    );
  };
  // The version checked above, not one written since.
  let info: ObjectInfo;
  if (!sourceKey && !targetKey) {
    info = await ctx.layer.copyObject(source.bucket, source.key, ctx.bucket, ctx.key, {
      srcVersionId: sourceInfo.versionId,
      preconditions,
      metadata,
    });
  } else {
    // Encrypted bytes are decrypted and encrypted again, under the target's own key.
    const plain = await readPlaintext(ctx, source.bucket, source.key, sourceInfo, sourceKey);
    const { body, ...stored } = storedBody(plain, sourceInfo.size, targetKey);
    info = await ctx.layer.putObject(ctx.bucket, ctx.key, body, {
      ...stored,
      metadata: withSealedKey(metadata(sourceInfo.metadata), targetKey),
      preconditions,
    });
  }
  return xmlResponse("CopyObjectResult", {
    LastModified: info.modTime,
    ETag: `"${info.etag}"`,
  }, {
    headers: {
      ...encryptionHeaders(targetKey?.sealed, targetKey?.customer),
      ...await copySourceVersionHeader(ctx, source, sourceInfo),
      ...await versionHeader(ctx, info.versionId),
      ...await expirationHeader(ctx, info),
    },
  });
}
