/**
 * Encryption at rest for the object handlers. A new encrypted object gets a random object key,
 * sealed by its mode's key-encryption key (the customer's key for SSE-C, a data key of the
 * key service for SSE-S3 / SSE-KMS) and recorded in its metadata (crypto/sealed-metadata.ts);
 * its bytes are encrypted here, before the object layer erasure-codes them, so the drives
 * hold ciphertext only. Reads open the key again and decrypt only the packages a range
 * covers. The object layer stays unaware: it stores a body whose size and ETag it is told.
 */
import { Buffer } from "node:buffer";
import { defaultEncryption } from "../bucket/encryption.ts";
import { partKey, randomObjectKey, sealObjectKey, unsealObjectKey } from "../crypto/object-key.ts";
import { KeyMismatch } from "../crypto/object-key.ts";
import {
  decrypting,
  type DecryptionPlan,
  type EncryptedPart,
  encryptingPartStream,
  planDecryption,
} from "../crypto/object-stream.ts";
import { sealedSize } from "../crypto/packages.ts";
import {
  kekContext,
  readSealed,
  type SealedEncryption,
  sealedEntries,
  sealedFingerprint,
} from "../crypto/sealed-metadata.ts";
import { openedKeysOf } from "./opened-keys.ts";
import { InvalidKeyId, KeyNotFound } from "../kms/key-service.ts";
import type { Principal } from "../iam/principal.ts";
import type { ByteRange, ObjectInfo, ObjectMetadata } from "../object/layer.ts";
import { measure } from "../object/md5.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { authorizeKms, kmsKeyNotFound, kmsNotConfigured } from "./kms-access.ts";
import {
  type CustomerKey,
  customerKey,
  encryptionHeaders,
  requestedEncryption,
  type SseRequest,
} from "./sse-request.ts";

/** The key of an object being written or read, with how it is sealed. */
export interface ObjectKey {
  sealed: SealedEncryption;
  /** 32 bytes; lives as long as the request. */
  key: Uint8Array;
  /** SSE-C: the request's key (its MD5 is reported back). */
  customer?: CustomerKey;
}

/** A body for the object layer with the options that describe it. */
export interface StoredBody {
  body: ReadableStream<Uint8Array>;
  /** Bytes stored. */
  size: number;
  /** Bytes of the object (plaintext). */
  actualSize?: number;
  /**
   * As AWS's: SSE-S3, the plaintext's MD5 (set once the body is read); SSE-C and SSE-KMS,
   * random hex that says nothing about the plaintext (and spares hashing the ciphertext).
   */
  etag?: () => string | Promise<string>;
}

/**
 * The key a new object at bucket/key is encrypted with: as its request asks (`request`, by
 * default the target headers), else as the bucket's default encryption says; undefined for a
 * plain object. SSE-KMS needs `principal`'s kms:GenerateDataKey (a POST form's signer's).
 */
export async function newObjectKey(
  ctx: S3Context,
  bucket: string,
  key: string,
  request: SseRequest | undefined = requestedEncryption(ctx, ctx.headers),
  principal: Principal = ctx.auth.principal,
): Promise<ObjectKey | undefined> {
  const asked = request ?? bucketDefault(await ctx.buckets.get(bucket));
  if (!asked) return undefined;
  const objectKey = randomObjectKey();
  const path = `${bucket}/${key}`;
  if (asked.mode === "SSE-C") {
    const objectKeySealed = sealObjectKey(asked.customer.key, objectKey, "SSE-C", path);
    return {
      sealed: { mode: "SSE-C", objectKey: objectKeySealed },
      key: objectKey,
      customer: asked.customer,
    };
  }
  const keys = ctx.keys;
  if (!keys) throw kmsNotConfigured();
  const keyId = asked.mode === "SSE-KMS" && asked.keyId ? asked.keyId : keys.defaultKeyId;
  const context = asked.mode === "SSE-KMS" ? asked.context : {};
  if (asked.mode === "SSE-KMS") {
    await authorizeKms(ctx, "kms:GenerateDataKey", keyId, principal);
  }
  const kek = await keys.generateDataKey(keyId, kekContext(bucket, key, context))
    .catch(kmsError(keyId));
  const objectKeySealed = sealObjectKey(kek.plaintext, objectKey, asked.mode, path);
  kek.plaintext.fill(0); // the sealed form is all that is kept
  return {
    sealed: {
      mode: asked.mode,
      objectKey: objectKeySealed,
      kms: { keyId: kek.keyId, sealedKek: kek.sealed, context },
      bucketKeyEnabled: asked.bucketKeyEnabled || undefined,
    },
    key: objectKey,
  };
}

