/**
 * The key service's sealing: crypto/seal.ts's primitive, with the additional data that binds a
 * sealed key to what it belongs to (boundTo); bytes opened with another key, other additional
 * data or tampered with throw KeySealBroken.
 */
import { openSecret, sealSecret } from "../crypto/seal.ts";
import { type EncryptionContext, KeySealBroken } from "./key-service.ts";

/** salt || ciphertext || tag. */
export const seal = sealSecret;

/** The plaintext of seal's output; `what` names it in the KeySealBroken message. */
export function open(
  key: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  what: string,
): Uint8Array {
  const plain = openSecret(key, sealed, aad);
  if (!plain) throw new KeySealBroken(`${what} does not open (another key or context, or altered)`);
  return plain;
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
