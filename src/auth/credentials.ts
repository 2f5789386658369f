/**
 * What the signature check asks of the identity store: the secret of an access key, and who
 * signs with it. Temporary credentials (STS) come with a session token, which the lookup checks
 * with the key; an expired or forged token is an AuthError (ExpiredToken, InvalidToken).
 */
import type { Principal } from "../iam/principal.ts";

/** An access key, its secret, and the identity requests signed with them act as. */
export interface Credentials {
  accessKey: string;
  secretKey: string;
  principal: Principal;
}

/**
 * Finds the credentials of an access key; undefined when the key is unknown. `sessionToken` is
 * the request's x-amz-security-token (header, presigned parameter or form field), if any. Throws
 * AuthError("ExpiredToken") / AuthError("InvalidToken") for a token that is not (or no longer)
 * good for this key.
 */
export type CredentialLookup = (
  accessKey: string,
  sessionToken: string | undefined,
) => Credentials | undefined | Promise<Credentials | undefined>;

/** The principal of a request that carries no signature. */
export function anonymousPrincipal(accountId: string): Principal {
  return { kind: "anonymous", accountId, arn: "", userId: "", accessKey: "", temporary: false };
}

/** The account root (the FLASHSTOR_ROOT_USER key). */
export function rootPrincipal(accountId: string, accessKey: string): Principal {
  return {
    kind: "root",
    accountId,
    arn: `arn:aws:iam::${accountId}:root`,
    userId: accountId,
    accessKey,
    temporary: false,
  };
}
