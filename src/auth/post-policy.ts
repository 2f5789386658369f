/**
 * Browser uploads (POST Object with a form): the signature of the base64 policy document (SigV4,
 * or SigV2's base64 HMAC-SHA1 with AWSAccessKeyId + signature) and the policy's conditions
 * against the form fields. The file's size is known only while it
 * streams, so content-length-range is returned for the handler to enforce.
 */
import { Buffer } from "node:buffer";
import type { Principal } from "../iam/principal.ts";
import { anonymousPrincipal, type Credentials } from "./credentials.ts";
import { AuthError, signatureMismatch, sigV2Refused, unknownAccessKey } from "./errors.ts";
import { checkScope, parseAmzDate, parseCredential } from "./scope.ts";
import { hmacHex, hmacSha1Base64, signaturesEqual, signingKey } from "./signing.ts";
import type { AuthOptions } from "./sigv4.ts";

export interface PostPolicyResult {
  /** "" for an anonymous form (no signature). */
  accessKey: string;
  /** Who the upload acts as; kind "anonymous" for an unsigned form. */
  principal: Principal;
  /** Allowed size of the file, from a content-length-range condition. */
  contentLengthRange?: { min: number; max: number };
}

/** Fields that need no condition in the policy (AWS: the signature, file, policy, x-ignore-*). */
const EXEMPT = new Set(["x-amz-signature", "awsaccesskeyid", "signature", "file", "policy"]);

function denied(detail: string): AuthError {
  return new AuthError("AccessDenied", `Invalid according to Policy: ${detail}`);
}

function invalidPolicy(detail: string): AuthError {
  return new AuthError("InvalidArgument", `Invalid Policy: ${detail}`);
}

type Condition =
  | { kind: "eq" | "starts-with"; field: string; value: string }
  | { kind: "content-length-range"; min: number; max: number };

function parseCondition(raw: unknown): Condition {
  if (Array.isArray(raw)) {
    const op = String(raw[0]).toLowerCase();
    if (op === "content-length-range" && raw.length === 3) {
      const [min, max] = [Number(raw[1]), Number(raw[2])];
      if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || min > max) {
        throw invalidPolicy("content-length-range needs two integers, min ≤ max.");
      }
      return { kind: "content-length-range", min, max };
    }
    if ((op === "eq" || op === "starts-with") && raw.length === 3) {
      const [field, value] = [raw[1], raw[2]];
      if (typeof field !== "string" || !field.startsWith("$") || typeof value !== "string") {
        throw invalidPolicy(`condition ${JSON.stringify(raw)} is malformed.`);
      }
      return { kind: op, field: field.slice(1).toLowerCase(), value };
    }
  } else if (raw !== null && typeof raw === "object") {
    const entries = Object.entries(raw);
    if (entries.length === 1 && typeof entries[0][1] === "string") {
      return { kind: "eq", field: entries[0][0].toLowerCase(), value: entries[0][1] };
    }
  }
  throw invalidPolicy(`condition ${JSON.stringify(raw)} is not supported.`);
}

function parsePolicy(base64: string): { expiration: Date; conditions: Condition[] } {
  let document: { expiration?: unknown; conditions?: unknown };
  try {
    document = JSON.parse(Buffer.from(base64, "base64").toString("utf8"));
  } catch {
    throw invalidPolicy("the policy is not base64-encoded JSON.");
  }
  const expiration = typeof document.expiration === "string"
    ? new Date(document.expiration)
    : undefined;
  if (expiration === undefined || Number.isNaN(expiration.getTime())) {
    throw invalidPolicy("expiration is missing or not an ISO 8601 date.");
  }
  if (!Array.isArray(document.conditions)) throw invalidPolicy("conditions must be an array.");
  return { expiration, conditions: document.conditions.map(parseCondition) };
}

/** The credentials of a form's access key; temporary ones come with x-amz-security-token. */
async function lookupFormKey(
  accessKey: string,
  fields: Map<string, string>,
  options: AuthOptions,
): Promise<Credentials> {
  const credentials = await options.lookup(accessKey, fields.get("x-amz-security-token"));
  if (credentials === undefined) throw unknownAccessKey();
  return credentials;
}

