/** The policy grammar: what parses (and into what), and what is refused with which reason. */

import { assertEquals, assertThrows } from "./helpers/assert.ts";
import { MalformedPolicy, parsePolicy } from "../src/iam/policy/parse.ts";
import { S3_ACTIONS } from "../src/iam/policy/actions.ts";
import type { PolicyKind } from "../src/iam/policy/document.ts";

const refused = (document: unknown, kind: PolicyKind, reason: string) =>
  assertThrows(
    () => parsePolicy(typeof document === "string" ? document : JSON.stringify(document), kind),
    MalformedPolicy,
    reason,
  );

const withStatement = (statement: Record<string, unknown>) => ({
  Version: "2012-10-17",
  Statement: statement,
});

const ok = { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" };

Deno.test("a full identity policy parses: one-or-list values become lists, conditions kept", () => {
  const doc = parsePolicy(
    JSON.stringify({
      Version: "2012-10-17",
      Id: "pol-1",
      Statement: [
        { Sid: "Read", ...ok },
        {
          Sid: "NoSecrets",
          Effect: "Deny",
          NotAction: ["s3:GetObject", "s3:List*"],
          NotResource: "arn:aws:s3:::b/public/*",
          Condition: {
            StringLike: { "s3:prefix": ["a/*", "b/*"] },
            NumericLessThan: { "s3:max-keys": 100 },
            Bool: { "aws:SecureTransport": false },
          },
        },
      ],
    }),
    "identity",
  );
  assertEquals(doc, {
    version: "2012-10-17",
    id: "pol-1",
    statements: [
      {
        sid: "Read",
        effect: "Allow",
        action: ["s3:GetObject"],
        resource: ["arn:aws:s3:::b/*"],
      },
      {
        sid: "NoSecrets",
        effect: "Deny",
        notAction: ["s3:GetObject", "s3:List*"],
        notResource: ["arn:aws:s3:::b/public/*"],
        condition: {
          StringLike: { "s3:prefix": ["a/*", "b/*"] },
          NumericLessThan: { "s3:max-keys": ["100"] },
          Bool: { "aws:SecureTransport": ["false"] },
        },
      },
    ],
  });
});

Deno.test("a single Statement object and a missing Version (2008-10-17) are accepted", () => {
  const doc = parsePolicy(JSON.stringify({ Statement: ok }), "identity");
  assertEquals(doc.version, "2008-10-17");
  assertEquals(doc.statements.length, 1);
});

Deno.test("bucket (resource) and trust policies: Principal / NotPrincipal parsed", () => {
  const bucket = parsePolicy(
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        { ...ok, Principal: "*" },
        {
          ...ok,
          Principal: {
            AWS: ["arn:aws:iam::123456789012:user/bob", "123456789012"],
            CanonicalUser: "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
          },
        },
        { ...ok, Effect: "Deny", NotPrincipal: { AWS: "arn:aws:iam::123456789012:root" } },
      ],
    }),
    "resource",
  );
  assertEquals(bucket.statements[0].principal, "*");
  assertEquals(bucket.statements[1].principal, {
    AWS: ["arn:aws:iam::123456789012:user/bob", "123456789012"],
    CanonicalUser: ["79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"],
  });
  assertEquals(bucket.statements[2].notPrincipal, { AWS: ["arn:aws:iam::123456789012:root"] });
  const trust = parsePolicy(
    JSON.stringify({
      Version: "2012-10-17",
      Statement: {
        Effect: "Allow",
        Principal: { AWS: "arn:aws:iam::123456789012:user/alice" },
        Action: "sts:AssumeRole",
      },
    }),
    "trust",
  );
  assertEquals(trust.statements[0].resource, undefined);
});

Deno.test("Principal is required in resource and trust policies, refused in identity and session ones", () => {
  refused(withStatement(ok), "resource", "missing Principal");
  refused(
    withStatement({ Effect: "Allow", Action: "sts:AssumeRole" }),
    "trust",
    "missing Principal",
  );
  refused(withStatement({ ...ok, Principal: "*" }), "identity", "Principal is not allowed");
  refused(withStatement({ ...ok, NotPrincipal: "*" }), "session", "NotPrincipal is not allowed");
  refused(withStatement({ ...ok, Principal: "*", NotPrincipal: "*" }), "resource", "cannot both");
});

