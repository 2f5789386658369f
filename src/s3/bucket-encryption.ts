/**
 * Put/Get/DeleteBucketEncryption, kept in the bucket-metadata store (the object handlers apply
 * it: sse.ts). As MinIO, and unlike AWS, a configuration is refused when there is no key
 * service to apply it (501), and an SSE-KMS key it names must exist (KMS.NotFoundException).
 */

import {
  type EncryptionConfiguration,
  kmsKeyId,
  parseEncryptionConfiguration,
  renderEncryptionConfiguration,
} from "../bucket/encryption.ts";
import {
  type BucketSetting,
  deleteBucketSetting,
  getBucketSetting,
  putBucketSetting,
} from "./bucket-settings.ts";
import type { S3Context } from "./context.ts";
import { kmsKeyNotFound, kmsNotConfigured } from "./kms-access.ts";

const ENCRYPTION: BucketSetting<"encryption"> = {
  field: "encryption",
  root: "ServerSideEncryptionConfiguration",
  notFound: "ServerSideEncryptionConfigurationNotFoundError",
  notFoundMessage: "The server side encryption configuration was not found",
  parse: parseEncryptionConfiguration,
  render: renderEncryptionConfiguration,
  checksumRequired: true,
};

/** `config` if the key service can apply it: there is one, and it has the key named. */
function applicable(
  config: EncryptionConfiguration,
  keyIds: ReadonlySet<string> | undefined,
): EncryptionConfiguration {
  if (keyIds === undefined) throw kmsNotConfigured();
  if (config.algorithm === "aws:kms" && config.kmsMasterKeyId !== undefined) {
    const keyId = kmsKeyId(config.kmsMasterKeyId);
    if (!keyIds.has(keyId)) throw kmsKeyNotFound(keyId);
  }
  return config;
}

export async function putBucketEncryption(ctx: S3Context): Promise<Response> {
  // The document is checked as it is parsed, synchronously: the key ids it may name are
  // listed first (a key service holds a handful; PutBucketEncryption is a rare call).
  const keyIds = ctx.keys && new Set((await ctx.keys.listKeys()).map((key) => key.keyId));
  return await putBucketSetting(ctx, {
    ...ENCRYPTION,
    parse: (root) => applicable(parseEncryptionConfiguration(root), keyIds),
  });
}

export const getBucketEncryption = (ctx: S3Context) => getBucketSetting(ctx, ENCRYPTION);
export const deleteBucketEncryption = (ctx: S3Context) => deleteBucketSetting(ctx, ENCRYPTION);
