/** Evaluation: action and resource wildcards, policy variables in resources, Not* elements,
 *  principals, deny precedence, AWS's combination of identity, bucket, ACL and session
 *  policies, the built-in policies, and what an evaluation reports having read. */

import { assert, assertEquals } from "./helpers/assert.ts";
import { evaluatePolicies } from "../src/iam/policy/evaluate.ts";
import { decide } from "../src/iam/policy/decide.ts";
import { BUILTIN_POLICIES } from "../src/iam/policy/builtin.ts";
import { Pattern } from "../src/iam/policy/wildcard.ts";
import {
  ACCOUNT,
  alice,
  allowIf,
  anonymous,
  bob,
  facts,
  policy,
  roleSession,
  root,
} from "./iam_policy_util.ts";

const OBJ = "arn:aws:s3:::photos/2026/a.jpg";
const allow = (action: unknown, resource: unknown = "*") =>
  policy("identity", { Effect: "Allow", Action: action, Resource: resource });
const deny = (action: unknown, resource: unknown = "*") =>
  policy("identity", { Effect: "Deny", Action: action, Resource: resource });
const verdict = (docs: Parameters<typeof evaluatePolicies>[0], f = facts("s3:GetObject", OBJ)) =>
  evaluatePolicies(docs, f).verdict;

Deno.test("actions: exact, case-insensitive, service and name wildcards", () => {
  assertEquals(verdict([allow("s3:GetObject")]), "allow");
  assertEquals(verdict([allow("S3:GETOBJECT")]), "allow");
  assertEquals(verdict([allow("s3:getobject")], facts("S3:GetObject", OBJ)), "allow");
  assertEquals(verdict([allow("s3:*")]), "allow");
  assertEquals(verdict([allow("*")]), "allow");
  assertEquals(verdict([allow("s3:Get*")]), "allow");
  assertEquals(verdict([allow("s3:*Object")]), "allow");
  assertEquals(verdict([allow("s3:?etObject")]), "allow");
  assertEquals(verdict([allow("s3:Put*")]), "none");
  assertEquals(verdict([allow("s3:GetObjectAcl")]), "none");
  assertEquals(verdict([allow("s3:GetObject*")], facts("s3:GetObjectAcl", OBJ)), "allow");
  assertEquals(verdict([allow("iam:*")]), "none");
  assertEquals(
    verdict([allow("iam:*")], facts("iam:CreateUser", "arn:aws:iam::1:user/x")),
    "allow",
  );
});

Deno.test("resources: exact, wildcards within and across path segments, case-sensitive", () => {
  assertEquals(verdict([allow("*", OBJ)]), "allow");
  assertEquals(verdict([allow("*", "arn:aws:s3:::photos/*")]), "allow");
  assertEquals(verdict([allow("*", "arn:aws:s3:::photos/202?/*.jpg")]), "allow");
  assertEquals(verdict([allow("*", "arn:aws:s3:::*")]), "allow");
  assertEquals(verdict([allow("*", "arn:aws:s3:::photos")]), "none");
  assertEquals(verdict([allow("*", "arn:aws:s3:::Photos/*")]), "none");
  assertEquals(verdict([allow("*", "arn:aws:s3:::photos/*.png")]), "none");
  assertEquals(verdict([allow("*", ["arn:aws:s3:::x/*", "arn:aws:s3:::photos/*"])]), "allow");
});

Deno.test("resources: policy variables from the request; no value → no match", () => {
  const home = allow("s3:*", "arn:aws:s3:::home/${aws:username}/*");
  const of = (key: string, username?: string) =>
    facts("s3:PutObject", `arn:aws:s3:::home/${key}`, username ? { "aws:username": username } : {});
  assertEquals(verdict([home], of("alice/notes.txt", "alice")), "allow");
  assertEquals(verdict([home], of("bob/notes.txt", "alice")), "none");
  assertEquals(verdict([home], of("alice/notes.txt")), "none");
  const byId = allow("s3:*", "arn:aws:s3:::home/${aws:userid}/*");
  assertEquals(
    verdict([byId], facts("s3:GetObject", "arn:aws:s3:::home/AIDA1/x", { "aws:userid": "AIDA1" })),
    "allow",
  );
  const e = evaluatePolicies([home], of("alice/notes.txt", "alice"));
  assert(e.keysRead.has("aws:username"), "the variable is a key read");
});

