/**
 * The credential lookup of a deployment with IAM: long-term keys (root's and users') from the
 * IAM store, temporary ones (ASIA…) from their session token. A session acts as its user or role
 * only while that still exists: a token outliving its user or role is refused, and its session
 * policies are resolved at each use, so a deleted managed policy stops allowing at once.
 */
import type { CredentialLookup, Credentials } from "../auth/credentials.ts";
import { AuthError, invalidToken } from "../auth/errors.ts";
import type { PolicyDocument } from "../iam/policy/document.ts";
import { parsePolicy } from "../iam/policy/parse.ts";
import type { Principal } from "../iam/principal.ts";
import { isTemporaryAccessKey, type Session, SessionTokens } from "./tokens.ts";

/** What the lookup needs of the IAM store (src/iam/store.ts IamStore has all of it). */
export interface CredentialSource {
  readonly accountId: string;
  credentialsFor(accessKey: string): { secretKey: string; principal: Principal } | undefined;
  user(name: string): { id: string } | undefined;
  role(roleArn: string): { roleId: string } | undefined;
  managedPolicy(arn: string): PolicyDocument | undefined;
}

/** A session policy whose managed policy is gone: it allows nothing (and the list stays
 *  non-empty, so the session stays narrowed). */
const NOTHING: PolicyDocument = { version: "2012-10-17", statements: [] };
/** Parsed inline session policies by token text; cleared when full. */
const MAX_PARSED = 1000;

function orphaned(): AuthError {
  return new AuthError(
    "InvalidToken",
    "The provided token is no longer valid: the user or role it was issued for was deleted.",
  );
}

/** The lookup of temporary credentials only; undefined for a key that is not temporary. */
export function temporaryCredentials(
  store: CredentialSource,
  tokens: SessionTokens,
): CredentialLookup {
  const parsed = new Map<string, PolicyDocument>();
  const inlinePolicy = (token: string, text: string): PolicyDocument => {
    let document = parsed.get(token);
    if (document === undefined) {
      if (parsed.size >= MAX_PARSED) parsed.clear();
      document = parsePolicy(text, "session");
      parsed.set(token, document);
    }
    return document;
  };
  const sessionPolicies = (session: Session, token: string): PolicyDocument[] | undefined => {
    const policies = (session.policyArns ?? []).map((arn) => store.managedPolicy(arn) ?? NOTHING);
    if (session.policy !== undefined) policies.push(inlinePolicy(token, session.policy));
    return policies.length === 0 ? undefined : policies;
  };
  return async (accessKey, sessionToken): Promise<Credentials | undefined> => {
    if (!isTemporaryAccessKey(accessKey) || sessionToken === undefined) return undefined;
    const session = await tokens.verify(accessKey, sessionToken);
    if (session.accountId !== store.accountId) throw invalidToken();
    const stillThere = session.kind === "user"
      ? store.user(session.userName ?? "")?.id === session.userId
      : session.kind === "assumed-role"
      ? store.role(session.roleArn ?? "")?.roleId === session.userId.split(":", 1)[0]
      : true;
    if (!stillThere) throw orphaned();
    const principal: Principal = {
      kind: session.kind,
      accountId: session.accountId,
      arn: session.arn,
      userId: session.userId,
      userName: session.userName,
      accessKey,
      roleArn: session.roleArn,
      sessionPolicies: sessionPolicies(session, sessionToken),
      temporary: true,
    };
    return { accessKey, secretKey: session.secretKey, principal };
  };
}

/**
 * Every key of the deployment: the IAM store's long-term keys (a session token sent with one is
 * InvalidToken, as AWS answers), then temporary credentials.
 */
export function credentialLookup(store: CredentialSource, tokens: SessionTokens): CredentialLookup {
  const temporary = temporaryCredentials(store, tokens);
  return (accessKey, sessionToken) => {
    const longTerm = store.credentialsFor(accessKey);
    if (longTerm === undefined) return temporary(accessKey, sessionToken);
    if (sessionToken !== undefined) throw invalidToken();
    return { accessKey, ...longTerm };
  };
}
