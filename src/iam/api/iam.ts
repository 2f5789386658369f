/**
 * The IAM Query API (Version 2010-05-08): finds the action, authorizes the caller for
 * `iam:<Action>` on the entity's ARN (root always; others through their identity policies and
 * any session policies), runs it and answers in IAM's XML.
 */
import { decide } from "../policy/decide.ts";
import type { Principal } from "../principal.ts";
import { IAM_NAMESPACE, type QueryCall, QueryError, queryResponse } from "../query-protocol.ts";
import { RequestConditions } from "../request-conditions.ts";
import type { IamStore } from "../store.ts";
import { ACCESS_KEY_ACTIONS } from "./access-keys.ts";
import type { IamActions } from "./action.ts";
import { accessDenied } from "./errors.ts";
import { GROUP_ACTIONS } from "./groups.ts";
import { HOLDER_ACTIONS } from "./holders.ts";
import { Params } from "./params.ts";
import { POLICY_ACTIONS } from "./policies.ts";
import { ROLE_ACTIONS } from "./roles.ts";
import { TAG_ACTIONS } from "./tags.ts";
import { USER_ACTIONS } from "./users.ts";

export const IAM_VERSION = "2010-05-08";

const ACTIONS: IamActions = {
  ...USER_ACTIONS,
  ...ACCESS_KEY_ACTIONS,
  ...GROUP_ACTIONS,
  ...POLICY_ACTIONS,
  ...HOLDER_ACTIONS,
  ...ROLE_ACTIONS,
  ...TAG_ACTIONS,
};

/** Refuses the call unless the caller may perform `iam:<action>` on `resource`. */
function authorize(store: IamStore, call: QueryCall, resource: string): void {
  const principal: Principal = call.principal;
  if (principal.kind === "root") return;
  const conditions = new RequestConditions({
    principal,
    headers: new Headers({ "user-agent": call.userAgent }),
    query: new URLSearchParams(),
    remoteAddr: call.sourceIp,
    secure: call.secure,
    form: false,
  });
  const facts = { principal, action: `iam:${call.action}`, resource, conditions };
  const sources = {
    identity: store.identityPolicies(principal),
    session: principal.sessionPolicies,
  };
  if (decide(sources, facts).verdict !== "allow") {
    throw accessDenied(
      `User: ${principal.arn} is not authorized to perform: iam:${call.action} on resource: ` +
        resource,
    );
  }
}

export async function iamResponse(call: QueryCall, store: IamStore): Promise<Response> {
  const version = call.params.get("Version");
  const action = Object.hasOwn(ACTIONS, call.action) ? ACTIONS[call.action] : undefined;
  if (!action || (version !== null && version !== IAM_VERSION)) {
    throw new QueryError(
      "InvalidAction",
      `Could not find operation ${call.action} for version ${version ?? "NO_VERSION_SPECIFIED"}`,
    );
  }
  const ctx = { store, params: new Params(call.params), call };
  authorize(store, call, action.resource(ctx));
  const result = await action.run(ctx);
  return queryResponse(call.action, IAM_NAMESPACE, result, call.requestId);
}