Deno.test("NotAction / NotResource: the statement applies to everything else", () => {
  const allExceptDelete = policy("identity", {
    Effect: "Allow",
    NotAction: "s3:Delete*",
    Resource: "*",
  });
  assertEquals(verdict([allExceptDelete]), "allow");
  assertEquals(verdict([allExceptDelete], facts("s3:DeleteObject", OBJ)), "none");
  const denyOutsidePublic = policy("identity", {
    Effect: "Deny",
    Action: "s3:GetObject",
    NotResource: "arn:aws:s3:::photos/public/*",
  });
  assertEquals(verdict([allow("*"), denyOutsidePublic]), "deny");
  assertEquals(
    verdict([allow("*"), denyOutsidePublic], facts("s3:GetObject", "arn:aws:s3:::photos/public/x")),
    "allow",
  );
});

Deno.test("explicit deny beats any allow, in any order and any policy", () => {
  assertEquals(verdict([allow("*"), deny("s3:GetObject")]), "deny");
  assertEquals(verdict([deny("s3:GetObject"), allow("*")]), "deny");
  assertEquals(
    verdict([
      policy("identity", { Effect: "Allow", Action: "*", Resource: "*" }, {
        Effect: "Deny",
        Action: "s3:Get*",
        Resource: OBJ,
      }),
    ]),
    "deny",
  );
  assertEquals(verdict([deny("s3:PutObject"), allow("*")]), "allow");
  assertEquals(verdict([]), "none");
  assertEquals(verdict([deny("*")]), "deny");
});

Deno.test("principals in bucket and trust policies: *, user ARNs, role ARNs (their sessions), session ARNs, unique ids, the account", () => {
  const grant = (principal: unknown, notPrincipal = false) =>
    policy("resource", {
      Effect: "Allow",
      [notPrincipal ? "NotPrincipal" : "Principal"]: principal,
      Action: "s3:GetObject",
      Resource: "arn:aws:s3:::photos/*",
    });
  const as = (p: typeof alice, doc: ReturnType<typeof grant>) =>
    evaluatePolicies([doc], facts("s3:GetObject", OBJ, {}, p)).verdict;
  for (const everyone of ["*", { AWS: "*" }]) {
    for (const p of [alice, anonymous, roleSession]) assertEquals(as(p, grant(everyone)), "allow");
  }
  const toAlice = grant({ AWS: alice.arn });
  assertEquals(as(alice, toAlice), "allow");
  assertEquals(as(bob, toAlice), "none");
  assertEquals(as(anonymous, toAlice), "none");
  const toRole = grant({ AWS: `arn:aws:iam::${ACCOUNT}:role/reader` });
  assertEquals(as(roleSession, toRole), "allow");
  assertEquals(as(alice, toRole), "none");
  assertEquals(as(roleSession, grant({ AWS: roleSession.arn })), "allow");
  assertEquals(as(alice, grant({ AWS: alice.userId })), "allow");
  assertEquals(as(roleSession, grant({ AWS: "AROAREADER000000000X" })), "allow");
  // The account (by id or :root) names its root, not every user (AWS: it delegates to the
  // account's identity policies).
  for (const account of [ACCOUNT, `arn:aws:iam::${ACCOUNT}:root`]) {
    assertEquals(as(root, grant({ AWS: account })), "allow");
    assertEquals(as(alice, grant({ AWS: account })), "none");
  }
  assertEquals(as(root, grant({ AWS: "999999999999" })), "none");
  // Service and CanonicalUser principals name no one Flashstor authenticates.
  assertEquals(as(alice, grant({ Service: "s3.amazonaws.com" })), "none");
  // NotPrincipal: everyone except.
  const notAlice = grant({ AWS: alice.arn }, true);
  assertEquals(as(alice, notAlice), "none");
  assertEquals(as(bob, notAlice), "allow");
  assertEquals(as(anonymous, notAlice), "allow");
});

Deno.test("a trust policy (no Resource) applies to any resource", () => {
  const trust = policy("trust", {
    Effect: "Allow",
    Principal: { AWS: alice.arn },
    Action: "sts:AssumeRole",
  });
  const f = (p: typeof alice) =>
    facts("sts:AssumeRole", `arn:aws:iam::${ACCOUNT}:role/reader`, {}, p);
  assertEquals(evaluatePolicies([trust], f(alice)).verdict, "allow");
  assertEquals(evaluatePolicies([trust], f(bob)).verdict, "none");
});

