/**
 * Authentication of requests between the nodes of a deployment. Every node derives the same
 * key from the root credentials (HKDF), so a node proves it was started with them without ever
 * sending them; a node with other credentials, or anyone else, cannot make a token. A token is a
 * short-lived JWT (HS256, npm:jose) naming the node that sent it; its issue time must lie within
 * the clock-skew limit of the receiver's clock, which is also the limit bootstrap enforces
 * between nodes (lock expiry, STS expiry and retention dates all compare clocks of nodes).
 */
import { hkdfSync } from "node:crypto";
import { errors, jwtVerify, SignJWT } from "jose";

/** The largest clock difference allowed between two nodes (and on a token's issue time). */
export const MAX_CLOCK_SKEW_MS = 5_000;
/** A token is reissued this often; receivers accept it for TOKEN_TTL_MS + the skew. */
const TOKEN_REFRESH_MS = 30_000;
const TOKEN_TTL_MS = 60_000;
const AUDIENCE = "flashstor-internode-v1";
/** Tokens already verified → their expiry (ms): one map lookup instead of an HMAC per call. */
const MAX_VERIFIED = 1_000;
const MAX_TOKEN_BYTES = 2_048;

export interface RootCredentials {
  accessKey: string;
  secretKey: string;
}

/** Why a request was refused: said in the answer (never more than the caller could learn). */
export class InternodeAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InternodeAuthError";
  }
}

export class InternodeAuth {
  readonly #key: Uint8Array;
  #token?: { value: string; renewAt: number };
  readonly #verified = new Map<string, { node: string; expires: number }>();

  /** `node` names this node in the tokens it sends (its host:port). */
  constructor(root: RootCredentials, readonly node: string) {
    const material = new TextEncoder().encode(`${root.accessKey}\n${root.secretKey}`);
    this.#key = new Uint8Array(hkdfSync("sha256", material, AUDIENCE, "internode-token", 32));
  }

  /** The `Authorization` header value for a request to a peer. */
  async authorization(): Promise<string> {
    const now = Date.now();
    if (!this.#token || now >= this.#token.renewAt) {
      const value = await new SignJWT({})
        .setProtectedHeader({ alg: "HS256" })
        .setIssuer(this.node)
        .setAudience(AUDIENCE)
        .setIssuedAt(Math.floor(now / 1000))
        .setExpirationTime(Math.floor((now + TOKEN_TTL_MS) / 1000))
        .sign(this.#key);
      this.#token = { value, renewAt: now + TOKEN_REFRESH_MS };
    }
    return `Bearer ${this.#token.value}`;
  }

  /**
   * Verifies a request's `Authorization` header; resolves to the sending node's name. Throws
   * InternodeAuthError saying what is wrong (missing, S3 credentials, bad signature: other
   * root credentials, outside the clock-skew window).
   */
  async verify(header: string | null): Promise<string> {
    if (!header) throw new InternodeAuthError("missing internode token");
    if (/^AWS4-HMAC-SHA256 |^AWS /.test(header)) {
      throw new InternodeAuthError("S3 credentials are not accepted on the internode API");
    }
    if (!header.startsWith("Bearer ") || header.length > MAX_TOKEN_BYTES) {
      throw new InternodeAuthError("malformed internode token");
    }
    const token = header.slice(7);
    const now = Date.now();
    const known = this.#verified.get(token);
    if (known && known.expires > now) return known.node;
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        audience: AUDIENCE,
        algorithms: ["HS256"],
        clockTolerance: Math.ceil(MAX_CLOCK_SKEW_MS / 1000),
        maxTokenAge: Math.ceil((TOKEN_TTL_MS + MAX_CLOCK_SKEW_MS) / 1000),
        requiredClaims: ["iss", "iat", "exp"],
      });
      if (typeof payload.iss !== "string") throw new InternodeAuthError("token names no node");
      if ((payload.iat ?? 0) * 1000 > now + MAX_CLOCK_SKEW_MS) {
        throw new InternodeAuthError("token issued in the future: clocks differ too much");
      }
      if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
      this.#verified.set(token, { node: payload.iss, expires: (payload.exp ?? 0) * 1000 });
      return payload.iss;
    } catch (err) {
      if (err instanceof InternodeAuthError) throw err;
      if (err instanceof errors.JWSSignatureVerificationFailed) {
        throw new InternodeAuthError(
          "token signature does not match: the sender has other root credentials",
        );
      }
      if (err instanceof errors.JWTExpired || err instanceof errors.JWTClaimValidationFailed) {
        throw new InternodeAuthError(`token refused: ${err.message} (clocks differ?)`);
      }
      throw new InternodeAuthError("malformed internode token");
    }
  }
}