function bucketDefault(metadata: Parameters<typeof defaultEncryption>[0]): SseRequest | undefined {
  const rule = defaultEncryption(metadata);
  if (!rule) return undefined;
  if (rule.algorithm === "AES256") return { mode: "SSE-S3", bucketKeyEnabled: false };
  return {
    mode: "SSE-KMS",
    keyId: rule.keyId,
    context: {},
    bucketKeyEnabled: rule.bucketKeyEnabled,
  };
}

/** The key service's errors as S3's. */
function kmsError(keyId: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof KeyNotFound || err instanceof InvalidKeyId) throw kmsKeyNotFound(keyId);
    throw err;
  };
}

/**
 * Opens the key of an existing object (or multipart upload) from its metadata, with the SSE-C
 * key the request gives for it (`of`: the target's headers or the copy source's); undefined
 * for a plain object. A missing, needless or wrong key is refused with AWS's errors.
 */
export async function openObjectKey(
  ctx: S3Context,
  bucket: string,
  key: string,
  metadata: ObjectMetadata,
  of: "target" | "copy-source" = "target",
): Promise<ObjectKey | undefined> {
  const customer = customerKey(ctx, ctx.headers, of);
  const path = `${bucket}/${key}`;
  const fingerprint = customer ? undefined : sealedFingerprint(metadata, path);
  const opened = fingerprint && ctx.keys ? openedKeysOf(ctx.keys).get(fingerprint) : undefined;
  if (opened) {
    const { mode, kms } = opened.sealed;
    if (mode === "SSE-KMS") await authorizeKms(ctx, "kms:Decrypt", kms!.keyId);
    return opened;
  }
  const sealed = readSealed(metadata);
  if (!sealed) {
    if (customer) throw notApplicable();
    return undefined;
  }
  if (sealed.mode === "SSE-C") {
    if (!customer) {
      throw new S3Error(
        "InvalidRequest",
        "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
      );
    }
    try {
      return {
        sealed,
        key: unsealObjectKey(customer.key, sealed.objectKey, "SSE-C", path),
        customer,
      };
    } catch (err) {
      throw err instanceof KeyMismatch ? wrongKey() : err;
    }
  }
  if (customer) throw notApplicable();
  const keys = ctx.keys;
  if (!keys) throw kmsNotConfigured();
  const kms = sealed.kms!;
  if (sealed.mode === "SSE-KMS") await authorizeKms(ctx, "kms:Decrypt", kms.keyId);
  const kek = await keys.decrypt(kms.keyId, kms.sealedKek, kekContext(bucket, key, kms.context))
    .catch(kmsError(kms.keyId));
  try {
    const objectKey = unsealObjectKey(kek, sealed.objectKey, sealed.mode, path);
    if (fingerprint) openedKeysOf(keys).set(fingerprint, sealed, objectKey);
    return { sealed, key: objectKey };
  } finally {
    kek.fill(0);
  }
}

/** The key of a copy's source version, with the x-amz-copy-source-…-customer-* headers. */
export function openCopySourceKey(
  ctx: S3Context,
  source: { bucket: string; key: string },
  info: ObjectInfo,
): Promise<ObjectKey | undefined> {
  return openObjectKey(ctx, source.bucket, source.key, info.metadata, "copy-source");
}

/**
 * The encryption headers of a HEAD: an SSE-C object's key is checked (AWS refuses a HEAD
 * without the right one); other objects need no key, nor the key service.
 */
