/**
 * The condition keys of an S3 request (AWS's global `aws:` keys and S3's `s3:` keys), as the
 * policy evaluator reads them: a map from lower-case key to values, where a key the request
 * does not carry is absent. Values are computed when first asked for, so a cached decision
 * costs only the keys its statements read.
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
    const value = this.#value(key);
    return value === undefined ? undefined : [value];
  }

  has(key: string): boolean {
    return this.#value(key) !== undefined;
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
    return KEYS.flatMap((key): [string, readonly string[]][] => {
      const value = this.#value(key);
      return value === undefined ? [] : [[key, [value]]];
    });
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
