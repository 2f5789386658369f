/**
 * Object keys: a random key per object, the per-part keys derived from it, and its seal under
 * a key-encryption key (KEK). The seal binds the mode and the object's path, so a sealed key
 * copied onto another object, or read under another mode, does not open.
 */

import { createHmac } from "node:crypto";
import { aesGcm } from "./engine.ts";
import { checkedKey, KEY_SIZE, NONCE_SIZE } from "./gcm.ts";
import type { SealedObjectKey, SseMode } from "./sealed-metadata.ts";

const SEAL_IV_SIZE = 32;
const DOMAINS: readonly string[] = ["SSE-C", "SSE-S3", "SSE-KMS"] satisfies SseMode[];
const utf8 = new TextEncoder();

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
export function partKey(objectKey: Uint8Array, partNumber: number): Promise<Uint8Array> {
  checkedKey(objectKey);
  if (!Number.isInteger(partNumber) || partNumber < 0 || partNumber > 0xffff_ffff) {
    throw new RangeError(`not a part number: ${partNumber}`);
  }
  const label = new Uint8Array(8);
  label.set(utf8.encode("part"));
  new DataView(label.buffer).setUint32(4, partNumber);
  return Promise.resolve(hmac(objectKey, [label]));
}

/**
 * Seals `objectKey` under `kek` for `domain` ("SSE-C" | "SSE-S3" | "SSE-KMS") and the path
 * `bucket/object`: sealing key = HMAC-SHA256(kek, iv || domain || path) with a random 32-byte iv,
 * then AES-256-GCM of the object key. The nonce is zero: a sealing key seals one key only.
 */
export async function sealObjectKey(
  kek: Uint8Array,
  objectKey: Uint8Array,
  domain: string,
  path: string,
): Promise<SealedObjectKey> {
  checkedKey(objectKey);
  const iv = crypto.getRandomValues(new Uint8Array(SEAL_IV_SIZE));
  const key = await aesGcm.importKey(sealingKey(kek, iv, domain, path));
  const sealed = await key.seal(new Uint8Array(NONCE_SIZE), new Uint8Array(0), objectKey);
  return { iv, sealed: sealed.slice(NONCE_SIZE) };
}

/** The object key of `sealed`; KeyMismatch when kek, domain or path differ, or bytes changed. */
export async function unsealObjectKey(
  kek: Uint8Array,
  sealed: SealedObjectKey,
  domain: string,
  path: string,
): Promise<Uint8Array> {
  if (sealed.iv.byteLength !== SEAL_IV_SIZE) throw new KeyMismatch("sealed key: bad iv");
  const key = await aesGcm.importKey(sealingKey(kek, sealed.iv, domain, path));
  const stored = new Uint8Array(NONCE_SIZE + sealed.sealed.byteLength);
  stored.set(sealed.sealed, NONCE_SIZE);
  const objectKey = await key.open(new Uint8Array(0), stored);
  if (objectKey?.byteLength !== KEY_SIZE) {
    throw new KeyMismatch(`the object key does not unseal for ${domain} ${path}`);
  }
  return objectKey;
}

function sealingKey(kek: Uint8Array, iv: Uint8Array, domain: string, path: string): Uint8Array {
  checkedKey(kek);
  // A fixed set of domains, none a prefix of another, keeps domain || path unambiguous.
  if (!DOMAINS.includes(domain)) throw new RangeError(`unknown encryption domain: ${domain}`);
  return hmac(kek, [iv, utf8.encode(domain), utf8.encode(path)]);
}

function hmac(key: Uint8Array, parts: Uint8Array[]): Uint8Array {
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  const digest = mac.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength).slice();
}