export async function headEncryption(
  ctx: S3Context,
  info: ObjectInfo,
): Promise<Record<string, string>> {
  const sealed = readSealed(info.metadata);
  if (sealed?.mode !== "SSE-C" && !customerKey(ctx, ctx.headers, "target")) {
    return encryptionHeaders(sealed);
  }
  const opened = await openObjectKey(ctx, info.bucket, info.name, info.metadata);
  return encryptionHeaders(opened?.sealed, opened?.customer);
}

const notApplicable = () =>
  new S3Error("InvalidRequest", "The encryption parameters are not applicable to this object.");

const wrongKey = () =>
  new S3Error(
    "AccessDenied",
    "The provided customer key does not match the key the object was encrypted with.",
  );

/**
 * The body to store for `plain` (`size` bytes) as part `partNumber` of an object (1 for a
 * single-part one), encrypted with `objectKey`; `plain` as it is without one.
 */
export function storedBody(
  plain: ReadableStream<Uint8Array>,
  size: number,
  objectKey: ObjectKey | undefined,
  partNumber = 1,
): StoredBody {
  if (!objectKey) return { body: plain, size };
  let body = plain;
  const random = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex");
  let etag: () => string | Promise<string> = () => random;
  if (objectKey.sealed.mode === "SSE-S3") {
    const measured = measure(plain, size);
    body = measured.stream;
    etag = async () => (await measured.result()).md5;
  }
  return {
    body: body.pipeThrough(encryptingPartStream(objectKey.key, partNumber, size)),
    size: sealedSize(size),
    actualSize: size,
    etag,
  };
}

/** The parts of an object as the decryption sees them (a single-part object is part 1). */
function encryptedParts(info: ObjectInfo): EncryptedPart[] {
  return info.parts.length > 0
    ? info.parts.map((p) => ({ number: p.number, size: p.size }))
    : [{ number: 1, size: info.size }];
}

/** Which stored bytes a plaintext range of `info` needs. */
export function decryptionPlan(info: ObjectInfo, range?: ByteRange): DecryptionPlan {
  return planDecryption(encryptedParts(info), range);
}

/** The plaintext of `stored` (the bytes of `plan.stored`). */
export function decrypted(
  stored: ReadableStream<Uint8Array>,
  plan: DecryptionPlan,
  objectKey: ObjectKey,
): ReadableStream<Uint8Array> {
  if (!plan.stored) {
    // No plaintext to give (a 0-byte object): its one empty final package is not read.
    stored.cancel().catch(() => {});
    return new Blob([]).stream();
  }
  return decrypting(stored, plan, (n) => partKey(objectKey.key, n));
}

/**
 * The plaintext of `range` (all of it by default) of the version `info` describes, as a copy
 * or a ranged GET reads it: the stored bytes its packages take, decrypted. A version replaced
 * between the caller's metadata read and this read is PreconditionFailed.
 */
export async function readPlaintext(
  ctx: S3Context,
  bucket: string,
  key: string,
  info: ObjectInfo,
  objectKey: ObjectKey | undefined,
  range?: ByteRange,
): Promise<ReadableStream<Uint8Array>> {
  const plan = objectKey ? decryptionPlan(info, range) : undefined;
  if (plan && !plan.stored) return new Blob([]).stream();
  const result = await ctx.layer.getObject(bucket, key, {
    versionId: info.versionId,
    range: plan ? plan.stored : range,
  });
  if (result.info.etag !== info.etag) {
    await result.body.cancel();
    throw new S3Error("PreconditionFailed");
  }
  return plan && objectKey ? decrypted(result.body, plan, objectKey) : result.body;
}

/** The metadata of an object written with `objectKey`: `metadata` plus the sealed keys. */
export function withSealedKey(
  metadata: ObjectMetadata,
  objectKey: ObjectKey | undefined,
): ObjectMetadata {
  return objectKey ? { ...metadata, ...sealedEntries(objectKey.sealed) } : metadata;
}
