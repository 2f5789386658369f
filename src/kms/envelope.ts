/**
 * Small secrets (IAM secret access keys) sealed through any KeyService: a fresh data key seals
 * the secret here (seal.ts) and only the data key's sealed form is kept beside it, so the same
 * code serves the built-in service and an external KMS, which never sees the secret.
 */
import { fromBase64, toBase64 } from "../bytes.ts";
import type { EncryptionContext, KeyService } from "./key-service.ts";
import { boundTo, open, seal } from "./seal.ts";

/** As stored in a record (JSON): base64 fields. */
export interface SealedSecret {
  /** The master key the data key was generated under. */
  keyId: string;
  /** The data key, sealed by the key service. */
  dataKey: string;
  /** The secret, sealed by the data key. */
  sealed: string;
}

/** `secret` sealed with the service's default key, bound to `context`. */
export async function sealSecret(
  keys: KeyService,
  secret: string,
  context: EncryptionContext,
): Promise<SealedSecret> {
  const dataKey = await keys.generateDataKey(keys.defaultKeyId, context);
  try {
    const sealed = seal(
      dataKey.plaintext,
      new TextEncoder().encode(secret),
      boundTo("secret", [], context),
    );
    return { keyId: dataKey.keyId, dataKey: toBase64(dataKey.sealed), sealed: toBase64(sealed) };
  } finally {
    dataKey.plaintext.fill(0);
  }
}

/** The secret; throws KeyNotFound or KeySealBroken (another context or service, altered). */
export async function openSecret(
  keys: KeyService,
  secret: SealedSecret,
  context: EncryptionContext,
): Promise<string> {
  const dataKey = await keys.decrypt(secret.keyId, fromBase64(secret.dataKey), context);
  try {
    const plain = open(
      dataKey,
      fromBase64(secret.sealed),
      boundTo("secret", [], context),
      "secret",
    );
    return new TextDecoder().decode(plain);
  } finally {
    dataKey.fill(0);
  }
}
