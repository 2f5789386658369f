/**
 * The condition keys of an S3 request (AWS's global `aws:` keys and S3's `s3:` keys), as the
 * policy evaluator reads them: a map from lower-case key to values, where a key the request
 * does not carry is absent. Values are computed when first asked for, so a cached decision
 * costs only the keys its statements read. The tags a request gives an object are the keys
 * s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys; the object's own tags
 * (s3:ExistingObjectTag/<key>) are added by the authorizer, which reads them when asked.
 */
import type { Principal } from "./principal.ts";

/** What of a request its condition keys are taken from. */
export interface RequestSubject {
  principal: Principal;
  /** The headers the request acts on (a presigned URL's signed x-amz-* parameters included). */
  headers: Headers;
  query: URLSearchParams;
  /** The connection's remote address (no port). */
  remoteAddr: string;
  /** Received over TLS. */
  secure: boolean;
  /** A browser form upload (POST Object): s3:authType "POST". */
  form: boolean;
  /** The tags the request gives an object when they come in its body (PutObjectTagging);
   *  otherwise they are read from the x-amz-tagging header. */
  requestTags?: readonly { key: string; value: string }[];
}

const REQUEST_TAG = "s3:requestobjecttag/";
const REQUEST_TAG_KEYS = "s3:requestobjecttagkeys";
const EXISTING_TAG = "s3:existingobjecttag/";

/** The tags of a tag set in x-amz-tagging form (URL-encoded `k1=v1&k2=v2`), as stored too. */
function tagsOf(query: string): { key: string; value: string }[] {
  return [...new URLSearchParams(query)].map(([key, value]) => ({ key, value }));
}

/** Tag keys as condition keys: lower case, as the evaluator asks for every key. */
function tagKeys(prefix: string, tags: readonly { key: string; value: string }[]) {
  return tags.map(({ key, value }): [string, readonly string[]] => [
    prefix + key.toLowerCase(),
    [value],
  ]);
}

/** Whether an evaluation that read `keys` depends on the object's stored tags. */
export function readsExistingObjectTags(keys: Iterable<string>): boolean {
  for (const key of keys) if (key.startsWith(EXISTING_TAG)) return true;
  return false;
}

/** `conditions` with the object's stored tags (x-amz-tagging form) as s3:ExistingObjectTag keys. */
export function withExistingObjectTags(
  conditions: ReadonlyMap<string, readonly string[]>,
  stored: string | undefined,
): ReadonlyMap<string, readonly string[]> {
  return new Map([...conditions, ...tagKeys(EXISTING_TAG, tagsOf(stored ?? ""))]);
}

const PRINCIPAL_TYPES: Record<Principal["kind"], string> = {
  root: "Account",
  user: "User",
  "assumed-role": "AssumedRole",
  anonymous: "Anonymous",
};

/** Every key this module can answer, lower case. */
const KEYS = [
  "aws:sourceip",
  "aws:securetransport",
  "aws:currenttime",
  "aws:epochtime",
  "aws:useragent",
  "aws:referer",
  "aws:username",
  "aws:userid",
  "aws:principalarn",
  "aws:principaltype",
  "aws:principalaccount",
  "s3:prefix",
  "s3:delimiter",
  "s3:max-keys",
  "s3:x-amz-acl",
  "s3:x-amz-copy-source",
  "s3:x-amz-metadata-directive",
  "s3:x-amz-server-side-encryption",
  "s3:x-amz-server-side-encryption-aws-kms-key-id",
  "s3:versionid",
  "s3:signatureversion",
  "s3:authtype",
] as const;

/** Condition keys that are request headers of the same name. */
const HEADER_KEYS: ReadonlyMap<string, string> = new Map([
  ["aws:useragent", "user-agent"],
  ["aws:referer", "referer"],
  ["s3:x-amz-acl", "x-amz-acl"],
  ["s3:x-amz-copy-source", "x-amz-copy-source"],
  ["s3:x-amz-metadata-directive", "x-amz-metadata-directive"],
  ["s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"],
  ["s3:x-amz-server-side-encryption-aws-kms-key-id", "x-amz-server-side-encryption-aws-kms-key-id"],
]);

/** Condition keys that are query parameters. */
const QUERY_KEYS: ReadonlyMap<string, string> = new Map([
  ["s3:prefix", "prefix"],
  ["s3:delimiter", "delimiter"],
  ["s3:max-keys", "max-keys"],
  ["s3:versionid", "versionId"],
]);

