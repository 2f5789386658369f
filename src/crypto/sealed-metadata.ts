/**
 * How an encrypted object records its encryption in its metadata (xl.meta): the mode, its
 * object key sealed by the mode's key-encryption key, and for SSE-S3 / SSE-KMS that KEK as the
 * key service sealed it. Never a plaintext key; for SSE-C not the customer key either (a wrong
 * key is recognised because the object key does not unseal). The names carry an internal
 * prefix no request header can produce, and responses never echo them.
 */
import { fromBase64 as decode, toBase64 } from "../bytes.ts";
import type { ObjectMetadata } from "../object/layer.ts";
import type { EncryptionContext } from "../kms/key-service.ts";

export type SseMode = "SSE-C" | "SSE-S3" | "SSE-KMS";

/** A 32-byte object key sealed under a key-encryption key (object-key.ts). */
export interface SealedObjectKey {
  /** Random per seal: the KEK is derived from it, so no nonce repeats under one KEK. */
  iv: Uint8Array;
  sealed: Uint8Array;
}

export interface SealedEncryption {
  mode: SseMode;
  objectKey: SealedObjectKey;
  /** SSE-S3 and SSE-KMS: the KEK, a data key of the key service sealed by master key keyId. */
  kms?: {
    keyId: string;
    sealedKek: Uint8Array;
    /** The client's x-amz-server-side-encryption-context (SSE-KMS), {} otherwise. */
    context: EncryptionContext;
  };
  /** x-amz-server-side-encryption-bucket-key-enabled, reported back as given. */
  bucketKeyEnabled?: boolean;
}

const PREFIX = "x-flashstor-internal-sse-";
const MODE = `${PREFIX}mode`;
const IV = `${PREFIX}iv`;
const SEALED_KEY = `${PREFIX}sealed-key`;
const KMS_KEY_ID = `${PREFIX}kms-key-id`;
const KMS_SEALED_KEK = `${PREFIX}kms-sealed-kek`;
const KMS_CONTEXT = `${PREFIX}kms-context`;
const BUCKET_KEY = `${PREFIX}bucket-key-enabled`;
const MODES: readonly SseMode[] = ["SSE-C", "SSE-S3", "SSE-KMS"];

/** Whether a metadata entry is this module's (to drop when metadata is copied or replaced). */
export function isSealedEntry(name: string): boolean {
  return name.startsWith(PREFIX);
}

/** The metadata entries recording `e`, to merge into the object's metadata. */
export function sealedEntries(e: SealedEncryption): ObjectMetadata {
  const out: ObjectMetadata = {
    [MODE]: e.mode,
    [IV]: toBase64(e.objectKey.iv),
    [SEALED_KEY]: toBase64(e.objectKey.sealed),
  };
  if (e.kms) {
    out[KMS_KEY_ID] = e.kms.keyId;
    out[KMS_SEALED_KEK] = toBase64(e.kms.sealedKek);
    out[KMS_CONTEXT] = toBase64(new TextEncoder().encode(JSON.stringify(e.kms.context)));
  }
  if (e.bucketKeyEnabled) out[BUCKET_KEY] = "true";
  return out;
}

/** `metadata` without this module's entries. */
export function withoutSealed(metadata: ObjectMetadata): ObjectMetadata {
  return Object.fromEntries(Object.entries(metadata).filter(([name]) => !isSealedEntry(name)));
}

/**
 * Every stored value the opening of an SSE-S3 or SSE-KMS object's key depends on, as one
 * string (with its name, `path`); undefined for other objects. None of the values holds a
 * newline (base64, key ids, mode names).
 */
export function sealedFingerprint(metadata: ObjectMetadata, path: string): string | undefined {
  const mode = metadata[MODE];
  if (mode !== "SSE-S3" && mode !== "SSE-KMS") return undefined;
  return [
    mode,
    path,
    ...[IV, SEALED_KEY, KMS_KEY_ID, KMS_SEALED_KEK, KMS_CONTEXT]
      .map((name) => metadata[name] ?? ""),
  ].join("\n");
}

/**
 * The encryption an object's metadata records; undefined for a plain object. Throws
 * CorruptEncryptionMetadata when the entries are there but do not make sense.
 */
export function readSealed(metadata: ObjectMetadata): SealedEncryption | undefined {
  const mode = metadata[MODE];
  if (mode === undefined) return undefined;
  try {
    if (!(MODES as readonly string[]).includes(mode)) throw new Error(`mode ${mode}`);
    const e: SealedEncryption = {
      mode: mode as SseMode,
      objectKey: { iv: fromBase64(metadata[IV]), sealed: fromBase64(metadata[SEALED_KEY]) },
    };
    if (mode !== "SSE-C") {
      const keyId = metadata[KMS_KEY_ID];
      if (!keyId) throw new Error("no key id");
      const context: unknown = JSON.parse(
        new TextDecoder().decode(fromBase64(metadata[KMS_CONTEXT])),
      );
      if (!isContext(context)) throw new Error("bad context");
      e.kms = { keyId, sealedKek: fromBase64(metadata[KMS_SEALED_KEK]), context };
    }
    if (metadata[BUCKET_KEY] === "true") e.bucketKeyEnabled = true;
    return e;
  } catch (err) {
    throw new CorruptEncryptionMetadata(err instanceof Error ? err.message : String(err));
  }
}

/**
 * The context a KEK is sealed under: the object's name (so a sealed KEK copied onto another
 * object does not open) and the client's SSE-KMS context.
 */
export function kekContext(
  bucket: string,
  object: string,
  client: EncryptionContext = {},
): EncryptionContext {
  return { ...client, "flashstor:object": `${bucket}/${object}` };
}

export class CorruptEncryptionMetadata extends Error {
  override name = "CorruptEncryptionMetadata";
}

function isContext(v: unknown): v is EncryptionContext {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === "string");
}

function fromBase64(text: string | undefined): Uint8Array {
  if (text === undefined) throw new Error("missing entry");
  return decode(text);
}
