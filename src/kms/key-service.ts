/**
 * The key service behind SSE-S3 and SSE-KMS (and the sealing of IAM secrets): named master
 * keys that never leave it, data keys generated under them and handed out sealed. The built-in
 * service (builtin.ts) keeps its master keys sealed by the root key of FLASHSTOR_KMS_SECRET_KEY;
 * an external KMS (KES, Vault, AWS KMS) would implement this same interface.
 */

/**
 * Bound to every sealed data key: unsealing under a different context fails. Flashstor puts
 * the bucket and object name in it, plus the client's SSE-KMS encryption context.
 */
export type EncryptionContext = Record<string, string>;

export interface DataKey {
  /** The master key it was generated under. */
  keyId: string;
  /** 32 bytes; the caller uses it and forgets it, never stores it. */
  plaintext: Uint8Array;
  /** The data key sealed by the master key (which version is inside): what is stored. */
  sealed: Uint8Array;
}

export interface MasterKeyStatus {
  keyId: string;
  /** Versions 1..current; data keys sealed under older ones still open. */
  version: number;
  createdAt: Date;
  rotatedAt?: Date;
}

export interface KeyService {
  /** The master key SSE-S3 uses, and SSE-KMS when the request names none. */
  readonly defaultKeyId: string;
  /** A fresh random data key under `keyId`'s current version. Throws KeyNotFound. */
  generateDataKey(keyId: string, context: EncryptionContext): Promise<DataKey>;
  /** Opens a sealed data key. Throws KeyNotFound, or KeySealBroken (wrong context, tampered). */
  decrypt(keyId: string, sealed: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
  /**
   * Re-seals a data key under `keyId`'s current version (after a rotation), without the data
   * key ever leaving the service. Throws as decrypt.
   */
  rewrap(keyId: string, sealed: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
  /** Throws KeyExists, or InvalidKeyId for a name outside [A-Za-z0-9_.:/-]{1,128}. */
  createKey(keyId: string): Promise<MasterKeyStatus>;
  listKeys(): Promise<MasterKeyStatus[]>;
  /** Throws KeyNotFound. */
  keyStatus(keyId: string): Promise<MasterKeyStatus>;
  /** A new current version of the master key; older versions still open what they sealed. */
  rotateKey(keyId: string): Promise<MasterKeyStatus>;
}

export class KeyNotFound extends Error {
  override name = "KeyNotFound";
}

export class KeyExists extends Error {
  override name = "KeyExists";
}

export class InvalidKeyId extends Error {
  override name = "InvalidKeyId";
}

/** A sealed key that does not open: another context, another service, or tampered bytes. */
export class KeySealBroken extends Error {
  override name = "KeySealBroken";
}
