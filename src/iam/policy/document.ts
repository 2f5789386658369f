/**
 * The AWS policy language, parsed: identity policies (users, groups, roles), resource policies
 * (bucket policies), trust policies (a role's AssumeRolePolicyDocument) and session policies.
 * Values that AWS lets be one string or a list are always lists here; condition operators and
 * keys are kept as written (keys compare case-insensitively at evaluation).
 */

export type Effect = "Allow" | "Deny";

/** Which document a policy is: it decides which elements are required or refused. */
export type PolicyKind = "identity" | "resource" | "trust" | "session";

/** `"*"`, or principals by type: `{ AWS: [...], CanonicalUser: [...], Service: [...] }`. */
export type PrincipalBlock = "*" | Record<string, string[]>;

/** Operator (`StringLike`, `ForAnyValue:StringEqualsIfExists`, …) → condition key → values. */
export type ConditionBlock = Record<string, Record<string, string[]>>;

export interface Statement {
  sid?: string;
  effect: Effect;
  principal?: PrincipalBlock;
  notPrincipal?: PrincipalBlock;
  action?: string[];
  notAction?: string[];
  resource?: string[];
  notResource?: string[];
  condition?: ConditionBlock;
}

export interface PolicyDocument {
  version: "2012-10-17" | "2008-10-17";
  id?: string;
  statements: Statement[];
}
