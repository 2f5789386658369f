/**
 * Who a request acts as, once its signature (or its absence) has been checked. Every request
 * has one: the account root, an IAM user (long-term key, or temporary credentials from
 * GetSessionToken), a role session (AssumeRole), or anonymous.
 */
import type { PolicyDocument } from "./policy/document.ts";

export type PrincipalKind = "root" | "user" | "assumed-role" | "anonymous";

export interface Principal {
  kind: PrincipalKind;
  /** The deployment's 12-digit account id (the same in every ARN). */
  accountId: string;
  /**
   * aws:PrincipalArn: `arn:aws:iam::<account>:root`, `arn:aws:iam::<account>:user/<path><name>`,
   * `arn:aws:sts::<account>:assumed-role/<role>/<session>`; "" when anonymous.
   */
  arn: string;
  /** aws:userid: the user's id (AIDA…), `<role id>:<session>` (AROA…), the account id for root. */
  userId: string;
  /** aws:username (users only). */
  userName?: string;
  /** The access key the request was signed with; "" when anonymous. */
  accessKey: string;
  /** The role (`arn:aws:iam::<account>:role/<path><name>`) of an assumed-role session. */
  roleArn?: string;
  /** Temporary credentials (STS): their session policies, each of which must also allow. */
  sessionPolicies?: PolicyDocument[];
  /** Signed with temporary credentials (x-amz-security-token). */
  temporary: boolean;
}
