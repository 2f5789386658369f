/**
 * The AWS STS Query API (Version 2011-06-15) at the server's endpoint, for calls signed with
 * service `sts`: AssumeRole (assume-role.ts), GetSessionToken and GetCallerIdentity, answered in
 * STS's XML so that the AWS SDKs, the CLI and boto3 parse them unchanged.
 */
import { accessDenied } from "../iam/api/errors.ts";
import { Params } from "../iam/api/params.ts";
import {
  type QueryCall,
  QueryError,
  queryResponse,
  STS_NAMESPACE,
  type XmlFields,
} from "../iam/query-protocol.ts";
import type { IamStore } from "../iam/store.ts";
import { assumeRole } from "./assume-role.ts";
import type { SessionTokens } from "./tokens.ts";
import { credentialsXml } from "./xml.ts";

export const STS_VERSION = "2011-06-15";

export interface StsDeps {
  store: IamStore;
  tokens: SessionTokens;
}

const SESSION_DEFAULT_SECONDS = 43200;
const SESSION_MIN_SECONDS = 900;
const SESSION_MAX_SECONDS = 129600;
/** The account root's sessions last at most an hour (longer requests get an hour, as AWS). */
const ROOT_SESSION_MAX_SECONDS = 3600;

/** Temporary credentials acting as the caller, with the caller's own permissions. */
async function getSessionToken(
  call: QueryCall,
  params: Params,
  tokens: SessionTokens,
): Promise<XmlFields> {
  const caller = call.principal;
  if (caller.temporary || (caller.kind !== "user" && caller.kind !== "root")) {
    throw accessDenied("Cannot call GetSessionToken with session credentials");
  }
  const requested = params.integer("DurationSeconds", SESSION_MIN_SECONDS, SESSION_MAX_SECONDS) ??
    SESSION_DEFAULT_SECONDS;
  const seconds = caller.kind === "root"
    ? Math.min(requested, ROOT_SESSION_MAX_SECONDS)
    : requested;
  const issued = await tokens.issue({
    kind: caller.kind,
    accountId: caller.accountId,
    arn: caller.arn,
    userId: caller.userId,
    userName: caller.userName,
  }, new Date(Date.now() + seconds * 1000));
  return { Credentials: credentialsXml(issued) };
}

function getCallerIdentity(call: QueryCall): XmlFields {
  const { arn, userId, accountId } = call.principal;
  return { UserId: userId, Account: accountId, Arn: arn };
}

/** Serves one authenticated STS call (serveQuery's handler for service `sts`). */
export async function stsResponse(call: QueryCall, deps: StsDeps): Promise<Response> {
  const params = new Params(call.params);
  const version = params.optional("Version");
  const unknown = () =>
    new QueryError(
      "InvalidAction",
      `Could not find operation ${call.action} for version ${version ?? STS_VERSION}`,
    );
  if (version !== undefined && version !== STS_VERSION) throw unknown();
  let result: XmlFields;
  switch (call.action) {
    case "AssumeRole":
      result = await assumeRole(call, params, deps.store, deps.tokens);
      break;
    case "GetSessionToken":
      result = await getSessionToken(call, params, deps.tokens);
      break;
    case "GetCallerIdentity":
      result = getCallerIdentity(call);
      break;
    default:
      throw unknown();
  }
  return queryResponse(call.action, STS_NAMESPACE, result, call.requestId);
}
