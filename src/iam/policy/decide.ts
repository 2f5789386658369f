/**
 * AWS's policy evaluation for requests within one account: an explicit deny in any policy wins;
 * otherwise the request is allowed when the identity's policies or the resource's (the bucket
 * policy, or an ACL grant) allow it — and, when the credentials carry session policies, those
 * allow it too, unless the bucket policy grants the role session by its own ARN. Root is not
 * special here: the authorizer allows root before asking.
 */

import type { PolicyDocument } from "./document.ts";
import {
  type Evaluation,
  FactReader,
  grantsSessionItself,
  type RequestFacts,
  verdictOf,
} from "./evaluate.ts";

export interface PolicySources {
  /** The user's (inline, attached, its groups') or the role's. */
  identity: readonly PolicyDocument[];
  /** Temporary credentials' session policies; absent or empty: no session policy applies. */
  session?: readonly PolicyDocument[];
  /** The bucket policy. */
  resource?: PolicyDocument;
  /** An ACL grants the request (s3 only): counts as a resource-based allow. */
  aclAllows?: boolean;
}

export function decide(sources: PolicySources, facts: RequestFacts): Evaluation {
  const reader = new FactReader(facts);
  const result = (verdict: Evaluation["verdict"]): Evaluation => ({
    verdict,
    volatile: reader.volatile,
    keysRead: reader.keysRead,
  });
  const identity = verdictOf(sources.identity, reader);
  if (identity === "deny") return result("deny");
  // The bucket policy is still read for its denies when the identity or an ACL allows.
  const identityOrAcl = identity === "allow" || sources.aclAllows === true;
  const granted = sources.resource
    ? verdictOf([sources.resource], reader, identityOrAcl)
    : identityOrAcl
    ? "allow"
    : "none";
  if (granted === "deny") return result("deny");
  const session = sources.session?.length ? verdictOf(sources.session, reader) : "allow";
  if (session === "deny") return result("deny");
  if (granted !== "allow") return result("none");
  if (session === "allow") return result("allow");
  const direct = sources.resource !== undefined && grantsSessionItself(sources.resource, reader);
  return result(direct ? "allow" : "none");
}
