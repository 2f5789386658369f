/**
 * The key service's one sealing primitive: AES-256-GCM under a key derived for this seal alone
 * (HMAC-SHA256 of the sealing key and a random 32-byte salt, as MinIO's built-in KMS does), so
 * that however many keys one master key seals, GCM's nonce is never at risk of repeating. The
 * additional data names what the sealed bytes belong to; bytes opened with another key, other
 * additional data or tampered with throw KeySealBroken.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import { concatBytes } from "../bytes.ts";
import { type EncryptionContext, KeySealBroken } from "./key-service.ts";

const SALT = 32;
const TAG = 16;
/** Each derived key seals exactly once, so a fixed nonce never repeats under a key. */
const NONCE = new Uint8Array(12);

/** salt || ciphertext || tag. */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
  const salt = randomBytes(SALT);
  const cipher = createCipheriv("aes-256-gcm", derive(key, salt), NONCE);
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  const last = cipher.final();
  return concatBytes([salt, body, last, cipher.getAuthTag()]);
}

/** The plaintext of seal's output; `what` names it in the KeySealBroken message. */
export function open(
  key: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  what: string,
): Uint8Array {
  if (sealed.byteLength < SALT + TAG) throw new KeySealBroken(`${what} is truncated`);
  const salt = sealed.subarray(0, SALT);
  const decipher = createDecipheriv("aes-256-gcm", derive(key, salt), NONCE);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - TAG));
  try {
    const body = decipher.update(sealed.subarray(SALT, sealed.byteLength - TAG));
    return concatBytes([body, decipher.final()]);
  } catch {
    throw new KeySealBroken(`${what} does not open (another key or context, or altered)`);
  }
}

/**
 * The additional data binding `context`: its canonical JSON (names sorted), after a label and
 * the fields that place the sealed key (key id, version), so equal contexts in any order match.
 */
export function boundTo(
  label: string,
  fields: (string | number)[],
  context: EncryptionContext = {},
): Uint8Array {
  const sorted = Object.fromEntries(
    Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return new TextEncoder().encode(JSON.stringify([label, ...fields, sorted]));
}

function derive(key: Uint8Array, salt: Uint8Array): Uint8Array {
  return createHmac("sha256", key).update(salt).digest();
}
