/**
 * Whether a bucket policy is public, by AWS's rule (S3 "The meaning of public"): it is not when
 * every Allow statement is limited to fixed principals, or by a condition that pins one of the
 * keys that name who or where the caller is (a source IP range, account, ARN, VPC …) to fixed
 * values. GetBucketPolicyStatus reports it; the public access block refuses public policies.
 */
import type { PolicyDocument, PrincipalBlock, Statement } from "./policy/document.ts";

/** Condition keys whose fixed values limit a statement to known callers (lower case). */
const LIMITING_KEYS: ReadonlySet<string> = new Set([
  "aws:sourceip",
  "aws:sourcearn",
  "aws:sourcevpc",
  "aws:sourcevpce",
  "aws:sourceowner",
  "aws:sourceaccount",
  "aws:sourceorgid",
  "aws:principalorgid",
  "aws:principalaccount",
  "aws:principalarn",
  "aws:userid",
  "s3:x-amz-server-side-encryption-aws-kms-key-id",
  "s3:dataaccesspointarn",
  "s3:dataaccesspointaccount",
]);

/** Operators that can pin a key to values (negations and IfExists forms do not). */
const PINNING_OPERATORS =
  /^(StringEquals|StringEqualsIgnoreCase|StringLike|ArnEquals|ArnLike|IpAddress)$/;

/** No wildcard, no policy variable. */
function isFixed(value: string): boolean {
  return !/[*?]|\$\{/.test(value);
}

/** An IP range no broader than a /8 (IPv4) or /32 (IPv6) counts as fixed. */
function isNarrowRange(cidr: string): boolean {
  const slash = cidr.indexOf("/");
  if (slash < 0) return true;
  const bits = Number(cidr.slice(slash + 1));
  return bits >= (cidr.includes(":") ? 32 : 8);
}

function isWildcardPrincipal(block: PrincipalBlock): boolean {
  if (block === "*") return true;
  return Object.values(block).some((values) => values.some((v) => !isFixed(v)));
}

function limitedByCondition(statement: Statement): boolean {
  for (const [operator, keys] of Object.entries(statement.condition ?? {})) {
    if (!PINNING_OPERATORS.test(operator)) continue;
    for (const [key, values] of Object.entries(keys)) {
      const name = key.toLowerCase();
      if (!LIMITING_KEYS.has(name) || values.length === 0) continue;
      const narrow = name === "aws:sourceip" ? isNarrowRange : isFixed;
      if (values.every(narrow)) return true;
    }
  }
  return false;
}

function isPublicStatement(statement: Statement): boolean {
  if (statement.effect !== "Allow") return false;
  // NotPrincipal with Allow grants everyone but the principals named.
  const open = statement.notPrincipal !== undefined ||
    statement.principal !== undefined && isWildcardPrincipal(statement.principal);
  return open && !limitedByCondition(statement);
}

export function isPublicPolicy(policy: PolicyDocument): boolean {
  return policy.statements.some(isPublicStatement);
}