Deno.test("decide: identity OR bucket policy OR ACL allows; explicit deny anywhere wins", () => {
  const f = facts("s3:GetObject", OBJ);
  const bucketAllowsAlice = policy("resource", {
    Effect: "Allow",
    Principal: { AWS: alice.arn },
    Action: "s3:GetObject",
    Resource: "arn:aws:s3:::photos/2026/*",
  });
  const bucketDeniesAll = policy("resource", {
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: "arn:aws:s3:::photos/*",
  });
  const v = (sources: Parameters<typeof decide>[0]) => decide(sources, f).verdict;
  assertEquals(v({ identity: [] }), "none");
  assertEquals(v({ identity: [allow("*")] }), "allow");
  assertEquals(v({ identity: [], resource: bucketAllowsAlice }), "allow");
  assertEquals(v({ identity: [], aclAllows: true }), "allow");
  assertEquals(v({ identity: [], aclAllows: false }), "none");
  assertEquals(v({ identity: [allow("*")], resource: bucketDeniesAll }), "deny");
  assertEquals(v({ identity: [], aclAllows: true, resource: bucketDeniesAll }), "deny");
  assertEquals(v({ identity: [deny("*")], resource: bucketAllowsAlice }), "deny");
  assertEquals(v({ identity: [deny("*")], aclAllows: true }), "deny");
});

Deno.test("decide: session policies narrow — both the identity (or bucket) and the session must allow", () => {
  const f = facts("s3:GetObject", OBJ, {}, roleSession);
  const onlyPhotos2026 = policy("session", {
    Effect: "Allow",
    Action: "s3:GetObject",
    Resource: "arn:aws:s3:::photos/2026/*",
  });
  const onlyOther = policy("session", {
    Effect: "Allow",
    Action: "s3:GetObject",
    Resource: "arn:aws:s3:::other/*",
  });
  const v = (sources: Parameters<typeof decide>[0], fx = f) => decide(sources, fx).verdict;
  assertEquals(v({ identity: [allow("*")], session: [onlyPhotos2026] }), "allow");
  assertEquals(v({ identity: [allow("*")], session: [onlyOther] }), "none");
  assertEquals(v({ identity: [allow("s3:PutObject")], session: [onlyPhotos2026] }), "none");
  assertEquals(v({ identity: [allow("*")], session: [onlyOther, onlyPhotos2026] }), "allow");
  assertEquals(v({ identity: [allow("*")], session: [deny("s3:GetObject")] }), "deny");
  // A session policy cannot grant beyond the identity.
  assertEquals(v({ identity: [], session: [allow("*")] }), "none");
  // No (or an empty list of) session policies: the identity alone decides.
  assertEquals(v({ identity: [allow("*")], session: [] }), "allow");
  // Narrowing also applies to what a bucket policy grants the session.
  const bucketGrantsRole = policy("resource", {
    Effect: "Allow",
    Principal: { AWS: roleSession.roleArn },
    Action: "s3:GetObject",
    Resource: "*",
  });
  assertEquals(v({ identity: [], resource: bucketGrantsRole, session: [onlyOther] }), "none");
  assertEquals(v({ identity: [], resource: bucketGrantsRole, session: [onlyPhotos2026] }), "allow");
  // A bucket policy naming the session itself (its assumed-role ARN) is not narrowed (AWS).
  const bucketGrantsSession = policy("resource", {
    Effect: "Allow",
    Principal: { AWS: roleSession.arn },
    Action: "s3:GetObject",
    Resource: "*",
  });
  assertEquals(v({ identity: [], resource: bucketGrantsSession, session: [onlyOther] }), "allow");
  assertEquals(v({ identity: [], resource: bucketGrantsSession, session: [deny("*")] }), "deny");
  const otherAction = facts("s3:PutObject", OBJ, {}, roleSession);
  assertEquals(
    v({ identity: [], resource: bucketGrantsSession, session: [onlyOther] }, otherAction),
    "none",
  );
});

