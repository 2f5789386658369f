/**
 * The authorize step of the S3 pipeline: the permissions a route names (router.ts) are asked of
 * the authorizer before its handler runs; handlers ask for what only they can name (each key of
 * a DeleteObjects, a POST form's key, the buckets ListBuckets shows) through the same access.
 */
import type { Authorizer } from "../iam/authorize.ts";
import type { Principal } from "../iam/principal.ts";
import { RequestConditions, type RequestSubject } from "../iam/request-conditions.ts";
import { S3Error } from "./errors.ts";
import { parseCopySource } from "./object.ts";
import type { Route, S3Action, S3Operation } from "./router.ts";

/** What a request may do, as its principal (or, for a POST form, the form's signer). */
export interface RequestAccess {
  allowed(
    action: S3Action,
    bucket: string,
    key?: string,
    principal?: Principal,
  ): boolean | Promise<boolean>;
  /**
   * Whether the request's principal may perform an action outside S3 (kms:Decrypt …) on the
   * resource of that ARN; only identity and session policies speak of such resources.
   */
  allowedOn(action: string, arn: string, principal?: Principal): boolean;
  /** The same request giving its object these tags (read from its body: PutObjectTagging). */
  withRequestTags(tags: readonly { key: string; value: string }[]): RequestAccess;
  /**
   * The same request naming this version of the object it asks about (a copy's source): its
   * s3:versionid, and the version whose ACL and tags are read.
   */
  withVersion(versionId: string | undefined): RequestAccess;
}

export function requestAccess(authorizer: Authorizer, subject: RequestSubject): RequestAccess {
  let conditions: RequestConditions | undefined;
  /** The request's condition keys as `principal` makes it (a POST form's signer, say). */
  const conditionsOf = (principal: Principal) =>
    principal === subject.principal
      ? conditions ??= new RequestConditions(subject)
      : new RequestConditions({ ...subject, principal });
  return {
    allowed(action, bucket, key, principal = subject.principal) {
      if (principal.kind === "root") return true;
      return authorizer.allowed(principal, conditionsOf(principal), action, bucket, key);
    },
    allowedOn(action, arn, principal = subject.principal) {
      return authorizer.allowedOn(principal, conditionsOf(principal), action, arn);
    },
    withRequestTags: (requestTags) => requestAccess(authorizer, { ...subject, requestTags }),
    withVersion(versionId) {
      const query = new URLSearchParams(subject.query);
      if (versionId === undefined) query.delete("versionId");
      else query.set("versionId", versionId);
      return requestAccess(authorizer, { ...subject, query });
    },
  };
}

/** Operations whose request tags come in the body: their handler authorizes once it has them. */
const TAGS_IN_BODY: ReadonlySet<S3Operation> = new Set(["PutObjectTagging"]);

/** AccessDenied: the same answer whatever was refused, so a refusal reveals nothing. */
export function accessDenied(): S3Error {
  return new S3Error("AccessDenied");
}

/**
 * Refuses the request unless every permission its route names in advance is allowed. A route
 * whose tags come in its body is authorized by its handler, with `bodyRead`, once it has them.
 */
export async function authorizeRoute(
  route: Route,
  access: RequestAccess,
  headers: Headers,
  bodyRead = false,
): Promise<void> {
  if (TAGS_IN_BODY.has(route.op) && !bodyRead) return;
  for (const permission of route.permissions) {
    const action = route.versionId !== undefined && permission.ofVersion
      ? permission.ofVersion
      : permission.action;
    let allowed: boolean | Promise<boolean>;
    switch (permission.on) {
      case "bucket":
        allowed = access.allowed(action, route.bucket);
        break;
      case "object":
        allowed = access.allowed(action, route.bucket, route.key);
        break;
      case "copy-source": {
        // The source names its own version (x-amz-copy-source: /b/k?versionId=…).
        const source = parseCopySource(headers.get("x-amz-copy-source") ?? "");
        const read = source.versionId !== undefined && permission.ofVersion
          ? permission.ofVersion
          : permission.action;
        allowed = access.withVersion(source.versionId).allowed(read, source.bucket, source.key);
        break;
      }
      default:
        continue;
    }
    if (!(allowed === true || await allowed)) throw accessDenied();
  }
}

/**
 * Whether a NoSuchKey may be told: only to a caller allowed s3:ListBucket on the bucket the key
 * was looked for in (a copy's source bucket), as AWS; others get AccessDenied.
 */
export async function mayTellMissingKey(
  request: { route: Route; access: RequestAccess; headers: Headers },
): Promise<boolean> {
  const { route, access, headers } = request;
  const copies = route.permissions.some((p) => p.on === "copy-source");
  const bucket = copies
    ? parseCopySource(headers.get("x-amz-copy-source") ?? "").bucket
    : route.bucket;
  return await access.allowed("s3:ListBucket", bucket);
}
