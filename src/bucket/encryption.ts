/**
 * A bucket's default encryption (PutBucketEncryption): the one rule AWS allows, parsed with
 * AWS's schema and errors, rendered back for GetBucketEncryption, and the encryption it gives
 * an object written without SSE headers.
 */

import { malformedXml } from "../s3/bucket-settings.ts";
import { S3Error } from "../s3/errors.ts";
import { children, type XmlElement, type XmlValue } from "../s3/xml.ts";
import type { BucketMetadata } from "./metadata-store.ts";

/** The stored configuration: SSE-S3, or SSE-KMS under the key a KMSMasterKeyID names. */
export type EncryptionConfiguration =
  | { algorithm: "AES256"; bucketKeyEnabled: boolean }
  | {
    algorithm: "aws:kms";
    /** As the document gave it (an id or a key ARN), rendered back so; absent: the default key. */
    kmsMasterKeyId?: string;
    bucketKeyEnabled: boolean;
  };

/** What an object written without SSE headers gets; `keyId` absent: the default master key. */
export type DefaultEncryption =
  | { algorithm: "AES256" }
  | { algorithm: "aws:kms"; keyId?: string; bucketKeyEnabled: boolean };

/** The configuration new buckets get with the server's --default-encryption. */
export const SSE_S3_DEFAULT: Readonly<EncryptionConfiguration> = Object.freeze({
  algorithm: "AES256",
  bucketKeyEnabled: false,
});

/** AWS's full key ARN, `arn:aws:kms:<region>:<account>:key/<id>`. */
const KEY_ARN = /^arn:aws:kms:[^:]*:[^:]*:key\/(.+)$/;
/** MinIO's short form, `arn:aws:kms:<id>`. */
const ARN_PREFIX = "arn:aws:kms:";

/**
 * The master key id an SSE-KMS key reference names: a bare id, AWS's key ARN or MinIO's
 * `arn:aws:kms:<id>` (as KMSMasterKeyID and x-amz-server-side-encryption-aws-kms-key-id give it).
 */
export function kmsKeyId(reference: string): string {
  const arn = KEY_ARN.exec(reference);
  if (arn) return arn[1];
  return reference.startsWith(ARN_PREFIX) ? reference.slice(ARN_PREFIX.length) : reference;
}

/** The bucket's default encryption as the object handlers apply it; undefined: none. */
export function defaultEncryption(
  metadata: Readonly<BucketMetadata>,
): DefaultEncryption | undefined {
  const config = metadata.encryption;
  if (config === undefined) return undefined;
  if (config.algorithm === "AES256") return { algorithm: "AES256" };
  const { kmsMasterKeyId, bucketKeyEnabled } = config;
  return kmsMasterKeyId === undefined
    ? { algorithm: "aws:kms", bucketKeyEnabled }
    : { algorithm: "aws:kms", keyId: kmsKeyId(kmsMasterKeyId), bucketKeyEnabled };
}

/** The only child named `name`, or undefined; MalformedXML when repeated. */
function single(element: XmlElement, name: string): XmlElement | undefined {
  const found = children(element, name);
  if (found.length > 1) throw malformedXml(`${element.name} has more than one ${name}`);
  return found[0];
}

function onlyChildren(element: XmlElement, allowed: readonly string[]): void {
  for (const c of element.children) {
    if (!allowed.includes(c.name)) {
      throw malformedXml(`${c.name} is not allowed in ${element.name}`);
    }
  }
}

function boolean(element: XmlElement): boolean {
  const text = element.text.trim();
  if (text !== "true" && text !== "false") throw malformedXml(`${element.name} is true or false`);
  return text === "true";
}

/**
 * A rule's BlockedEncryptionTypes (AWS's 2025 switch that refuses SSE-C uploads): "NONE" blocks
 * nothing and is accepted; blocking SSE-C is not implemented, so it is refused rather than
 * stored unenforced.
 */
function checkBlockedTypes(element: XmlElement): void {
  onlyChildren(element, ["EncryptionType"]);
  for (const type of children(element, "EncryptionType").map((e) => e.text.trim())) {
    if (type === "SSE-C") {
      throw new S3Error(
        "NotImplemented",
        "Blocking SSE-C through BlockedEncryptionTypes is not supported by this server.",
      );
    }
    if (type !== "NONE") throw malformedXml("EncryptionType is NONE or SSE-C");
  }
}

/** The configuration a ServerSideEncryptionConfiguration document sets (S3's errors otherwise). */
export function parseEncryptionConfiguration(root: XmlElement): EncryptionConfiguration {
  onlyChildren(root, ["Rule"]);
  const rules = children(root, "Rule");
  if (rules.length !== 1) {
    throw malformedXml("a ServerSideEncryptionConfiguration holds exactly one Rule");
  }
  const rule = rules[0];
  onlyChildren(rule, [
    "ApplyServerSideEncryptionByDefault",
    "BucketKeyEnabled",
    "BlockedEncryptionTypes",
  ]);
  const apply = single(rule, "ApplyServerSideEncryptionByDefault");
  if (apply === undefined) throw malformedXml("a Rule needs ApplyServerSideEncryptionByDefault");
  onlyChildren(apply, ["SSEAlgorithm", "KMSMasterKeyID"]);
  const algorithm = single(apply, "SSEAlgorithm")?.text.trim();
  if (algorithm === undefined) throw malformedXml("SSEAlgorithm is missing");
  if (algorithm === "aws:kms:dsse") {
    throw new S3Error(
      "NotImplemented",
      "The SSEAlgorithm aws:kms:dsse (dual-layer SSE-KMS) is not supported: use AES256 or aws:kms.",
    );
  }
  if (algorithm !== "AES256" && algorithm !== "aws:kms") {
    throw malformedXml("SSEAlgorithm is AES256 or aws:kms");
  }
  const bucketKey = single(rule, "BucketKeyEnabled");
  const bucketKeyEnabled = bucketKey !== undefined && boolean(bucketKey);
  const blocked = single(rule, "BlockedEncryptionTypes");
  if (blocked !== undefined) checkBlockedTypes(blocked);
  const masterKey = single(apply, "KMSMasterKeyID")?.text.trim();
  if (algorithm === "AES256") {
    if (masterKey !== undefined) {
      throw new S3Error(
        "InvalidArgument",
        "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms",
        { ArgumentName: "ApplyServerSideEncryptionByDefault" },
      );
    }
    return { algorithm, bucketKeyEnabled };
  }
  if (masterKey === "") throw malformedXml("KMSMasterKeyID is empty");
  return { algorithm, kmsMasterKeyId: masterKey, bucketKeyEnabled };
}

/** The elements of GetBucketEncryption's ServerSideEncryptionConfiguration. */
export function renderEncryptionConfiguration(
  config: EncryptionConfiguration,
): { [element: string]: XmlValue } {
  return {
    Rule: {
      ApplyServerSideEncryptionByDefault: {
        SSEAlgorithm: config.algorithm,
        KMSMasterKeyID: config.algorithm === "aws:kms" ? config.kmsMasterKeyId : undefined,
      },
      BucketKeyEnabled: config.bucketKeyEnabled,
    },
  };
}