/** How the request was signed: [s3:signatureversion, s3:authType]; none when anonymous. */
function signing(subject: RequestSubject): [string, string] | undefined {
  if (subject.principal.kind === "anonymous") return undefined;
  const authorization = subject.headers.get("authorization");
  const v4 = authorization !== null
    ? authorization.startsWith("AWS4-")
    : subject.query.has("X-Amz-Signature") || subject.form && !subject.query.has("Signature");
  const type = subject.form ? "POST" : authorization !== null ? "REST-HEADER" : "REST-QUERY-STRING";
  return [v4 ? "AWS4-HMAC-SHA256" : "AWS", type];
}

/** The tags of an x-amz-tagging header (the handler refuses a malformed one). */
function headerTags(headers: Headers): { key: string; value: string }[] {
  return tagsOf(headers.get("x-amz-tagging") ?? "");
}

/** aws:CurrentTime in AWS's form: ISO 8601 in UTC, whole seconds. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}

export class RequestConditions implements ReadonlyMap<string, readonly string[]> {
  readonly #subject: RequestSubject;
  readonly #now: number;

  constructor(subject: RequestSubject, now: number = Date.now()) {
    this.#subject = subject;
    this.#now = now;
  }

  get(key: string): readonly string[] | undefined {
    if (key.startsWith(REQUEST_TAG) || key === REQUEST_TAG_KEYS) return this.#tagKeys().get(key);
    const value = this.#value(key);
    return value === undefined ? undefined : [value];
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  get size(): number {
    return this.#present().length;
  }

  forEach(
    callback: (
      value: readonly string[],
      key: string,
      map: ReadonlyMap<string, readonly string[]>,
    ) => void,
  ): void {
    for (const [key, value] of this.#present()) callback(value, key, this);
  }

  entries(): MapIterator<[string, readonly string[]]> {
    return this.#present()[Symbol.iterator]();
  }

  keys(): MapIterator<string> {
    return this.#present().map(([key]) => key)[Symbol.iterator]();
  }

  values(): MapIterator<readonly string[]> {
    return this.#present().map(([, value]) => value)[Symbol.iterator]();
  }

  [Symbol.iterator](): MapIterator<[string, readonly string[]]> {
    return this.entries();
  }

  #present(): [string, readonly string[]][] {
    const keys = KEYS.flatMap((key): [string, readonly string[]][] => {
      const value = this.#value(key);
      return value === undefined ? [] : [[key, [value]]];
    });
    return [...keys, ...this.#tagKeys()];
  }

  #requestTags: ReadonlyMap<string, readonly string[]> | undefined;

  /** s3:RequestObjectTag/<key> and s3:RequestObjectTagKeys (absent without tags). */
  #tagKeys(): ReadonlyMap<string, readonly string[]> {
    if (this.#requestTags !== undefined) return this.#requestTags;
    const tags = this.#subject.requestTags ?? headerTags(this.#subject.headers);
    const keys = new Map(tagKeys(REQUEST_TAG, tags));
    if (tags.length > 0) keys.set(REQUEST_TAG_KEYS, tags.map((t) => t.key));
    this.#requestTags = keys;
    return keys;
  }

  /** The value of a lower-case key, undefined when the request does not carry it. */
  #value(key: string): string | undefined {
    const subject = this.#subject;
    const principal = subject.principal;
    const header = HEADER_KEYS.get(key);
    if (header !== undefined) return subject.headers.get(header) ?? undefined;
    const parameter = QUERY_KEYS.get(key);
    if (parameter !== undefined) return subject.query.get(parameter) ?? undefined;
    switch (key) {
      case "aws:sourceip":
        return subject.remoteAddr === "" ? undefined : subject.remoteAddr;
      case "aws:securetransport":
        return subject.secure ? "true" : "false";
      case "aws:currenttime":
        return isoSeconds(this.#now);
      case "aws:epochtime":
        return String(Math.floor(this.#now / 1000));
      case "aws:username":
        return principal.kind === "user" ? principal.userName : undefined;
      case "aws:userid":
        return principal.kind === "anonymous" ? "anonymous" : principal.userId;
      case "aws:principalarn":
        return principal.kind === "anonymous"
          ? undefined
          : principal.kind === "assumed-role"
          ? principal.roleArn ?? principal.arn
          : principal.arn;
      case "aws:principaltype":
        return PRINCIPAL_TYPES[principal.kind];
      case "aws:principalaccount":
        return principal.kind === "anonymous" ? undefined : principal.accountId;
      case "s3:signatureversion":
        return signing(subject)?.[0];
      case "s3:authtype":
        return signing(subject)?.[1];
    }
    return undefined;
  }
}
