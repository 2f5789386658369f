/**
 * The session policies of an AssumeRole call: `Policy` (inline, a session policy document) and
 * `PolicyArns.member.N.arn` (up to 10 managed policies of this account, or built-in ones), which
 * can only narrow what the role allows. AWS counts both in one 2,048-character budget, and
 * reports how much of the packed space they take as PackedPolicySize (a percentage).
 */
import type { Params } from "../iam/api/params.ts";
import { malformedPolicy, validationError } from "../iam/api/errors.ts";
import type { PolicyDocument } from "../iam/policy/document.ts";
import { MalformedPolicy, parsePolicy } from "../iam/policy/parse.ts";
import { QueryError } from "../iam/query-protocol.ts";

export interface SessionPolicyParams {
  policy?: string;
  policyArns?: string[];
  /** Percent of the packed budget used; undefined when no session policy was passed. */
  packedPolicySize?: number;
}

/** Plaintext of the inline policy and the ARNs together (AWS's limit). */
const MAX_PLAINTEXT = 2048;
const MAX_POLICY_ARNS = 10;

function packedTooLarge(percent: number): QueryError {
  return new QueryError(
    "PackedPolicyTooLarge",
    `Packed policy consumes ${percent}% of allotted space, please use smaller policy for request.`,
  );
}

/** The session policies of `params`, checked; `managedPolicy` finds a policy by ARN. */
export function sessionPolicyParams(
  params: Params,
  managedPolicy: (arn: string) => PolicyDocument | undefined,
): SessionPolicyParams {
  const policy = params.optional("Policy");
  if (policy !== undefined && (policy.length < 1 || policy.length > MAX_PLAINTEXT)) {
    throw validationError(
      "1 validation error detected: Value at 'policy' failed to satisfy constraint: Member " +
        `must have length less than or equal to ${MAX_PLAINTEXT}`,
    );
  }
  const policyArns: string[] = [];
  for (let n = 1; params.optional(`PolicyArns.member.${n}.arn`) !== undefined; n++) {
    if (n > MAX_POLICY_ARNS) {
      throw validationError(
        "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: " +
          `Member must have length less than or equal to ${MAX_POLICY_ARNS}`,
      );
    }
    const arn = params.required(`PolicyArns.member.${n}.arn`);
    if (managedPolicy(arn) === undefined) {
      throw malformedPolicy(`Policy ${arn} does not exist or is not attachable.`);
    }
    policyArns.push(arn);
  }
  if (policy === undefined && policyArns.length === 0) return {};
  if (policy !== undefined) {
    try {
      parsePolicy(policy, "session");
    } catch (err) {
      if (err instanceof MalformedPolicy) throw malformedPolicy(err.message);
      throw err;
    }
  }
  const plaintext = new TextEncoder().encode(policy ?? "").byteLength +
    policyArns.reduce((sum, arn) => sum + arn.length, 0);
  const packedPolicySize = Math.ceil(100 * plaintext / MAX_PLAINTEXT);
  if (packedPolicySize > 100) throw packedTooLarge(packedPolicySize);
  return {
    policy,
    policyArns: policyArns.length === 0 ? undefined : policyArns,
    packedPolicySize,
  };
}
