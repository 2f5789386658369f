/**
 * Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort and ListParts. Part
 * bytes stream straight into the object layer through the checksum verifier; the part checks
 * of Complete (order, ETags, minimum size) are the object layer's, surfacing as its typed errors.
 * An upload created with x-amz-checksum-algorithm gets that checksum on every part and, on
 * Complete, S3's composite checksum (the checksum of the part checksums, "-N").
 */

import { concatBytes } from "../bytes.ts";
import type { MultipartUploadInfo, ObjectMetadata, PartInfo } from "../object/layer.ts";
import {
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
  checksumHasher,
  checksumHeader,
  checksumVerifier,
  requestChecksumSpec,
} from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { metadataFromHeaders, storedChecksums } from "./headers.ts";
import { accountOwner, requestedObjectAcl, withObjectAcl } from "./acl.ts";
import { parseLimit } from "./list.ts";
import {
  copySourceInfo,
  copySourceVersionHeader,
  emptyBody,
  parseCopySource,
  writePreconditions,
} from "./object.ts";
import { versionHeader } from "./versioning.ts";
import { expirationHeader } from "./lifecycle.ts";
import { children, parseXmlYielding, type XmlElement, xmlResponse, type XmlValue } from "./xml.ts";
import { checkLockedBodyDigest, requestedObjectSettings } from "./object-settings.ts";
import { readSealed } from "../crypto/sealed-metadata.ts";
import { encryptionHeaders } from "./sse-request.ts";
import {
  newObjectKey,
  openCopySourceKey,
  openObjectKey,
  readPlaintext,
  storedBody,
  withSealedKey,
} from "./sse.ts";

/** S3's limit on one part. */
const MAX_PART_SIZE = 5 * 1024 ** 3;
/**
 * The largest legal body: 10,000 parts, each with its tags, a 5-digit number, a quoted ETag, every
 * checksum element and room for whitespace (about 6.9 MB).
 */
const MAX_COMPLETE_XML_BYTES = 1024 + 10_000 * (13 + 30 + 13 + 34 * 6 + 39 + 44 * 6 + 4 * 32);
const ALGORITHM_KEY = "x-amz-checksum-algorithm";

/** Reads a small request body (an XML document) in full; larger than `limit` is MalformedXML. */
export async function readRequestText(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<string> {
  if (body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) {
      throw new S3Error("MalformedXML", `The request body is larger than ${limit} bytes.`);
    }
    chunks.push(chunk);
  }
  return new TextDecoder().decode(concatBytes(chunks));
}

const invalidArgument = (name: string, value: string, message: string) =>
  new S3Error("InvalidArgument", message, { ArgumentName: name, ArgumentValue: value });

function uploadIdOf(ctx: S3Context): string {
  const uploadId = ctx.route.uploadId;
  if (!uploadId) throw new S3Error("NoSuchUpload");
  return uploadId;
}

/** The route's part number: the rules of UploadPart and UploadPartCopy require one. */
function partNumberOf(ctx: S3Context): number {
  const number = ctx.route.partNumber;
  if (number === undefined) throw new S3Error("InternalError", "route without a part number");
  return number;
}

function parseAlgorithm(value: string | undefined): ChecksumAlgorithm | undefined {
  const upper = value?.trim().toUpperCase();
  return CHECKSUM_ALGORITHMS.find((a) => a === upper);
}

const uploadAlgorithm = (upload: MultipartUploadInfo) =>
  parseAlgorithm(upload.metadata[ALGORITHM_KEY]);

