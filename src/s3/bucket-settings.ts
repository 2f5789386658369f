/**
 * The shape shared by a bucket's XML settings kept in the bucket-metadata store (ownership
 * controls, public access block): PUT parses and stores the document, GET renders it or
 * answers the setting's "not found" code, DELETE removes it. Each works on an existing bucket.
 */

import type { BucketMetadata } from "../bucket/metadata-store.ts";
import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import { parseXml, type XmlElement, xmlResponse, type XmlValue } from "./xml.ts";

const MAX_SETTING_BYTES = 16 * 1024;

export interface BucketSetting<K extends keyof BucketMetadata> {
  field: K;
  /** The document's root element. */
  root: string;
  /** GET's error code when the bucket has none. */
  notFound: string;
  notFoundMessage: string;
  /** The stored value of a PUT's document (MalformedXML when it does not validate). */
  parse(root: XmlElement): NonNullable<BucketMetadata[K]>;
  render(value: NonNullable<BucketMetadata[K]>): { [element: string]: XmlValue };
  /** Checks a PUT against the bucket's other settings before it is stored. */
  check?(value: NonNullable<BucketMetadata[K]>, current: BucketMetadata): void;
  /** The largest document a PUT may send (16 KiB when unset). */
  maxBytes?: number;
  /** S3 requires the PUT's integrity through Content-MD5 or an x-amz-checksum-* (verified). */
  checksumRequired?: true;
}

export function malformedXml(detail: string): S3Error {
  return new S3Error(
    "MalformedXML",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );
}

/** The request body, checked against its Content-MD5 or x-amz-checksum-* as it is read. */
export function checksummedBody(ctx: S3Context): ReadableStream<Uint8Array> | null {
  const spec = requestChecksumSpec(ctx.headers, ctx.auth.trailers);
  if (spec.contentMd5 === undefined && spec.expected === undefined) {
    throw new S3Error(
      "InvalidRequest",
      "Missing required header for this request: Content-MD5 or x-amz-checksum-*",
    );
  }
  return ctx.auth.body && ctx.auth.body.pipeThrough(checksumVerifier(spec).transform);
}

export async function putBucketSetting<K extends keyof BucketMetadata>(
  ctx: S3Context,
  setting: BucketSetting<K>,
): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const maxBytes = setting.maxBytes ?? MAX_SETTING_BYTES;
  const body = setting.checksumRequired ? checksummedBody(ctx) : ctx.auth.body;
  // Every element takes at least 4 bytes ("<a/>"): the size bounds the element count.
  const root = parseXml(await readRequestText(body, maxBytes), Math.ceil(maxBytes / 4));
  if (root.name !== setting.root) throw malformedXml(`the root element is not ${setting.root}`);
  const value = setting.parse(root);
  await ctx.buckets.update(ctx.bucket, (current) => {
    setting.check?.(value, current);
    return { ...current, [setting.field]: value };
  });
  return new Response(null, { status: 200 });
}

export async function getBucketSetting<K extends keyof BucketMetadata>(
  ctx: S3Context,
  setting: BucketSetting<K>,
): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const value = (await ctx.buckets.get(ctx.bucket))[setting.field];
  if (value === undefined) {
    throw new S3Error(setting.notFound, setting.notFoundMessage, { BucketName: ctx.bucket });
  }
  return xmlResponse(setting.root, setting.render(value as NonNullable<BucketMetadata[K]>));
}

export async function deleteBucketSetting<K extends keyof BucketMetadata>(
  ctx: S3Context,
  setting: BucketSetting<K>,
): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  await ctx.buckets.update(ctx.bucket, (current) => ({ ...current, [setting.field]: undefined }));
  return new Response(null, { status: 204 });
}
