/**
 * Temporary credentials (STS) as stateless tokens: nothing is stored per session. The session
 * token is a JWT (HS256, signed with npm:jose) carrying who the session acts as, its session
 * policies and its expiry; the access key is `ASIA` + 16 random characters; the secret is derived
 * from the key and never stored. Both keys (the token's and the secrets') are derived by HKDF
 * from the root credentials, so every node and every restart accepts the tokens without sharing
 * any state — and changing the root credentials invalidates every temporary credential issued.
 */
import { Buffer } from "node:buffer";
import { createHmac, hkdfSync } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";
import { expiredToken, invalidToken } from "../auth/errors.ts";

/** Who a session acts as: the facts the token carries. */
export interface SessionIdentity {
  kind: "root" | "user" | "assumed-role";
  accountId: string;
  /** aws:PrincipalArn of the session (the user's ARN, or the assumed-role session's ARN). */
  arn: string;
  /** aws:userid: the user's id, `<role id>:<session>`, or the account id for root. */
  userId: string;
  /** The user a GetSessionToken session belongs to. */
  userName?: string;
  /** The role an AssumeRole session is of. */
  roleArn?: string;
  /** The session policy passed as `Policy`, exactly as sent. */
  policy?: string;
  /** The managed policies passed as `PolicyArns`, resolved at each use. */
  policyArns?: string[];
}

/** What verifying a session token proves: the identity, its expiry, and the key's secret. */
export interface Session extends SessionIdentity {
  accessKey: string;
  secretKey: string;
  expiration: Date;
}

/** Seconds a token stays good past its expiry, for clocks of nodes that disagree a little. */
export const CLOCK_TOLERANCE_SECONDS = 30;
/** Sessions already verified, by token: a request with a known token costs a map lookup
 *  instead of an HMAC (about 100 µs through WebCrypto). Cleared when full. */
const MAX_VERIFIED = 10_000;
/** Longer than any token issued (a 2 KiB policy, ten ARNs): refused unread. */
const MAX_TOKEN_BYTES = 16 * 1024;
const ISSUER = "flashstor-sts";
const ACCESS_KEY_PREFIX = "ASIA";
const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ACCESS_KEY_PATTERN = /^ASIA[A-Z2-7]{16}$/;
const KINDS = new Set(["root", "user", "assumed-role"]);

/** Whether an access key is of temporary credentials (the lookup asks the tokens, not IAM). */
export function isTemporaryAccessKey(accessKey: string): boolean {
  return accessKey.startsWith(ACCESS_KEY_PREFIX);
}

function derive(root: { accessKey: string; secretKey: string }, purpose: string): Uint8Array {
  const material = new TextEncoder().encode(`${root.accessKey}\n${root.secretKey}`);
  return new Uint8Array(hkdfSync("sha256", material, "flashstor-sts-v1", purpose, 32));
}

function randomAccessKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let key = ACCESS_KEY_PREFIX;
  for (const byte of bytes) key += KEY_ALPHABET[byte & 31];
  return key;
}

function optionalString(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw invalidToken();
  return value;
}

function requiredString(value: unknown): string {
  if (typeof value !== "string" || value === "") throw invalidToken();
  return value;
}

/** Issues and verifies the session tokens of one deployment (one set of root credentials). */
export class SessionTokens {
  readonly #signingKey: Uint8Array;
  readonly #secretKey: Uint8Array;
  readonly #verified = new Map<string, Session>();

  constructor(root: { accessKey: string; secretKey: string }) {
    this.#signingKey = derive(root, "session-token");
    this.#secretKey = derive(root, "temporary-secret");
  }

  /** The secret of a temporary access key: the same on every node, stored nowhere. */
  #secretOf(accessKey: string): string {
    const mac = createHmac("sha256", this.#secretKey).update(accessKey).digest();
    return Buffer.from(mac.subarray(0, 30)).toString("base64");
  }

  /** New temporary credentials for `identity`, good until `expiration`. */
  async issue(identity: SessionIdentity, expiration: Date): Promise<Session & { token: string }> {
    const accessKey = randomAccessKey();
    // A JWT's exp is in whole seconds: the expiry reported is the one enforced.
    const exp = Math.floor(expiration.getTime() / 1000);
    const token = await new SignJWT({ ak: accessKey, ...identity })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(this.#signingKey);
    return {
      ...identity,
      accessKey,
      secretKey: this.#secretOf(accessKey),
      expiration: new Date(exp * 1000),
      token,
    };
  }

  /**
   * The session of `token`, which must have been issued for `accessKey`. Throws AuthError
   * ExpiredToken past its expiry (plus the tolerance), InvalidToken when it was not issued
   * here, was altered, or names another key.
   */
  async verify(accessKey: string, token: string, now = new Date()): Promise<Session> {
    if (!ACCESS_KEY_PATTERN.test(accessKey) || token.length > MAX_TOKEN_BYTES) {
      throw invalidToken();
    }
    const known = this.#verified.get(token);
    const goodUntil = (known?.expiration.getTime() ?? 0) + CLOCK_TOLERANCE_SECONDS * 1000;
    // A known token past its expiry is verified again, which answers ExpiredToken.
    if (known?.accessKey === accessKey && now.getTime() <= goodUntil) return known;
    const session = await this.#verifyToken(accessKey, token, now);
    if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
    this.#verified.set(token, session);
    return session;
  }

  async #verifyToken(accessKey: string, token: string, now: Date): Promise<Session> {
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(token, this.#signingKey, {
        algorithms: ["HS256"],
        issuer: ISSUER,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: now,
        requiredClaims: ["exp"],
      });
      claims = verified.payload as Record<string, unknown>;
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw expiredToken();
      if (err instanceof errors.JOSEError || err instanceof TypeError) throw invalidToken();
      throw err;
    }
    if (claims.ak !== accessKey || !KINDS.has(claims.kind as string)) throw invalidToken();
    const policyArns = claims.policyArns;
    if (
      policyArns !== undefined &&
      !(Array.isArray(policyArns) && policyArns.every((arn) => typeof arn === "string"))
    ) {
      throw invalidToken();
    }
    return {
      kind: claims.kind as SessionIdentity["kind"],
      accountId: requiredString(claims.accountId),
      arn: requiredString(claims.arn),
      userId: requiredString(claims.userId),
      userName: optionalString(claims.userName),
      roleArn: optionalString(claims.roleArn),
      policy: optionalString(claims.policy),
      policyArns: policyArns as string[] | undefined,
      accessKey,
      secretKey: this.#secretOf(accessKey),
      expiration: new Date((claims.exp as number) * 1000),
    };
  }
}
