/**
 * AssumeRole: temporary credentials of a role of this account for a caller its trust policy
 * allows. As in AWS, a trust policy that names the caller (or its role) suffices; one that names
 * the account delegates to the caller's identity policies, which must then allow sts:AssumeRole
 * on the role; an explicit deny in either, or a session policy of the caller that does not allow
 * it, refuses. A RoleArn naming no role is refused in the same words as an untrusted caller, so
 * a typo never leaves the caller with its own rights, and role names are not revealed.
 */
import { rootPrincipal } from "../auth/credentials.ts";
import { accessDenied, validationError } from "../iam/api/errors.ts";
import type { Params } from "../iam/api/params.ts";
import { decide } from "../iam/policy/decide.ts";
import { evaluatePolicies, type RequestFacts } from "../iam/policy/evaluate.ts";
import type { Principal } from "../iam/principal.ts";
import type { QueryCall, XmlFields } from "../iam/query-protocol.ts";
import { RequestConditions } from "../iam/request-conditions.ts";
import type { IamStore, RoleInfo } from "../iam/store.ts";
import { sessionPolicyParams } from "./session-policy.ts";
import type { SessionTokens } from "./tokens.ts";
import { credentialsXml } from "./xml.ts";

const DEFAULT_SECONDS = 3600;
const MIN_SECONDS = 900;
const MAX_SECONDS = 43200;
/** AWS's limit for a role session that assumes another role (role chaining). */
const CHAINED_MAX_SECONDS = 3600;

/** The request's condition keys, with the sts: keys trust policies use. */
function conditionsOf(call: QueryCall, sessionName: string, externalId: string | undefined) {
  const request = new RequestConditions({
    principal: call.principal,
    headers: new Headers({ "user-agent": call.userAgent }),
    query: new URLSearchParams(),
    remoteAddr: call.sourceIp,
    secure: call.secure,
    form: false,
  });
  const conditions = new Map<string, readonly string[]>(request.entries());
  conditions.set("sts:rolesessionname", [sessionName]);
  if (externalId !== undefined) conditions.set("sts:externalid", [externalId]);
  return conditions;
}

function mayAssume(store: IamStore, role: RoleInfo, facts: RequestFacts): boolean {
  const trust = evaluatePolicies([role.trustPolicy], facts).verdict;
  if (trust === "deny") return false;
  const overall = decide({
    identity: store.identityPolicies(facts.principal),
    session: facts.principal.sessionPolicies,
    resource: role.trustPolicy,
  }, facts).verdict;
  if (overall !== "allow") return false;
  if (trust === "allow") return true;
  // Trusting the account names its root only; then the identity policies (which allowed, as
  // `overall` says) decide.
  const account = rootPrincipal(facts.principal.accountId, "");
  return evaluatePolicies([role.trustPolicy], { ...facts, principal: account }).verdict ===
    "allow";
}

function sessionSeconds(params: Params, role: RoleInfo, caller: Principal): number {
  const seconds = params.integer("DurationSeconds", MIN_SECONDS, MAX_SECONDS) ?? DEFAULT_SECONDS;
  if (caller.kind === "assumed-role" && seconds > CHAINED_MAX_SECONDS) {
    throw validationError(
      "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by " +
        "role chaining.",
    );
  }
  if (seconds > role.maxSessionSeconds) {
    throw validationError(
      "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    );
  }
  return seconds;
}

function sessionName(params: Params): string {
  const name = params.name("RoleSessionName", 64);
  if (name.length < 2) {
    throw validationError(
      `1 validation error detected: Value '${name}' at 'roleSessionName' failed to satisfy ` +
        "constraint: Member must have length greater than or equal to 2",
    );
  }
  return name;
}

export async function assumeRole(
  call: QueryCall,
  params: Params,
  store: IamStore,
  tokens: SessionTokens,
): Promise<XmlFields> {
  const caller = call.principal;
  const roleArn = params.required("RoleArn");
  if (roleArn.length < 20 || roleArn.length > 2048) {
    throw validationError(
      `1 validation error detected: Value '${roleArn}' at 'roleArn' failed to satisfy ` +
        "constraint: Member must have length between 20 and 2048",
    );
  }
  const session = sessionName(params);
  if (caller.kind === "root") throw accessDenied("Roles may not be assumed by root accounts.");
  const role = store.role(roleArn);
  const facts: RequestFacts = {
    principal: caller,
    action: "sts:AssumeRole",
    resource: roleArn,
    conditions: conditionsOf(call, session, params.optional("ExternalId")),
  };
  if (role === undefined || !mayAssume(store, role, facts)) {
    throw accessDenied(
      `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    );
  }
  const seconds = sessionSeconds(params, role, caller);
  const policies = sessionPolicyParams(params, (arn) => store.managedPolicy(arn));
  const arn = `arn:aws:sts::${caller.accountId}:assumed-role/${role.name}/${session}`;
  const assumedRoleId = `${role.roleId}:${session}`;
  const issued = await tokens.issue({
    kind: "assumed-role",
    accountId: caller.accountId,
    arn,
    userId: assumedRoleId,
    roleArn: role.arn,
    policy: policies.policy,
    policyArns: policies.policyArns,
  }, new Date(Date.now() + seconds * 1000));
  return {
    Credentials: credentialsXml(issued),
    AssumedRoleUser: { AssumedRoleId: assumedRoleId, Arn: arn },
    PackedPolicySize: policies.packedPolicySize,
  };
}
