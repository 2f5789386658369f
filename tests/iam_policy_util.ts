/** Shared fixtures of the policy-engine unit tests: principals, request facts, documents. */

import type { Principal } from "../src/iam/principal.ts";
import type { PolicyKind } from "../src/iam/policy/document.ts";
import type { RequestFacts } from "../src/iam/policy/evaluate.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";

export const ACCOUNT = "123456789012";

export const alice: Principal = {
  kind: "user",
  accountId: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
  userId: "AIDAALICE0000000000X",
  userName: "alice",
  accessKey: "AKIAALICE",
  temporary: false,
};

export const bob: Principal = {
  ...alice,
  arn: `arn:aws:iam::${ACCOUNT}:user/bob`,
  userId: "AIDABOB00000000000X",
  userName: "bob",
  accessKey: "AKIABOB",
};

export const roleSession: Principal = {
  kind: "assumed-role",
  accountId: ACCOUNT,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/reader/s1`,
  userId: "AROAREADER000000000X:s1",
  accessKey: "ASIAREADER",
  roleArn: `arn:aws:iam::${ACCOUNT}:role/reader`,
  temporary: true,
};

export const anonymous: Principal = {
  kind: "anonymous",
  accountId: ACCOUNT,
  arn: "",
  userId: "",
  accessKey: "",
  temporary: false,
};

export const root: Principal = {
  kind: "root",
  accountId: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:root`,
  userId: ACCOUNT,
  accessKey: "ROOTKEY",
  temporary: false,
};

/** Request facts; condition keys are given as written and stored lower-cased. */
export function facts(
  action: string,
  resource: string,
  conditions: Record<string, string | string[]> = {},
  principal: Principal = alice,
): RequestFacts {
  const map = new Map<string, string[]>();
  for (const [key, value] of Object.entries(conditions)) {
    map.set(key.toLowerCase(), Array.isArray(value) ? value : [value]);
  }
  return { principal, action, resource, conditions: map };
}

/** A document of the given statements (Version 2012-10-17), parsed as `kind`. */
export function policy(kind: PolicyKind, ...statements: Record<string, unknown>[]) {
  return parsePolicy(JSON.stringify({ Version: "2012-10-17", Statement: statements }), kind);
}

/** An identity policy allowing everything when `condition` holds. */
export function allowIf(condition: Record<string, unknown>) {
  return policy("identity", { Effect: "Allow", Action: "*", Resource: "*", Condition: condition });
}
