/**
 * The S3 side of the key service: its absence and an unknown master key as S3's errors, and who
 * may use a master key for SSE-KMS. AWS asks the key's key policy and the caller's IAM policies;
 * there are no key policies here, so the caller's identity policies (and a session's policies)
 * decide alone, as MinIO decides its kms: actions: root always may, anyone else needs an Allow of
 * the kms: action on the key's ARN, `arn:aws:kms:<region>:<account>:key/<key id>`.
 */

import type { Principal } from "../iam/principal.ts";
import { accessDenied } from "./access.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";

/** What SSE-KMS asks of a key: a data key to seal a new object's key, or opening one. */
export type KmsAction = "kms:GenerateDataKey" | "kms:Decrypt";

/** SSE-S3 or SSE-KMS asked of a server started without FLASHSTOR_KMS_SECRET_KEY (MinIO's 501). */
export function kmsNotConfigured(): S3Error {
  return new S3Error(
    "NotImplemented",
    "Server side encryption specified but KMS is not configured (FLASHSTOR_KMS_SECRET_KEY).",
  );
}

/** A master key the key service does not have. */
export function kmsKeyNotFound(keyId: string): S3Error {
  return new S3Error("KMS.NotFoundException", `Key '${keyId}' does not exist.`);
}

/** The ARN IAM policies name a master key by. */
export function kmsKeyArn(region: string, accountId: string, keyId: string): string {
  return `arn:aws:kms:${region}:${accountId}:key/${keyId}`;
}

/**
 * Refuses (AccessDenied) unless `principal` (the request's, or a POST form's signer) may perform
 * `action` on the key.
 */
export async function authorizeKms(
  ctx: Pick<S3Context, "access" | "auth" | "config">,
  action: KmsAction,
  keyId: string,
  principal: Principal = ctx.auth.principal,
): Promise<void> {
  const arn = kmsKeyArn(ctx.config.region, principal.accountId, keyId);
  if (!await ctx.access.allowedOn(action, arn, principal)) throw accessDenied();
}
