/**
 * Session tokens in process: what one SessionTokens issues, another built from the same root
 * credentials (another node, a restart) accepts with the same secret; expired, altered, foreign
 * or mismatched tokens are refused with AWS's codes.
 */
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertNotEquals, assertRejects } from "./helpers/assert.ts";
import { AuthError } from "../src/auth/errors.ts";
import {
  CLOCK_TOLERANCE_SECONDS,
  isTemporaryAccessKey,
  type SessionIdentity,
  SessionTokens,
} from "../src/sts/tokens.ts";

const ROOT = { accessKey: "rootuser", secretKey: "rootpassword123" };
const ROLE_SESSION: SessionIdentity = {
  kind: "assumed-role",
  accountId: "123456789012",
  arn: "arn:aws:sts::123456789012:assumed-role/reader/app-1",
  userId: "AROAEXAMPLEROLEID0001:app-1",
  roleArn: "arn:aws:iam::123456789012:role/reader",
  policy: '{"Version":"2012-10-17","Statement":[]}',
  policyArns: ["arn:aws:iam::aws:policy/readonly"],
};

const inAnHour = () => new Date(Date.now() + 3600_000);

async function refused(promise: Promise<unknown>): Promise<AuthError> {
  return await assertRejects(() => promise, AuthError);
}

Deno.test("a token issued on one node verifies on another with the same secret", async () => {
  const issued = await new SessionTokens(ROOT).issue(ROLE_SESSION, inAnHour());
  assert(/^ASIA[A-Z2-7]{16}$/.test(issued.accessKey), issued.accessKey);
  assert(isTemporaryAccessKey(issued.accessKey));
  assertEquals(issued.secretKey.length, 40);
  const session = await new SessionTokens(ROOT).verify(issued.accessKey, issued.token);
  assertEquals(session.secretKey, issued.secretKey);
  assertEquals(session.expiration, issued.expiration);
  const { expiration: _, secretKey: __, token: ___, ...facts } = issued;
  const { expiration: _e, secretKey: _s, ...verified } = session;
  assertEquals(verified, { ...facts, userName: undefined });
});

Deno.test("every issue has its own key and secret", async () => {
  const tokens = new SessionTokens(ROOT);
  const [a, b] = await Promise.all([
    tokens.issue(ROLE_SESSION, inAnHour()),
    tokens.issue(ROLE_SESSION, inAnHour()),
  ]);
  assertNotEquals(a.accessKey, b.accessKey);
  assertNotEquals(a.secretKey, b.secretKey);
});

Deno.test("past its expiry a token is ExpiredToken, within the clock tolerance still good", async () => {
  const tokens = new SessionTokens(ROOT);
  const expired = await tokens.issue(ROLE_SESSION, new Date(Date.now() - 3600_000));
  const err = await refused(tokens.verify(expired.accessKey, expired.token));
  assertEquals([err.code, err.message], ["ExpiredToken", "The provided token has expired."]);
  // A token verified while good is not taken on trust later.
  const good = await tokens.issue(ROLE_SESSION, inAnHour());
  await tokens.verify(good.accessKey, good.token);
  const later = new Date(Date.now() + 2 * 3600_000);
  assertEquals(
    (await refused(tokens.verify(good.accessKey, good.token, later))).code,
    "ExpiredToken",
  );
  const justExpired = await tokens.issue(ROLE_SESSION, new Date(Date.now() - 5_000));
  assert(CLOCK_TOLERANCE_SECONDS > 5);
  await tokens.verify(justExpired.accessKey, justExpired.token);
});

Deno.test("altered, foreign or mismatched tokens are InvalidToken", async () => {
  const tokens = new SessionTokens(ROOT);
  const issued = await tokens.issue(ROLE_SESSION, inAnHour());
  await tokens.verify(issued.accessKey, issued.token);
  const [header, payload, signature] = issued.token.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString());
  const widened = Buffer.from(JSON.stringify({ ...claims, policy: undefined })).toString(
    "base64url",
  );
  const flipped = signature.slice(0, -2) + (signature.endsWith("AA") ? "BB" : "AA");
  const unsigned = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
  const cases: [string, string, string][] = [
    ["payload altered", issued.accessKey, `${header}.${widened}.${signature}`],
    ["signature altered", issued.accessKey, `${header}.${payload}.${flipped}`],
    ["alg none", issued.accessKey, `${unsigned}.${payload}.`],
    ["not a JWT", issued.accessKey, "FwoGZXIvYXdzEJr//////////wEaDAbc"],
    ["another key's token", "ASIAAAAAAAAAAAAAAAAA", issued.token],
    ["a long-term key", "AKIAIOSFODNN7EXAMPLE", issued.token],
    ["oversized", issued.accessKey, "a".repeat(20_000)],
  ];
  for (const [what, accessKey, token] of cases) {
    const err = await refused(tokens.verify(accessKey, token));
    assertEquals(err.code, "InvalidToken", what);
  }
  const rotated = new SessionTokens({ ...ROOT, secretKey: "anotherpassword" });
  assertEquals(
    (await refused(rotated.verify(issued.accessKey, issued.token))).code,
    "InvalidToken",
  );
});
