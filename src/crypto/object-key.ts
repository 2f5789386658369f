/**
 * Object keys: a random key per object, the per-part keys derived from it, and its seal under
 * a key-encryption key (KEK). The seal binds the mode and the object's path, so a sealed key
 * copied onto another object, or read under another mode, does not open.
 */

import { concatBytes } from "../bytes.ts";
import { checkedKey, KEY_SIZE } from "./gcm.ts";
import { hmacSha256, openSecret, SALT_SIZE, sealSecret } from "./seal.ts";
import type { SealedObjectKey, SseMode } from "./sealed-metadata.ts";

const DOMAINS: readonly string[] = ["SSE-C", "SSE-S3", "SSE-KMS"] satisfies SseMode[];
const utf8 = new TextEncoder();
const PART = utf8.encode("part");

/** The kek, domain or path differ from the seal's, or its bytes were changed. */
export class KeyMismatch extends Error {
  override name = "KeyMismatch";
}

/** 32 random bytes. */
export function randomObjectKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_SIZE));
}

/**
 * HMAC-SHA256(objectKey, "part" || partNumber as u32 big-endian): each part's packages get a
 * key of their own, so random nonces are never drawn twice from one key's space across parts.
 */
export function partKey(objectKey: Uint8Array, partNumber: number): Uint8Array {
  checkedKey(objectKey);
  if (!Number.isInteger(partNumber) || partNumber < 0 || partNumber > 0xffff_ffff) {
    throw new RangeError(`not a part number: ${partNumber}`);
  }
  const label = new Uint8Array(8);
  label.set(PART);
  new DataView(label.buffer).setUint32(4, partNumber);
  return hmacSha256(objectKey, [label]);
}

/**
 * Seals `objectKey` under `kek` for `domain` ("SSE-C" | "SSE-S3" | "SSE-KMS") and the path
 * `bucket/object` (crypto/seal.ts: the random salt is the iv; domain || path the additional
 * data).
 */
export function sealObjectKey(
  kek: Uint8Array,
  objectKey: Uint8Array,
  domain: string,
  path: string,
): SealedObjectKey {
  checkedKey(objectKey);
  const sealed = sealSecret(checkedKey(kek), objectKey, boundTo(domain, path));
  return { iv: sealed.slice(0, SALT_SIZE), sealed: sealed.slice(SALT_SIZE) };
}

/** The object key of `sealed`; KeyMismatch when kek, domain or path differ, or bytes changed. */
export function unsealObjectKey(
  kek: Uint8Array,
  sealed: SealedObjectKey,
  domain: string,
  path: string,
): Uint8Array {
  if (sealed.iv.byteLength !== SALT_SIZE) throw new KeyMismatch("sealed key: bad iv");
  const aad = boundTo(domain, path);
  const objectKey = openSecret(checkedKey(kek), concatBytes([sealed.iv, sealed.sealed]), aad);
  if (objectKey?.byteLength !== KEY_SIZE) {
    throw new KeyMismatch(`the object key does not unseal for ${domain} ${path}`);
  }
  return objectKey;
}

/** What a sealed object key is bound to: its mode and its object's name. */
function boundTo(domain: string, path: string): Uint8Array {
  // A fixed set of domains, none a prefix of another, keeps domain || path unambiguous.
  if (!DOMAINS.includes(domain)) throw new RangeError(`unknown encryption domain: ${domain}`);
  return utf8.encode(domain + path);
}