Deno.test("built-in policies: readonly reads and lists, readwrite does all of S3, writeonly only writes", () => {
  const of = (name: string) => {
    const doc = BUILTIN_POLICIES.get(name);
    assert(doc, name);
    return doc;
  };
  const v = (name: string, action: string, resource = OBJ) =>
    decide({ identity: [of(name)] }, facts(action, resource)).verdict;
  assertEquals(v("readonly", "s3:GetObject"), "allow");
  assertEquals(v("readonly", "s3:ListBucket", "arn:aws:s3:::photos"), "allow");
  assertEquals(v("readonly", "s3:GetBucketLocation", "arn:aws:s3:::photos"), "allow");
  assertEquals(v("readonly", "s3:PutObject"), "none");
  assertEquals(v("readonly", "s3:DeleteObject"), "none");
  for (const action of ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]) {
    assertEquals(v("readwrite", action), "allow", action);
  }
  assertEquals(v("readwrite", "iam:CreateUser", "arn:aws:iam::1:user/x"), "none");
  assertEquals(v("writeonly", "s3:PutObject"), "allow");
  assertEquals(v("writeonly", "s3:GetObject"), "none");
  assertEquals([...BUILTIN_POLICIES.keys()].sort(), ["readonly", "readwrite", "writeonly"]);
});

Deno.test("keysRead: exactly the keys of the statements that applied up to the verdict; volatile for per-request keys", () => {
  const doc = policy(
    "identity",
    {
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: "*",
      Condition: { StringLike: { "s3:prefix": "a/*" } },
    },
    {
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: "*",
      Condition: { Bool: { "aws:SecureTransport": "true" } },
    },
  );
  const get = evaluatePolicies(
    [doc],
    facts("s3:GetObject", OBJ, { "aws:SecureTransport": "true" }),
  );
  assertEquals(get.verdict, "allow");
  assertEquals([...get.keysRead], ["aws:securetransport"]);
  assertEquals(get.volatile, false);
  // A statement whose action does not match reads nothing.
  const put = evaluatePolicies([doc], facts("s3:PutObject", OBJ));
  assertEquals([...put.keysRead], []);
  for (
    const key of [
      "aws:CurrentTime",
      "aws:EpochTime",
      "aws:SourceIp",
      "aws:UserAgent",
      "aws:Referer",
    ]
  ) {
    const e = evaluatePolicies(
      [allowIf({ StringLikeIfExists: { [key]: "*" } })],
      facts("s3:GetObject", OBJ),
    );
    assertEquals(e.volatile, true, key);
  }
  const stable = evaluatePolicies(
    [allowIf({ StringEquals: { "s3:prefix": "x" } })],
    facts("s3:GetObject", OBJ),
  );
  assertEquals(stable.volatile, false);
  // Once allowed, further Allow statements are not read; Deny statements still are.
  const e = decide(
    {
      identity: [allow("*"), allowIf({ IpAddress: { "aws:SourceIp": "10.0.0.0/8" } })],
      resource: policy("resource", {
        Effect: "Deny",
        Principal: "*",
        Action: "*",
        Resource: "*",
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      }),
    },
    facts("s3:GetObject", OBJ, { "aws:SecureTransport": "true", "aws:SourceIp": "10.0.0.1" }),
  );
  assertEquals(e.verdict, "allow");
  assertEquals([...e.keysRead], ["aws:securetransport"]);
  assertEquals(e.volatile, false);
});

/** The reference: the same pattern as a RegExp (what the engine avoids building per request). */
function reference(pattern: string, text: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(
    /\?/g,
    ".",
  );
  return new RegExp(`^${source}$`, "s").test(text);
}

Deno.test("wildcard matching agrees with a RegExp reference on 20,000 random patterns and texts", () => {
  const alphabet = ["a", "b", "/", "*", "?"];
  let seed = 12345;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = (chars: string[], max: number) =>
    Array.from({ length: random(max + 1) }, () => chars[random(chars.length)]).join("");
  let matched = 0;
  for (let i = 0; i < 20_000; i++) {
    const pattern = word(alphabet, 7);
    const text = word(["a", "b", "/"], 8);
    const expected = reference(pattern, text);
    const p = new Pattern(pattern, { wildcards: true, variables: false, ignoreCase: false });
    assertEquals(p.matches(text, () => undefined), expected, `${pattern} ~ ${text}`);
    if (expected) matched++;
  }
  assert(matched > 1000, `enough matching cases (${matched})`);
});
