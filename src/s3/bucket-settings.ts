/**
 * The shape shared by a bucket's XML settings kept in the bucket-metadata store (ownership
 * controls, public access block): PUT parses and stores the document, GET renders it or
 * answers the setting's "not found" code, DELETE removes it. Each works on an existing bucket.
 */

import type { BucketMetadata } from "../bucket/metadata-store.ts";
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
}

export function malformedXml(detail: string): S3Error {
  return new S3Error(
    "MalformedXML",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );
}

export async function putBucketSetting<K extends keyof BucketMetadata>(
  ctx: S3Context,
  setting: BucketSetting<K>,
): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const root = parseXml(await readRequestText(ctx.auth.body, MAX_SETTING_BYTES), 64);
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
