/**
 * Listings: ListObjects (v1 and v2), ListObjectVersions and ListMultipartUploads. The object
 * layer pages by "start strictly after this key"; this module maps each API's markers onto
 * that, renders S3's XML, and applies `encoding-type=url` to every name it echoes.
 */

import { Buffer } from "node:buffer";
import type { ObjectInfo } from "../object/layer.ts";
import { accountOwner } from "./acl.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { xmlResponse, XmlSequence, type XmlValue } from "./xml.ts";

const MAX_KEYS = 1000;

/** An integer query parameter in [0, ∞), clamped to `max`; absent → `max`. */
export function parseLimit(query: URLSearchParams, name: string, max = MAX_KEYS): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return max;
  if (!/^\d+$/.test(raw)) {
    throw new S3Error(
      "InvalidArgument",
      `Provided ${name} not an integer or within integer range`,
      {
        ArgumentName: name,
        ArgumentValue: raw,
      },
    );
  }
  return Math.min(Number(raw), max);
}

/**
 * S3's `encoding-type=url` form: like MinIO, everything but [A-Za-z0-9-_./*] is percent-encoded
 * and a space becomes "+", which the AWS CLI and boto3 decode with unquote_plus.
 */
export function s3UrlEncode(name: string): string {
  return encodeURIComponent(name)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, "/")
    .replace(/%20/g, "+");
}

/** Returns the name encoder a request asked for; unknown encodings are InvalidArgument. */
export function nameEncoder(
  query: URLSearchParams,
): { encode: (name: string) => string; encodingType?: string } {
  const type = query.get("encoding-type");
  if (type === null || type === "") return { encode: (name) => name };
  if (type.toLowerCase() !== "url") {
    throw new S3Error("InvalidArgument", "Invalid Encoding Method specified in Request", {
      ArgumentName: "encoding-type",
      ArgumentValue: type,
    });
  }
  return { encode: s3UrlEncode, encodingType: "url" };
}

const optional = (value: string | null, encode: (name: string) => string) =>
  value === null || value === "" ? undefined : encode(value);

function objectEntry(
  info: ObjectInfo,
  encode: (name: string) => string,
  owner: XmlValue,
): Record<string, XmlValue> {
  return {
    Key: encode(info.name),
    LastModified: info.modTime,
    ETag: `"${info.etag}"`,
    Size: info.size,
    Owner: owner,
    StorageClass: "STANDARD",
  };
}

const commonPrefixes = (prefixes: string[], encode: (name: string) => string) =>
  prefixes.map((prefix) => ({ Prefix: encode(prefix) }));

export async function listObjectsV1(ctx: S3Context): Promise<Response> {
  const { query } = ctx;
  const maxKeys = parseLimit(query, "max-keys");
  const { encode, encodingType } = nameEncoder(query);
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const marker = query.get("marker") ?? "";
  const result = await ctx.layer.listObjects(ctx.bucket, {
    prefix,
    delimiter: delimiter || undefined,
    marker: marker || undefined,
    maxKeys,
  });
  const owner = accountOwner(ctx);
  return xmlResponse("ListBucketResult", {
    Name: ctx.bucket,
    Prefix: encode(prefix),
    Marker: encode(marker),
    MaxKeys: maxKeys,
    Delimiter: optional(delimiter, encode),
    IsTruncated: result.isTruncated,
    // S3 returns NextMarker only with a delimiter; without one clients use the last key.
    NextMarker: result.isTruncated && delimiter !== ""
      ? optional(nextMarkerOf(result), encode)
      : undefined,
    Contents: result.objects.map((info) => objectEntry(info, encode, owner)),
    CommonPrefixes: commonPrefixes(result.prefixes, encode),
    EncodingType: encodingType,
  });
}

/** The layer's next marker, or else the greatest name on the page (in UTF-8 byte order). */
function nextMarkerOf(result: { objects: ObjectInfo[]; prefixes: string[]; nextMarker?: string }) {
  if (result.nextMarker) return result.nextMarker;
  const lastObject = result.objects.at(-1)?.name ?? "";
  const lastPrefix = result.prefixes.at(-1) ?? "";
  const utf8 = new TextEncoder();
  return Buffer.compare(utf8.encode(lastObject), utf8.encode(lastPrefix)) > 0
    ? lastObject
    : lastPrefix;
}

const encodeToken = (key: string) => btoa(String.fromCharCode(...new TextEncoder().encode(key)));

function decodeToken(token: string): string {
  try {
    const bytes = Uint8Array.from(atob(token), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", {
      ArgumentName: "continuation-token",
      ArgumentValue: token,
    });
  }
}

