/**
 * The server-side encryption a request asks for, from its headers, with AWS's errors for
 * every wrong combination; and the headers a response reports it with.
 *   SSE-C:   x-amz-server-side-encryption-customer-{algorithm,key,key-MD5} (and the
 *            x-amz-copy-source-… form for a copy's source), only over TLS (or loopback when
 *            the server allows it);
 *   SSE-S3:  x-amz-server-side-encryption: AES256;
 *   SSE-KMS: x-amz-server-side-encryption: aws:kms, -aws-kms-key-id, -context.
 */
import { createHash } from "node:crypto";
import { fromBase64, toBase64 } from "../bytes.ts";
import { kmsKeyId } from "../bucket/encryption.ts";
import type { SealedEncryption } from "../crypto/sealed-metadata.ts";
import type { EncryptionContext } from "../kms/key-service.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";

const SSE = "x-amz-server-side-encryption";
const KMS_KEY_ID = `${SSE}-aws-kms-key-id`;
const KMS_CONTEXT = `${SSE}-context`;
const BUCKET_KEY = `${SSE}-bucket-key-enabled`;
const CUSTOMER = `${SSE}-customer-`;
/** AWS KMS's limit on an encryption context. */
const MAX_CONTEXT_BYTES = 8192;
const COPY_SOURCE_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-";

/** A customer key as a request gives it (SSE-C). */
export interface CustomerKey {
  key: Uint8Array;
  /** Base64 MD5 of the key, as given (and checked). */
  keyMd5: string;
}

export type SseRequest =
  | { mode: "SSE-C"; customer: CustomerKey }
  | { mode: "SSE-S3"; bucketKeyEnabled: boolean }
  | { mode: "SSE-KMS"; keyId?: string; context: EncryptionContext; bucketKeyEnabled: boolean };

const invalid = (message: string) => new S3Error("InvalidArgument", message);

/**
 * The encryption a write (PutObject, CreateMultipartUpload, a copy's destination) asks for;
 * undefined when it asks for none (the bucket's default may apply).
 */
export function requestedEncryption(ctx: S3Context, headers: Headers): SseRequest | undefined {
  const customer = customerKey(ctx, headers, "target");
  const sse = headers.get(SSE);
  const keyId = headers.get(KMS_KEY_ID);
  const context = headers.get(KMS_CONTEXT);
  if (customer && sse !== null) {
    throw invalid(
      "Server Side Encryption with Customer provided key is incompatible with the encryption method specified",
    );
  }
  if (customer) return { mode: "SSE-C", customer };
  if (sse !== "aws:kms" && (keyId !== null || context !== null)) {
    throw invalid(
      "Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms",
    );
  }
  const bucketKeyEnabled = headers.get(BUCKET_KEY)?.toLowerCase() === "true";
  switch (sse) {
    case null:
      return undefined;
    case "AES256":
      return { mode: "SSE-S3", bucketKeyEnabled };
    case "aws:kms":
      return {
        mode: "SSE-KMS",
        keyId: keyId?.trim() ? kmsKeyId(keyId.trim()) : undefined,
        context: context === null ? {} : encryptionContext(context),
        bucketKeyEnabled,
      };
    case "aws:kms:dsse":
      throw new S3Error(
        "NotImplemented",
        "Dual-layer server-side encryption (aws:kms:dsse) is not supported.",
      );
    default:
      throw invalid("The encryption method specified is not supported");
  }
}

/** x-amz-server-side-encryption-context: base64 of a JSON object of strings. */
function encryptionContext(value: string): EncryptionContext {
  let parsed: unknown;
  let json: Uint8Array;
  try {
    json = fromBase64(value);
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch {
    throw invalid("The encryption context is not valid base64-encoded JSON.");
  }
  const valid = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) &&
    Object.values(parsed).every((v) => typeof v === "string");
  if (!valid) throw invalid("The encryption context must be a JSON object of string values.");
  // It is stored with every object it encrypts: KMS's own bound, not the header block's.
  if (json.byteLength > MAX_CONTEXT_BYTES) {
    throw invalid(`The encryption context is larger than ${MAX_CONTEXT_BYTES} bytes.`);
  }
  return parsed as EncryptionContext;
}

/**
 * The SSE-C key `headers` give for the request's object ("target") or for its copy source;
 * undefined when they give none. Every malformed form is refused, as is a key sent in clear text.
 */
export function customerKey(
  ctx: S3Context,
  headers: Headers,
  of: "target" | "copy-source",
): CustomerKey | undefined {
  const prefix = of === "target" ? CUSTOMER : COPY_SOURCE_CUSTOMER;
  const algorithm = headers.get(`${prefix}algorithm`);
  const key = headers.get(`${prefix}key`);
  const keyMd5 = headers.get(`${prefix}key-md5`);
  if (algorithm === null && key === null && keyMd5 === null) return undefined;
  const { tls, loopback } = ctx.transport;
  if (!tls && !(loopback && ctx.config.sseCOverHttp === "loopback")) {
    throw new S3Error(
      "InvalidRequest",
      "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.",
    );
  }
  if (algorithm === null) {
    throw invalid(
      "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.",
    );
  }
  if (algorithm !== "AES256") {
    throw new S3Error(
      "InvalidEncryptionAlgorithmError",
      "The encryption request you specified is not valid. The valid value is AES256.",
    );
  }
  if (key === null) {
    throw invalid(
      "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.",
    );
  }
  if (keyMd5 === null) {
    throw invalid(
      "Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.",
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(key);
  } catch {
    bytes = new Uint8Array(0);
  }
  if (bytes.byteLength !== 32) {
    throw invalid("The secret key was invalid for the specified algorithm.");
  }
  if (createHash("md5").update(bytes).digest("base64") !== keyMd5) {
    throw invalid("The calculated MD5 hash of the key did not match the hash that was provided.");
  }
  return { key: bytes, keyMd5 };
}

/**
 * The response headers reporting an object's encryption (PUT, GET, HEAD, copies, multipart);
 * for SSE-C the key's MD5 from the request (the key itself is never stored).
 */
export function encryptionHeaders(
  sealed: SealedEncryption | undefined,
  customer?: CustomerKey,
): Record<string, string> {
  if (!sealed) return {};
  if (sealed.mode === "SSE-C") {
    const headers: Record<string, string> = { [`${CUSTOMER}algorithm`]: "AES256" };
    if (customer) headers[`${CUSTOMER}key-md5`] = customer.keyMd5;
    return headers;
  }
  const headers: Record<string, string> = {
    [SSE]: sealed.mode === "SSE-S3" ? "AES256" : "aws:kms",
  };
  if (sealed.mode === "SSE-KMS" && sealed.kms) {
    headers[KMS_KEY_ID] = sealed.kms.keyId;
    if (Object.keys(sealed.kms.context).length > 0) {
      headers[KMS_CONTEXT] = toBase64(new TextEncoder().encode(JSON.stringify(sealed.kms.context)));
    }
  }
  if (sealed.bucketKeyEnabled) headers[BUCKET_KEY] = "true";
  return headers;
}