export async function createMultipartUpload(ctx: S3Context): Promise<Response> {
  const headers = ctx.headers;
  // The ACL is kept with the upload and becomes the object's at Complete.
  const settings = await requestedObjectSettings(ctx, "multipart");
  const metadata = withObjectAcl(
    settings(metadataFromHeaders(headers)),
    await requestedObjectAcl(ctx),
  );
  const requested = headers.get(ALGORITHM_KEY);
  const algorithm = parseAlgorithm(requested ?? undefined);
  if (requested !== null && algorithm === undefined) {
    throw new S3Error("InvalidRequest", `Checksum algorithm ${requested} is not supported.`);
  }
  if (algorithm) metadata[ALGORITHM_KEY] = algorithm;
  // Every part is encrypted with a key derived from this one object key.
  const objectKey = await newObjectKey(ctx, ctx.bucket, ctx.key);
  const uploadId = await ctx.layer.newMultipartUpload(
    ctx.bucket,
    ctx.key,
    withSealedKey(metadata, objectKey),
  );
  return xmlResponse("InitiateMultipartUploadResult", {
    Bucket: ctx.bucket,
    Key: ctx.key,
    UploadId: uploadId,
  }, {
    headers: {
      ...(algorithm ? { [ALGORITHM_KEY]: algorithm } : {}),
      ...encryptionHeaders(objectKey?.sealed, objectKey?.customer),
    },
  });
}

export async function uploadPart(ctx: S3Context): Promise<Response> {
  const partNumber = partNumberOf(ctx);
  const uploadId = uploadIdOf(ctx);
  const size = ctx.auth.contentLength;
  if (size < 0) {
    throw new S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.");
  }
  if (size > MAX_PART_SIZE) {
    throw new S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.");
  }
  const upload = await ctx.layer.getMultipartUpload(ctx.bucket, ctx.key, uploadId);
  checkLockedBodyDigest(upload.metadata, ctx.headers);
  const spec = requestChecksumSpec(ctx.headers, ctx.auth.trailers);
  const required = uploadAlgorithm(upload);
  if (required && spec.algorithm && spec.algorithm !== required) {
    throw new S3Error(
      "InvalidRequest",
      `Checksum Type mismatch occurred, expected checksum Type: ${required.toLowerCase()}, actual checksum Type: ${spec.algorithm.toLowerCase()}`,
    );
  }
  const objectKey = await openObjectKey(ctx, ctx.bucket, ctx.key, upload.metadata);
  const verifier = checksumVerifier({ ...spec, algorithm: spec.algorithm ?? required });
  const plain = (ctx.auth.body ?? emptyBody()).pipeThrough(verifier.transform);
  const { body, ...stored } = storedBody(plain, size, objectKey, partNumber);
  const part = await ctx.layer.putObjectPart(
    ctx.bucket,
    ctx.key,
    uploadId,
    partNumber,
    body,
    { ...stored, metadata: {}, finalMetadata: verifier.result },
  );
  return new Response(null, {
    headers: {
      etag: `"${part.etag}"`,
      ...storedChecksums(part.metadata),
      ...encryptionHeaders(objectKey?.sealed, objectKey?.customer),
    },
  });
}

