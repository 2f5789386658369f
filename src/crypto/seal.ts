/**
 * The one way Flashstor seals a small secret (a key) under another key: AES-256-GCM under a
 * key derived for this seal alone, HMAC-SHA256(key, salt) with a random 32-byte salt (as
 * MinIO's built-in KMS does), so however many secrets one key seals no GCM nonce can repeat
 * (the nonce is zero). The additional data names what the secret belongs to; opened with
 * another key or additional data, or altered, it does not open. The cipher and the HMAC are
 * the crypto engine's when it computes on this thread (IPsec-MB or OpenSSL: a few µs a seal),
 * else node:crypto's.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { concatBytes } from "../bytes.ts";
import { aesGcm } from "./engine.ts";

/** Bytes of the random salt that starts a sealed secret. */
export const SALT_SIZE = 32;
const TAG_SIZE = 16;
const NONCE = new Uint8Array(12);

/** salt ‖ ciphertext ‖ tag of `secret`, bound to `aad`. */
export function sealSecret(key: Uint8Array, secret: Uint8Array, aad: Uint8Array): Uint8Array {
  const salt = randomBytes(SALT_SIZE);
  const sealingKey = hmacSha256(key, [salt]);
  const now = aesGcm.importKeyNow?.(sealingKey);
  // nonce ‖ ciphertext ‖ tag: the zero nonce is not stored.
  if (now) return concatBytes([salt, now.seal(NONCE, aad, secret).subarray(NONCE.byteLength)]);
  const cipher = createCipheriv("aes-256-gcm", sealingKey, NONCE);
  cipher.setAAD(aad);
  const body = cipher.update(secret);
  const last = cipher.final();
  return concatBytes([salt, body, last, cipher.getAuthTag()]);
}

/** The secret `sealSecret` sealed; undefined when it does not open (key, aad, altered). */
export function openSecret(
  key: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | undefined {
  if (sealed.byteLength < SALT_SIZE + TAG_SIZE) return undefined;
  const salt = sealed.subarray(0, SALT_SIZE);
  const sealingKey = hmacSha256(key, [salt]);
  const now = aesGcm.importKeyNow?.(sealingKey);
  if (now) return now.open(aad, concatBytes([NONCE, sealed.subarray(SALT_SIZE)]));
  const decipher = createDecipheriv("aes-256-gcm", sealingKey, NONCE);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG_SIZE));
  try {
    const body = decipher.update(sealed.subarray(SALT_SIZE, sealed.byteLength - TAG_SIZE));
    return concatBytes([body, decipher.final()]);
  } catch {
    return undefined;
  }
}

/** HMAC-SHA256 of the concatenated `parts` under `key`. */
export function hmacSha256(key: Uint8Array, parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  if (aesGcm.hmacSha256) return aesGcm.hmacSha256(key, concatBytes(parts));
  const mac = createHmac("sha256", key);
  for (const part of parts) mac.update(part);
  const digest = mac.digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength).slice();
}