Deno.test("Resource is required except in trust policies, where it is refused", () => {
  refused(
    withStatement({ ...ok, Action: "sts:AssumeRole", Principal: { AWS: "123456789012" } }),
    "trust",
    "has prohibited field Resource",
  );
  for (const kind of ["identity", "session", "resource"] as const) {
    const statement: Record<string, unknown> = { Effect: "Allow", Action: "s3:GetObject" };
    if (kind === "resource") statement.Principal = "*";
    refused(withStatement(statement), kind, "missing Resource");
  }
});

Deno.test("malformed documents are refused with the reason", () => {
  refused("{not json", "identity", "not valid JSON");
  refused("[]", "identity", "must be a JSON object");
  refused({ Version: "2012-10-17" }, "identity", "Missing required field Statement");
  refused({ Version: "2012-10-17", Statement: [] }, "identity", "must not be empty");
  refused({ Version: "2012-10-18", Statement: ok }, "identity", 'Invalid Version "2012-10-18"');
  refused({ Version: "2012-10-17", Statement: ok, Extra: 1 }, "identity", '"Extra"');
  refused({ Version: "2012-10-17", Statement: ok, Id: 5 }, "identity", "Id must be a string");
  refused(withStatement({ ...ok, Effect: "allow" }), "identity", "Effect must be");
  refused(withStatement({ Action: "s3:GetObject", Resource: "*" }), "identity", "Effect must be");
  refused(withStatement({ ...ok, Condtion: {} }), "identity", 'unknown element "Condtion"');
  refused(withStatement({ ...ok, Sid: 7 }), "identity", "Sid must be a string");
  refused(withStatement({ Effect: "Allow", Resource: "*" }), "identity", "missing Action");
  refused(withStatement({ ...ok, NotAction: "s3:PutObject" }), "identity", "cannot both");
  refused(withStatement({ ...ok, NotResource: "*" }), "identity", "cannot both");
  refused(withStatement({ ...ok, Action: [] }), "identity", "must not be empty");
  refused(withStatement({ ...ok, Action: [""] }), "identity", "non-empty string");
  refused(withStatement({ ...ok, Resource: 5 }), "identity", "non-empty string");
  refused(
    { Version: "2012-10-17", Statement: "Allow everything" },
    "identity",
    "must be a JSON object",
  );
  refused(
    { Version: "2012-10-17", Statement: [{ Sid: "A", ...ok }, { Sid: "A", ...ok }] },
    "identity",
    "must be unique: A",
  );
});

Deno.test("actions: every catalogued s3: action and other services' actions are accepted; unknown s3: ones refused", () => {
  const known = [...S3_ACTIONS];
  parsePolicy(JSON.stringify(withStatement({ ...ok, Action: known })), "identity");
  parsePolicy(
    JSON.stringify(withStatement({
      ...ok,
      Action: [
        "*",
        "s3:*",
        "s3:Get*",
        "S3:getobject",
        "s3:?etObject",
        "iam:*",
        "kms:Decrypt",
        "s3*:Get*",
      ],
    })),
    "identity",
  );
  // Catalogue spot checks, including actions Flashstor does not implement.
  for (const name of ["s3:GetObject", "s3:ListBucket", "s3:PutBucketPolicy", "s3:CreateJob"]) {
    assertEquals(S3_ACTIONS.has(name.toLowerCase()), true, name);
  }
  refused(
    withStatement({ ...ok, Action: "s3:GetObjekt" }),
    "identity",
    'unknown action "s3:GetObjekt"',
  );
  refused(withStatement({ ...ok, Action: "s3:Frob*" }), "identity", 'unknown action "s3:Frob*"');
  refused(withStatement({ ...ok, Action: "GetObject" }), "identity", 'invalid action "GetObject"');
  refused(withStatement({ ...ok, Action: "s3:Get Object" }), "identity", "invalid action");
});

Deno.test("resources must be ARNs or *", () => {
  for (const r of ["*", "arn:aws:s3:::b", "arn:aws:s3:::b/*", "arn:aws:iam::123456789012:user/*"]) {
    parsePolicy(JSON.stringify(withStatement({ ...ok, Resource: r })), "identity");
  }
  refused(
    withStatement({ ...ok, Resource: "bucket/key" }),
    "identity",
    'invalid resource "bucket/key"',
  );
  refused(withStatement({ ...ok, Resource: "arn:aws:s3" }), "identity", "invalid resource");
});