/** `bytes=first-last` of x-amz-copy-source-range, checked against the source size. */
function parseCopyRange(value: string, size: number): { start: number; end: number } {
  const match = /^bytes=(\d+)-(\d+)$/.exec(value.trim());
  if (!match) {
    throw invalidArgument(
      "x-amz-copy-source-range",
      value,
      "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
    );
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (start > end || end >= size) {
    throw new S3Error(
      "InvalidRange",
      `Range specified is not valid for source object of size: ${size}`,
      { RangeRequested: value, ActualObjectSize: String(size) },
    );
  }
  return { start, end };
}

export async function uploadPartCopy(ctx: S3Context): Promise<Response> {
  const partNumber = partNumberOf(ctx);
  const uploadId = uploadIdOf(ctx);
  const headers = ctx.headers;
  const upload = await ctx.layer.getMultipartUpload(ctx.bucket, ctx.key, uploadId);
  const source = parseCopySource(headers.get("x-amz-copy-source") ?? "");
  const sourceInfo = await copySourceInfo(ctx, source);
  const rangeHeader = headers.get("x-amz-copy-source-range");
  const range = rangeHeader === null ? undefined : parseCopyRange(rangeHeader, sourceInfo.size);
  const size = range ? range.end - range.start + 1 : sourceInfo.size;
  if (size > MAX_PART_SIZE) {
    throw new S3Error(
      "InvalidRequest",
      `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_PART_SIZE}`,
    );
  }
  const sourceKey = await openCopySourceKey(ctx, source, sourceInfo);
  const targetKey = await openObjectKey(ctx, ctx.bucket, ctx.key, upload.metadata);
  // The version checked; its id pins it (a versioned source), the ETag check catches a null
  // version replaced between the checks and the read.
  const plain = await readPlaintext(ctx, source.bucket, source.key, sourceInfo, sourceKey, range);
  const verifier = checksumVerifier({ algorithm: uploadAlgorithm(upload) });
  const { body, ...stored } = storedBody(
    plain.pipeThrough(verifier.transform),
    size,
    targetKey,
    partNumber,
  );
  const part = await ctx.layer.putObjectPart(
    ctx.bucket,
    ctx.key,
    uploadId,
    partNumber,
    body,
    { ...stored, metadata: {}, finalMetadata: verifier.result },
  );
  return xmlResponse("CopyPartResult", {
    ETag: `"${part.etag}"`,
    LastModified: part.modTime,
    ...checksumElements(part.metadata),
  }, {
    headers: {
      ...await copySourceVersionHeader(ctx, source, sourceInfo),
      ...encryptionHeaders(targetKey?.sealed, targetKey?.customer),
    },
  });
}

/** ChecksumCRC32 etc. elements from stored x-amz-checksum-* metadata. */
function checksumElements(metadata: ObjectMetadata): Record<string, XmlValue> {
  const elements: Record<string, XmlValue> = {};
  for (const [name, value] of Object.entries(storedChecksums(metadata))) {
    elements[`Checksum${name.slice("x-amz-checksum-".length).toUpperCase()}`] = value;
  }
  return elements;
}

interface RequestedPart {
  number: number;
  etag: string;
  /** Checksum<ALGORITHM> elements the client sent, by algorithm. */
  checksums: Map<ChecksumAlgorithm, string>;
}

const text = (element: XmlElement, name: string) =>
  element.children.find((c) => c.name === name)?.text.trim();

async function parseCompleteParts(body: string): Promise<RequestedPart[]> {
  if (body.trim() === "") throw new S3Error("MalformedXML");
  const root = await parseXmlYielding(body);
  if (root.name !== "CompleteMultipartUpload") throw new S3Error("MalformedXML");
  const parts = children(root, "Part").map((part) => {
    const number = text(part, "PartNumber") ?? "";
    const etag = text(part, "ETag");
    if (!/^\d{1,5}$/.test(number) || etag === undefined) throw new S3Error("MalformedXML");
    const checksums = new Map<ChecksumAlgorithm, string>();
    for (const algorithm of CHECKSUM_ALGORITHMS) {
      const value = text(part, `Checksum${algorithm}`);
      if (value !== undefined) checksums.set(algorithm, value);
    }
    return { number: Number(number), etag, checksums };
  });
  if (parts.length === 0) throw new S3Error("MalformedXML");
  return parts;
}

/**
 * Checks the part checksums a client sent against those stored, and computes S3's composite
 * checksum of the upload's algorithm: the checksum of the concatenated binary part checksums,
 * suffixed "-<parts>". Without an upload algorithm only sent checksums are checked. `stored`
 * are the listed parts as the object layer holds them, in the order of `requested`.
 */
function compositeChecksum(
  upload: MultipartUploadInfo,
  requested: RequestedPart[],
  stored: PartInfo[],
): ObjectMetadata {
  const algorithm = uploadAlgorithm(upload);
  const hasher = algorithm ? checksumHasher(algorithm) : undefined;
  for (const [i, part] of requested.entries()) {
    const metadata = stored[i].metadata;
    for (const [name, value] of part.checksums) {
      const have = metadata[checksumHeader(name)];
      if (have !== undefined && have !== value) throw new S3Error("InvalidPart");
    }
    if (!hasher || !algorithm) continue;
    const value = metadata[checksumHeader(algorithm)];
    // A part without the checksum (e.g. copied before a restart) leaves the object without one.
    if (value === undefined) return {};
    hasher.update(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
  }
  if (!hasher || !algorithm) return {};
  return { [checksumHeader(algorithm)]: `${hasher.digest()}-${requested.length}` };
}

/** The object's URL in the addressing style of the request (virtual-host or path). */
function objectLocation(ctx: S3Context): string {
  const url = new URL(ctx.request.url);
  const host = ctx.headers.get("host") ?? url.host;
  const hostname = host.replace(/:\d+$/, "").toLowerCase();
  const virtualHost = ctx.config.domains.some((domain) => hostname === `${ctx.bucket}.${domain}`);
  const key = ctx.key.split("/").map(encodeURIComponent).join("/");
  const path = virtualHost ? key : `${encodeURIComponent(ctx.bucket)}/${key}`;
  return `${url.protocol}//${host}/${path}`;
}

export async function completeMultipartUpload(ctx: S3Context): Promise<Response> {
  const uploadId = uploadIdOf(ctx);
  const preconditions = writePreconditions(ctx.headers);
  const parts = await parseCompleteParts(
    await readRequestText(ctx.auth.body, MAX_COMPLETE_XML_BYTES),
  );
  // A repeated Complete of a completed upload gets the first one's object: same answer.
  const info = await ctx.layer.completeMultipartUpload(
    ctx.bucket,
    ctx.key,
    uploadId,
    parts.map(({ number, etag }) => ({ number, etag })),
    {
      finalMetadata: (upload, stored) => compositeChecksum(upload, parts, stored),
      preconditions,
    },
  );
  return xmlResponse("CompleteMultipartUploadResult", {
    Location: objectLocation(ctx),
    Bucket: ctx.bucket,
    Key: ctx.key,
    ETag: `"${info.etag}"`,
    ...checksumElements(info.metadata),
  }, {
    headers: {
      ...await versionHeader(ctx, info.versionId),
      ...await expirationHeader(ctx, info),
      ...encryptionHeaders(readSealed(info.metadata)),
    },
  });
}

export async function abortMultipartUpload(ctx: S3Context): Promise<Response> {
  await ctx.layer.abortMultipartUpload(ctx.bucket, ctx.key, uploadIdOf(ctx));
  return new Response(null, { status: 204 });
}

export async function listParts(ctx: S3Context): Promise<Response> {
  const uploadId = uploadIdOf(ctx);
  const maxParts = parseLimit(ctx.query, "max-parts");
  const markerText = ctx.query.get("part-number-marker") ?? "";
  if (markerText !== "" && !/^\d+$/.test(markerText)) {
    throw invalidArgument(
      "part-number-marker",
      markerText,
      "Provided part-number-marker not an integer or within integer range",
    );
  }
  const partNumberMarker = markerText === "" ? 0 : Number(markerText);
  const result = await ctx.layer.listObjectParts(ctx.bucket, ctx.key, uploadId, {
    partNumberMarker: partNumberMarker || undefined,
    maxParts,
  });
  const owner = accountOwner(ctx);
  return xmlResponse("ListPartsResult", {
    Bucket: ctx.bucket,
    Key: ctx.key,
    UploadId: uploadId,
    Initiator: owner,
    Owner: owner,
    StorageClass: "STANDARD",
    PartNumberMarker: partNumberMarker,
    NextPartNumberMarker: result.nextPartNumberMarker ?? result.parts.at(-1)?.number ?? 0,
    MaxParts: maxParts,
    IsTruncated: result.isTruncated,
    ChecksumAlgorithm: result.upload.metadata[ALGORITHM_KEY],
    Part: result.parts.map((part) => ({
      PartNumber: part.number,
      LastModified: part.modTime,
      ETag: `"${part.etag}"`,
      Size: part.size,
      ...checksumElements(part.metadata),
    })),
  });
}
