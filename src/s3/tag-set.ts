/**
 * Tag sets of objects and buckets: the Tagging XML document, the x-amz-tagging header (URL
 * query form, also how an object's tags are stored with its version) and AWS's limits on both.
 */

import { S3Error } from "./errors.ts";
import { child, children, type XmlElement, type XmlValue } from "./xml.ts";

export interface Tag {
  key: string;
  value: string;
}

/** AWS's limits: tags per object and per bucket, characters per key and per value. */
export const MAX_OBJECT_TAGS = 10;
export const MAX_BUCKET_TAGS = 50;
/** Elements a Tagging document may have: root, TagSet and three per tag, for twice the tags any
 *  set may have, so that a set over the limit is told InvalidTag, as AWS answers, not
 *  MalformedXML. */
export const MAX_TAGGING_ELEMENTS = 2 + 3 * 2 * MAX_BUCKET_TAGS;
const MAX_KEY_CHARS = 128;
const MAX_VALUE_CHARS = 256;
/** Letters, digits and white space in any script, and + - = . _ : / @ (AWS's tag alphabet). */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

function invalidTag(message: string): S3Error {
  return new S3Error("InvalidTag", message);
}

function malformed(detail: string): S3Error {
  return new S3Error(
    "MalformedXML",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );
}

/** Length in characters (code points), as AWS counts a tag's key and value. */
function chars(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Checks a tag set against AWS's rules; `limit`: MAX_OBJECT_TAGS or MAX_BUCKET_TAGS. */
function checkTagSet(tags: readonly Tag[], limit: number): void {
  if (tags.length > limit) {
    throw invalidTag(
      limit === MAX_OBJECT_TAGS
        ? `Object tags cannot be greater than ${limit}`
        : `Bucket tag count cannot be greater than ${limit}`,
    );
  }
  const keys = new Set<string>();
  for (const { key, value } of tags) {
    if (key === "") throw invalidTag("The TagKey you have provided is invalid");
    if (chars(key) > MAX_KEY_CHARS) {
      throw invalidTag(`The TagKey you have provided is too long, max ${MAX_KEY_CHARS}`);
    }
    if (chars(value) > MAX_VALUE_CHARS) {
      throw invalidTag(`The TagValue you have provided is too long, max ${MAX_VALUE_CHARS}`);
    }
    if (!TAG_CHARS.test(key)) throw invalidTag("The TagKey you have provided is invalid");
    if (!TAG_CHARS.test(value)) throw invalidTag("The TagValue you have provided is invalid");
    if (key.toLowerCase().startsWith("aws:")) {
      throw invalidTag("Your TagKey cannot be prefixed with aws:");
    }
    if (keys.has(key)) throw invalidTag("Cannot provide multiple Tags with the same key");
    keys.add(key);
  }
}

/** The tag set of a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…</TagSet></Tagging>` document. */
export function parseTagging(root: XmlElement, limit: number): Tag[] {
  if (root.name !== "Tagging") throw malformed("the root element is not Tagging");
  const tagSet = child(root, "TagSet");
  if (tagSet === undefined || root.children.length !== 1) {
    throw malformed("Tagging holds exactly one TagSet");
  }
  const tags = children(tagSet, "Tag").map((tag) => {
    const key = child(tag, "Key");
    const value = child(tag, "Value");
    if (key === undefined || value === undefined || tag.children.length !== 2) {
      throw malformed("a Tag holds one Key and one Value");
    }
    return { key: key.text, value: value.text };
  });
  if (tags.length !== tagSet.children.length) throw malformed("a TagSet holds only Tag elements");
  checkTagSet(tags, limit);
  return tags;
}

/** The document GetObjectTagging / GetBucketTagging answer with. */
export function renderTagSet(tags: readonly Tag[]): { [element: string]: XmlValue } {
  return { TagSet: { Tag: tags.map((t) => ({ Key: t.key, Value: t.value })) } };
}

/** The tags of an x-amz-tagging header ("k1=v1&k2=v2", URL-encoded), checked as AWS does. */
export function parseTaggingHeader(header: string): Tag[] {
  const tags: Tag[] = [];
  const keys = new Set<string>();
  for (const [key, value] of new URLSearchParams(header)) {
    if (keys.has(key)) {
      throw new S3Error(
        "InvalidArgument",
        "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
        { ArgumentName: "x-amz-tagging", ArgumentValue: header.slice(0, 256) },
      );
    }
    keys.add(key);
    tags.push({ key, value });
  }
  checkTagSet(tags, MAX_OBJECT_TAGS);
  return tags;
}

/** The stored form of a tag set (undefined for none: no metadata entry). */
export function encodeTags(tags: readonly Tag[]): string | undefined {
  if (tags.length === 0) return undefined;
  return tags.map((t) => `${encodeURIComponent(t.key)}=${encodeURIComponent(t.value)}`).join("&");
}

/** The tags of a stored tag set. */
export function decodeTags(stored: string | undefined): Tag[] {
  if (stored === undefined || stored === "") return [];
  return [...new URLSearchParams(stored)].map(([key, value]) => ({ key, value }));
}