Deno.test("principals: invalid types and values refused", () => {
  refused(
    withStatement({ ...ok, Principal: { Users: "alice" } }),
    "resource",
    'invalid principal type "Users"',
  );
  refused(
    withStatement({ ...ok, Principal: { AWS: "alice" } }),
    "resource",
    'invalid principal "alice"',
  );
  refused(
    withStatement({ ...ok, Principal: { AWS: "arn:aws:iam::123456789012:user/*" } }),
    "resource",
    "invalid principal",
  );
  refused(withStatement({ ...ok, Principal: {} }), "resource", "must not be empty");
  refused(withStatement({ ...ok, Principal: "everyone" }), "resource", 'must be "*" or an object');
});

Deno.test("conditions: every operator with IfExists and set prefixes parses; bad operators and literals are refused", () => {
  const operators = [
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
    "ArnEquals",
    "ArnLike",
    "ArnNotEquals",
    "ArnNotLike",
  ];
  const condition: Record<string, Record<string, string>> = {};
  for (const op of operators) {
    for (const form of [op, `${op}IfExists`, `ForAnyValue:${op}`, `ForAllValues:${op}IfExists`]) {
      condition[form] = { "s3:prefix": "x" };
    }
  }
  const typed: [string, string][] = [
    ["Numeric", "10"],
    ["Date", "2026-01-01T00:00:00Z"],
  ];
  for (const [family, value] of typed) {
    for (
      const cmp of [
        "Equals",
        "NotEquals",
        "LessThan",
        "LessThanEquals",
        "GreaterThan",
        "GreaterThanEquals",
      ]
    ) {
      condition[`${family}${cmp}`] = { "k:v": value };
      condition[`${family}${cmp}IfExists`] = { "k:v": value };
    }
  }
  Object.assign(condition, {
    Bool: { "aws:SecureTransport": "true" },
    BoolIfExists: { "aws:SecureTransport": "false" },
    BinaryEquals: { "k:b": "QmluYXJ5" },
    IpAddress: { "aws:SourceIp": "10.0.0.0/8" },
    NotIpAddressIfExists: { "aws:SourceIp": "2001:db8::/32" },
    Null: { "s3:x-amz-acl": "true" },
  });
  const doc = parsePolicy(
    JSON.stringify(withStatement({ ...ok, Condition: condition })),
    "identity",
  );
  assertEquals(
    Object.keys(doc.statements[0].condition ?? {}).length,
    Object.keys(condition).length,
  );

  const bad = (cond: unknown, reason: string) =>
    refused(withStatement({ ...ok, Condition: cond }), "identity", reason);
  bad({ StringEqualz: { "s3:prefix": "x" } }, 'Invalid Condition operator "StringEqualz"');
  bad({ "ForSomeValues:StringEquals": { "s3:prefix": "x" } }, "Invalid Condition operator");
  bad({ NullIfExists: { "s3:prefix": "true" } }, 'Invalid Condition operator "NullIfExists"');
  bad({ Null: { "s3:prefix": "maybe" } }, 'Invalid value "maybe" for Null on s3:prefix');
  bad({ NumericLessThan: { "s3:max-keys": "ten" } }, 'Invalid value "ten" for NumericLessThan');
  bad({ DateLessThan: { "aws:CurrentTime": "2026-02-30" } }, 'Invalid value "2026-02-30"');
  bad({ DateLessThan: { "aws:CurrentTime": "${aws:CurrentTime}" } }, "Invalid value");
  bad({ Bool: { "aws:SecureTransport": "yes" } }, 'Invalid value "yes" for Bool');
  bad({ IpAddress: { "aws:SourceIp": "10.0.0.0/33" } }, 'Invalid value "10.0.0.0/33"');
  bad({ IpAddress: { "aws:SourceIp": "300.1.1.1" } }, "Invalid value");
  bad({ IpAddress: { "aws:SourceIp": "2001:db8::/129" } }, "Invalid value");
  bad({ IpAddress: { "aws:SourceIp": "1::2::3" } }, "Invalid value");
  bad({ BinaryEquals: { "k:b": "not base64!" } }, "Invalid value");
  bad({ StringEquals: "x" }, "must map condition keys to values");
  bad({ StringEquals: { "": "x" } }, "empty condition key");
  bad({ StringEquals: { "s3:prefix": { nested: 1 } } }, "values must be strings");
  bad("x", "Condition must be an object");
});