export async function listObjectsV2(ctx: S3Context): Promise<Response> {
  const { query } = ctx;
  const maxKeys = parseLimit(query, "max-keys");
  const { encode, encodingType } = nameEncoder(query);
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const startAfter = query.get("start-after") ?? "";
  const token = query.get("continuation-token");
  if (token === "") {
    throw new S3Error("InvalidArgument", "The continuation token provided is incorrect", {
      ArgumentName: "continuation-token",
    });
  }
  const marker = token !== null ? decodeToken(token) : startAfter;
  const result = await ctx.layer.listObjects(ctx.bucket, {
    prefix,
    delimiter: delimiter || undefined,
    marker: marker || undefined,
    maxKeys,
  });
  const owner = query.get("fetch-owner") === "true" ? accountOwner(ctx) : undefined;
  return xmlResponse("ListBucketResult", {
    Name: ctx.bucket,
    Prefix: encode(prefix),
    StartAfter: optional(startAfter, encode),
    ContinuationToken: token ?? undefined,
    NextContinuationToken: result.isTruncated ? encodeToken(nextMarkerOf(result)) : undefined,
    KeyCount: result.objects.length + result.prefixes.length,
    MaxKeys: maxKeys,
    Delimiter: optional(delimiter, encode),
    IsTruncated: result.isTruncated,
    Contents: result.objects.map((info) => objectEntry(info, encode, owner)),
    CommonPrefixes: commonPrefixes(result.prefixes, encode),
    EncodingType: encodingType,
  });
}

/** One Version or DeleteMarker element of a ListVersionsResult. */
function versionEntry(
  info: ObjectInfo,
  encode: (name: string) => string,
  owner: XmlValue,
): [string, XmlValue] {
  const identity = { Key: encode(info.name), VersionId: info.versionId, IsLatest: info.isLatest };
  if (info.deleteMarker) {
    return ["DeleteMarker", { ...identity, LastModified: info.modTime, Owner: owner }];
  }
  const { Key: _, ...rest } = objectEntry(info, encode, owner);
  return ["Version", { ...identity, ...rest }];
}

export async function listObjectVersions(ctx: S3Context): Promise<Response> {
  const { query } = ctx;
  const maxKeys = parseLimit(query, "max-keys");
  const { encode, encodingType } = nameEncoder(query);
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const keyMarker = query.get("key-marker") ?? "";
  const versionIdMarker = query.get("version-id-marker") ?? "";
  if (versionIdMarker !== "" && keyMarker === "") {
    throw new S3Error(
      "InvalidArgument",
      "A version-id marker cannot be specified without a key marker.",
      { ArgumentName: "version-id-marker", ArgumentValue: versionIdMarker },
    );
  }
  const result = await ctx.layer.listObjectVersions(ctx.bucket, {
    prefix,
    delimiter: delimiter || undefined,
    keyMarker: keyMarker || undefined,
    versionIdMarker: versionIdMarker || undefined,
    maxKeys,
  });
  const owner = accountOwner(ctx);
  return xmlResponse("ListVersionsResult", {
    Name: ctx.bucket,
    Prefix: encode(prefix),
    KeyMarker: encode(keyMarker),
    VersionIdMarker: versionIdMarker,
    NextKeyMarker: optional(result.nextKeyMarker ?? null, encode),
    NextVersionIdMarker: result.nextVersionIdMarker,
    MaxKeys: maxKeys,
    Delimiter: optional(delimiter, encode),
    IsTruncated: result.isTruncated,
    Versions: new XmlSequence(result.versions.map((info) => versionEntry(info, encode, owner))),
    CommonPrefixes: commonPrefixes(result.prefixes, encode),
    EncodingType: encodingType,
  });
}

export async function listMultipartUploads(ctx: S3Context): Promise<Response> {
  const { query } = ctx;
  const maxUploads = parseLimit(query, "max-uploads");
  const { encode, encodingType } = nameEncoder(query);
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const keyMarker = query.get("key-marker") ?? "";
  // An upload-id marker means nothing without the key it belongs to; S3 ignores it then.
  const uploadIdMarker = keyMarker === "" ? "" : query.get("upload-id-marker") ?? "";
  const result = await ctx.layer.listMultipartUploads(ctx.bucket, {
    prefix,
    delimiter: delimiter || undefined,
    keyMarker: keyMarker || undefined,
    uploadIdMarker: uploadIdMarker || undefined,
    maxUploads,
  });
  const owner = accountOwner(ctx);
  return xmlResponse("ListMultipartUploadsResult", {
    Bucket: ctx.bucket,
    KeyMarker: encode(keyMarker),
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: encode(result.nextKeyMarker ?? ""),
    NextUploadIdMarker: result.nextUploadIdMarker ?? "",
    Delimiter: optional(delimiter, encode),
    Prefix: encode(prefix),
    MaxUploads: maxUploads,
    IsTruncated: result.isTruncated,
    Upload: result.uploads.map((upload) => ({
      Key: encode(upload.object),
      UploadId: upload.uploadId,
      Initiator: owner,
      Owner: owner,
      StorageClass: "STANDARD",
      Initiated: upload.initiated,
    })),
    CommonPrefixes: commonPrefixes(result.prefixes, encode),
    EncodingType: encodingType,
  });
}