/** The SigV2 signature of the policy: base64 HMAC-SHA1 under the secret of AWSAccessKeyId. */
async function checkSignatureV2(
  fields: Map<string, string>,
  options: AuthOptions,
): Promise<Credentials> {
  if (options.sigv2 === false) throw sigV2Refused();
  const accessKey = fields.get("awsaccesskeyid");
  const signature = fields.get("signature");
  const policy = fields.get("policy");
  if (accessKey === undefined || signature === undefined || policy === undefined) {
    throw new AuthError(
      "InvalidArgument",
      "A SigV2-signed POST needs the AWSAccessKeyId, Signature and Policy fields.",
    );
  }
  const credentials = await lookupFormKey(accessKey, fields, options);
  if (!signaturesEqual(hmacSha1Base64(credentials.secretKey, policy), signature)) {
    throw signatureMismatch();
  }
  return credentials;
}

/** Checks the signature of the policy; undefined when the form is anonymous. */
async function checkSignature(
  fields: Map<string, string>,
  options: AuthOptions,
): Promise<Credentials | undefined> {
  const v2 = fields.has("awsaccesskeyid") || fields.has("signature");
  if (v2 && fields.has("x-amz-signature")) {
    throw new AuthError(
      "InvalidArgument",
      "Only one auth mechanism allowed: Signature (SigV2) or X-Amz-Signature (SigV4).",
    );
  }
  if (v2) return await checkSignatureV2(fields, options);
  const signature = fields.get("x-amz-signature");
  if (signature === undefined) return undefined;
  const algorithm = fields.get("x-amz-algorithm");
  const credential = fields.get("x-amz-credential");
  const date = parseAmzDate(fields.get("x-amz-date") ?? "");
  const policy = fields.get("policy");
  if (algorithm !== "AWS4-HMAC-SHA256") {
    throw algorithm === "AWS4-ECDSA-P256-SHA256"
      ? new AuthError("NotImplemented", "Signature Version 4a is not supported.")
      : new AuthError("InvalidArgument", "X-Amz-Algorithm must be AWS4-HMAC-SHA256.");
  }
  if (credential === undefined || date === undefined || policy === undefined) {
    throw new AuthError(
      "InvalidArgument",
      "A signed POST needs the Policy, X-Amz-Credential and X-Amz-Date fields.",
    );
  }
  const malformed = (message: string) =>
    new AuthError("AuthorizationHeaderMalformed", `The X-Amz-Credential is malformed; ${message}`);
  const scope = parseCredential(credential, malformed);
  checkScope(scope, date, options.region, "s3", malformed);
  const credentials = await lookupFormKey(scope.accessKey, fields, options);
  const key = signingKey(
    credentials.accessKey,
    credentials.secretKey,
    scope.scopeDate,
    scope.region,
    scope.service,
  );
  if (!signaturesEqual(hmacHex(key, policy), signature)) throw signatureMismatch();
  return credentials;
}

/**
 * Verifies a POST form. `fields` are the form fields before the file (names in any case), with
 * "${filename}" in `key` already replaced; `bucket` is the bucket of the request URL.
 */
export async function verifyPostPolicy(
  formFields: Record<string, string>,
  bucket: string,
  options: AuthOptions,
): Promise<PostPolicyResult> {
  const fields = new Map(
    Object.entries(formFields).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const credentials = await checkSignature(fields, options);
  const accessKey = credentials?.accessKey ?? "";
  const principal = credentials?.principal ?? anonymousPrincipal(options.accountId ?? "");
  const policyText = fields.get("policy");
  if (policyText === undefined) {
    if (accessKey !== "") throw new AuthError("InvalidArgument", "A signed POST needs a Policy.");
    return { accessKey, principal };
  }
  const policy = parsePolicy(policyText);
  if ((options.now?.() ?? new Date()).getTime() > policy.expiration.getTime()) {
    throw denied("Policy expired.");
  }
  const values = new Map(fields);
  values.set("bucket", bucket);
  const covered = new Set<string>();
  let contentLengthRange: PostPolicyResult["contentLengthRange"];
  for (const condition of policy.conditions) {
    if (condition.kind === "content-length-range") {
      contentLengthRange = { min: condition.min, max: condition.max };
      continue;
    }
    covered.add(condition.field);
    const value = values.get(condition.field) ?? "";
    const ok = condition.kind === "eq"
      ? value === condition.value
      : value.startsWith(condition.value);
    if (!ok) {
      throw denied(
        `Policy Condition failed: ["${condition.kind}", "$${condition.field}", "${condition.value}"]`,
      );
    }
  }
  for (const name of fields.keys()) {
    if (EXEMPT.has(name) || name.startsWith("x-ignore-") || covered.has(name)) continue;
    throw denied(`Extra input fields: ${name}`);
  }
  return { accessKey, principal, contentLengthRange };
}
