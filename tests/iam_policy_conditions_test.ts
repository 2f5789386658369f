/** Every condition operator of the policy language, with AWS's semantics for absent keys,
 *  `…IfExists`, `ForAnyValue:` / `ForAllValues:` and policy variables in values. */

import { assert, assertEquals } from "./helpers/assert.ts";
import { evaluatePolicies } from "../src/iam/policy/evaluate.ts";
import { parseDate } from "../src/iam/policy/conditions.ts";
import { parseCidr, parseIp } from "../src/iam/policy/ip.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";
import { allowIf, facts } from "./iam_policy_util.ts";

/** Does a policy allowing everything under `condition` allow a request with `values`? */
function holds(condition: Record<string, unknown>, values: Record<string, string | string[]>) {
  return evaluatePolicies([allowIf(condition)], facts("s3:GetObject", "arn:aws:s3:::b/k", values))
    .verdict === "allow";
}

/** Checks `[request values, expected]` rows against one condition. */
function table(
  condition: Record<string, unknown>,
  rows: [Record<string, string | string[]>, boolean][],
) {
  for (const [values, expected] of rows) {
    assertEquals(
      holds(condition, values),
      expected,
      `${JSON.stringify(condition)} with ${JSON.stringify(values)}`,
    );
  }
}

Deno.test("StringEquals / StringNotEquals: exact and case-sensitive; absent key fails the positive, passes the negated", () => {
  table({ StringEquals: { "s3:prefix": ["home/", "pub/"] } }, [
    [{ "s3:prefix": "home/" }, true],
    [{ "s3:prefix": "pub/" }, true],
    [{ "s3:prefix": "Home/" }, false],
    [{ "s3:prefix": "home/x" }, false],
    [{}, false],
  ]);
  // `*` is literal for StringEquals.
  table({ StringEquals: { "s3:prefix": "h*" } }, [[{ "s3:prefix": "home" }, false], [{
    "s3:prefix": "h*",
  }, true]]);
  table({ StringNotEquals: { "s3:prefix": ["home/", "pub/"] } }, [
    [{ "s3:prefix": "home/" }, false],
    [{ "s3:prefix": "other/" }, true],
    [{}, true],
  ]);
});

Deno.test("StringEqualsIgnoreCase / StringNotEqualsIgnoreCase", () => {
  table({ StringEqualsIgnoreCase: { "s3:x-amz-acl": "Public-Read" } }, [
    [{ "s3:x-amz-acl": "public-read" }, true],
    [{ "s3:x-amz-acl": "PUBLIC-READ" }, true],
    [{ "s3:x-amz-acl": "private" }, false],
  ]);
  table({ StringNotEqualsIgnoreCase: { "s3:x-amz-acl": "PRIVATE" } }, [
    [{ "s3:x-amz-acl": "private" }, false],
    [{ "s3:x-amz-acl": "public-read" }, true],
    [{}, true],
  ]);
});

Deno.test("StringLike / StringNotLike: * and ? wildcards, case-sensitive", () => {
  table({ StringLike: { "s3:prefix": ["home/*", "a?c"] } }, [
    [{ "s3:prefix": "home/" }, true],
    [{ "s3:prefix": "home/x/y" }, true],
    [{ "s3:prefix": "abc" }, true],
    [{ "s3:prefix": "ac" }, false],
    [{ "s3:prefix": "abbc" }, false],
    [{ "s3:prefix": "Home/x" }, false],
    [{}, false],
  ]);
  table({ StringNotLike: { "aws:UserAgent": "*curl*" } }, [
    [{ "aws:UserAgent": "curl/8.0" }, false],
    [{ "aws:UserAgent": "aws-cli/2" }, true],
    [{}, true],
  ]);
});

Deno.test("Numeric operators compare numbers, not strings; a non-number request value never matches", () => {
  const n = (op: string) => ({ [op]: { "s3:max-keys": "10" } });
  const rows = (values: boolean[]): [Record<string, string>, boolean][] =>
    ["9", "10", "11", "abc"].map((v, i) => [{ "s3:max-keys": v }, values[i]]);
  table(n("NumericEquals"), rows([false, true, false, false]));
  table(n("NumericNotEquals"), rows([true, false, true, true]));
  table(n("NumericLessThan"), rows([true, false, false, false]));
  table(n("NumericLessThanEquals"), rows([true, true, false, false]));
  table(n("NumericGreaterThan"), rows([false, false, true, false]));
  table(n("NumericGreaterThanEquals"), rows([false, true, true, false]));
  // JSON numbers are accepted as values; decimals and negatives too.
  table({ NumericLessThan: { "s3:max-keys": 2.5 } }, [[{ "s3:max-keys": "2" }, true], [{
    "s3:max-keys": "3",
  }, false]]);
  table({ NumericGreaterThan: { "s3:max-keys": "-1" } }, [[{ "s3:max-keys": "0" }, true]]);
  table({ NumericLessThan: { "s3:max-keys": "10" } }, [[{}, false]]);
  table({ NumericNotEquals: { "s3:max-keys": "10" } }, [[{}, true]]);
});

Deno.test("Date operators: ISO 8601 and epoch seconds on either side", () => {
  const at = (op: string) => ({ [op]: { "aws:CurrentTime": "2026-06-01T00:00:00Z" } });
  const rows = (values: boolean[]): [Record<string, string>, boolean][] =>
    ["2026-05-31T23:59:59Z", "2026-06-01T00:00:00Z", "2026-06-01T00:00:01Z"].map((
      v,
      i,
    ) => [{ "aws:CurrentTime": v }, values[i]]);
  table(at("DateEquals"), rows([false, true, false]));
  table(at("DateNotEquals"), rows([true, false, true]));
  table(at("DateLessThan"), rows([true, false, false]));
  table(at("DateLessThanEquals"), rows([true, true, false]));
  table(at("DateGreaterThan"), rows([false, false, true]));
  table(at("DateGreaterThanEquals"), rows([false, true, true]));
  // 1780272000 = 2026-06-01T00:00:00Z: epoch on the policy side, ISO on the request side and back.
  table({ DateLessThan: { "aws:EpochTime": "1780272000" } }, [
    [{ "aws:EpochTime": "1780271999" }, true],
    [{ "aws:EpochTime": "1780272000" }, false],
  ]);
  table({ DateEquals: { "aws:CurrentTime": "1780272000" } }, [
    [{ "aws:CurrentTime": "2026-06-01T00:00:00Z" }, true],
  ]);
  // Offsets and dates without a time.
  table({ DateEquals: { "aws:CurrentTime": "2026-06-01T02:00:00+02:00" } }, [
    [{ "aws:CurrentTime": "2026-06-01T00:00:00Z" }, true],
  ]);
  table({ DateGreaterThanEquals: { "aws:CurrentTime": "2026-06-01" } }, [
    [{ "aws:CurrentTime": "2026-06-01T00:00:00.000Z" }, true],
    [{ "aws:CurrentTime": "2026-05-31T23:59:59.999Z" }, false],
    [{ "aws:CurrentTime": "yesterday" }, false],
  ]);
});

Deno.test("parseDate: ISO 8601 forms and epoch seconds; impossible dates are NaN", () => {
  assertEquals(parseDate("2026-06-01T00:00:00Z"), Date.UTC(2026, 5, 1));
  assertEquals(parseDate("2026-06-01T00:00:00.250Z"), Date.UTC(2026, 5, 1) + 250);
  assertEquals(parseDate("2026-06-01T00:00:00"), Date.UTC(2026, 5, 1));
  assertEquals(parseDate("2026-06-01T03:00:00+0300"), Date.UTC(2026, 5, 1));
  assertEquals(parseDate("2026-06-01"), Date.UTC(2026, 5, 1));
  assertEquals(parseDate("1780272000"), Date.UTC(2026, 5, 1));
  for (const bad of ["2026-02-30", "2026-13-01", "June 1 2026", "", "2026-06-01T25:00:00Z"]) {
    assert(Number.isNaN(parseDate(bad)), bad);
  }
});

Deno.test("Bool: true/false, case-insensitive; absent fails", () => {
  table({ Bool: { "aws:SecureTransport": "true" } }, [
    [{ "aws:SecureTransport": "true" }, true],
    [{ "aws:SecureTransport": "TRUE" }, true],
    [{ "aws:SecureTransport": "false" }, false],
    [{}, false],
  ]);
  // A JSON boolean in the policy is the same as the string.
  table({ Bool: { "aws:SecureTransport": false } }, [[{ "aws:SecureTransport": "false" }, true]]);
});

Deno.test("BinaryEquals compares the base64 text", () => {
  table({ BinaryEquals: { "k:bin": "QmluYXJ5" } }, [[{ "k:bin": "QmluYXJ5" }, true], [{
    "k:bin": "QmluYXJ6",
  }, false]]);
});

Deno.test("IpAddress / NotIpAddress: IPv4 and IPv6 CIDRs, plain addresses, IPv4-mapped IPv6", () => {
  const cidrs = ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"];
  table({ IpAddress: { "aws:SourceIp": cidrs } }, [
    [{ "aws:SourceIp": "10.255.0.1" }, true],
    [{ "aws:SourceIp": "11.0.0.1" }, false],
    [{ "aws:SourceIp": "192.168.1.7" }, true],
    [{ "aws:SourceIp": "192.168.1.8" }, false],
    [{ "aws:SourceIp": "2001:db8:ffff::1" }, true],
    [{ "aws:SourceIp": "2001:db9::1" }, false],
    [{ "aws:SourceIp": "::1" }, true],
    [{ "aws:SourceIp": "::ffff:10.1.2.3" }, true],
    [{ "aws:SourceIp": "not-an-ip" }, false],
    [{}, false],
  ]);
  table({ NotIpAddress: { "aws:SourceIp": "10.0.0.0/8" } }, [
    [{ "aws:SourceIp": "10.1.2.3" }, false],
    [{ "aws:SourceIp": "127.0.0.1" }, true],
    [{}, true],
  ]);
  table({ IpAddress: { "aws:SourceIp": ["0.0.0.0/0"] } }, [
    [{ "aws:SourceIp": "8.8.8.8" }, true],
    [{ "aws:SourceIp": "::2" }, false],
  ]);
  table({ IpAddress: { "aws:SourceIp": ["fe80::1:2:3:4/64", "1:2:3:4:5:6:7:8"] } }, [
    [{ "aws:SourceIp": "fe80::ffff" }, true],
    [{ "aws:SourceIp": "fe80:0:0:1::" }, false],
    [{ "aws:SourceIp": "1:2:3:4:5:6:7:8" }, true],
  ]);
});

Deno.test("ArnEquals / ArnLike / ArnNotEquals / ArnNotLike: case-sensitive with wildcards", () => {
  const arn = "arn:aws:iam::123456789012:user/alice";
  for (const op of ["ArnEquals", "ArnLike"]) {
    table({ [op]: { "aws:PrincipalArn": "arn:aws:iam::123456789012:user/*" } }, [
      [{ "aws:PrincipalArn": arn }, true],
      [{ "aws:PrincipalArn": "arn:aws:iam::123456789012:role/r" }, false],
      [{ "aws:PrincipalArn": "ARN:aws:iam::123456789012:user/alice" }, false],
      [{}, false],
    ]);
  }
  // Components are matched one by one: a wildcard does not span a colon, the resource part
  // takes the rest; a value that is no ARN is one pattern.
  table({ ArnLike: { "aws:SourceArn": "arn:aws:*:us-east-1:*:bucket/*" } }, [
    [{ "aws:SourceArn": "arn:aws:s3:us-east-1:123456789012:bucket/a:b" }, true],
    [{ "aws:SourceArn": "arn:aws:s3:eu:x:us-east-1:1:bucket/a" }, false],
    [{ "aws:SourceArn": "arn:aws:s3" }, false],
  ]);
  table({ ArnLike: { "aws:SourceArn": "arn:aws:iam::*" } }, [
    [{ "aws:SourceArn": "arn:aws:iam::123456789012:user/alice" }, false],
    [{ "aws:SourceArn": "arn:aws:iam::123456789012" }, false],
  ]);
  table({ ArnLike: { "aws:SourceArn": "*" } }, [[{ "aws:SourceArn": "arn:aws:s3:::b" }, true]]);
  for (const op of ["ArnNotEquals", "ArnNotLike"]) {
    table({ [op]: { "aws:PrincipalArn": "arn:aws:iam::*:user/alice" } }, [
      [{ "aws:PrincipalArn": arn }, false],
      [{ "aws:PrincipalArn": "arn:aws:iam::123456789012:user/bob" }, true],
      [{}, true],
    ]);
  }
});

Deno.test("Null: true means absent, false means present", () => {
  table({ Null: { "s3:x-amz-server-side-encryption": "true" } }, [
    [{}, true],
    [{ "s3:x-amz-server-side-encryption": "AES256" }, false],
  ]);
  table({ Null: { "s3:x-amz-server-side-encryption": false } }, [
    [{}, false],
    [{ "s3:x-amz-server-side-encryption": "AES256" }, true],
  ]);
});

Deno.test("…IfExists: an absent key passes; a present one is tested as usual", () => {
  table({ StringEqualsIfExists: { "s3:x-amz-acl": "private" } }, [
    [{}, true],
    [{ "s3:x-amz-acl": "private" }, true],
    [{ "s3:x-amz-acl": "public-read" }, false],
  ]);
  table({ NumericLessThanIfExists: { "s3:max-keys": "100" } }, [[{}, true], [{
    "s3:max-keys": "1000",
  }, false]]);
  table({ IpAddressIfExists: { "aws:SourceIp": "10.0.0.0/8" } }, [[{}, true], [{
    "aws:SourceIp": "1.1.1.1",
  }, false]]);
  table({ DateLessThanIfExists: { "aws:CurrentTime": "2000-01-01" } }, [[{}, true]]);
  table({ BoolIfExists: { "aws:SecureTransport": "true" } }, [[{}, true], [{
    "aws:SecureTransport": "false",
  }, false]]);
  table({ ArnLikeIfExists: { "aws:PrincipalArn": "arn:aws:iam::*:user/*" } }, [[{}, true]]);
  table({ StringNotLikeIfExists: { "s3:prefix": "secret/*" } }, [
    [{}, true],
    [{ "s3:prefix": "secret/x" }, false],
  ]);
});

Deno.test("ForAnyValue: / ForAllValues: over multi-valued keys, absent and empty sets", () => {
  const tags = (...v: string[]) => ({ "aws:TagKeys": v });
  table({ "ForAnyValue:StringEquals": { "aws:TagKeys": ["env", "team"] } }, [
    [tags("env", "x"), true],
    [tags("x", "y"), false],
    [tags(), false],
    [{}, false],
  ]);
  table({ "ForAllValues:StringEquals": { "aws:TagKeys": ["env", "team"] } }, [
    [tags("env", "team"), true],
    [tags("env"), true],
    [tags("env", "x"), false],
    [tags(), true],
    [{}, true],
  ]);
  // Negated: ForAnyValue — some value is none of the list; ForAllValues — no value is in it.
  table({ "ForAnyValue:StringNotEquals": { "aws:TagKeys": ["env"] } }, [
    [tags("env", "x"), true],
    [tags("env"), false],
  ]);
  table({ "ForAllValues:StringNotLike": { "aws:TagKeys": ["secret*"] } }, [
    [tags("a", "b"), true],
    [tags("a", "secret-x"), false],
  ]);
  table({ "ForAnyValue:StringLikeIfExists": { "aws:TagKeys": "e*" } }, [[{}, true], [
    tags("x"),
    false,
  ]]);
  // Without a prefix, a multi-valued key matches when any value does (negated: when none does).
  table({ StringEquals: { "aws:TagKeys": "env" } }, [[tags("x", "env"), true]]);
  table({ StringNotEquals: { "aws:TagKeys": "env" } }, [[tags("x", "env"), false], [
    tags("x", "y"),
    true,
  ]]);
});

Deno.test("one operator's keys, and an operator's several keys, must all hold (AND); values are OR", () => {
  const condition = {
    StringLike: { "s3:prefix": ["a/*", "b/*"], "s3:delimiter": "/" },
    NumericLessThanEquals: { "s3:max-keys": "100" },
  };
  table(condition, [
    [{ "s3:prefix": "b/x", "s3:delimiter": "/", "s3:max-keys": "100" }, true],
    [{ "s3:prefix": "c/x", "s3:delimiter": "/", "s3:max-keys": "100" }, false],
    [{ "s3:prefix": "a/x", "s3:delimiter": "|", "s3:max-keys": "100" }, false],
    [{ "s3:prefix": "a/x", "s3:delimiter": "/", "s3:max-keys": "101" }, false],
  ]);
});

Deno.test("condition keys are case-insensitive", () => {
  table({ StringEquals: { "S3:Prefix": "x" } }, [[{ "s3:prefix": "x" }, true]]);
});

Deno.test("policy variables in condition values, ${*} ${?} ${$} as literal characters", () => {
  table({ StringLike: { "s3:prefix": "home/${aws:username}/*" } }, [
    [{ "s3:prefix": "home/alice/docs", "aws:username": "alice" }, true],
    [{ "s3:prefix": "home/bob/docs", "aws:username": "alice" }, false],
    // No value for the variable: the condition cannot match.
    [{ "s3:prefix": "home/alice/docs" }, false],
  ]);
  table({ StringEquals: { "s3:prefix": "${aws:userid}" } }, [
    [{ "s3:prefix": "AIDA1", "aws:userid": "AIDA1" }, true],
  ]);
  table({ StringEqualsIgnoreCase: { "s3:prefix": "${aws:username}" } }, [
    [{ "s3:prefix": "ALICE", "aws:username": "Alice" }, true],
  ]);
  table({ StringLike: { "s3:prefix": "a${*}b${?}c${$}" } }, [
    [{ "s3:prefix": "a*b?c$" }, true],
    [{ "s3:prefix": "axxb?c$" }, false],
    [{ "s3:prefix": "a*bxc$" }, false],
  ]);
  // A variable's value is literal: a `*` in it is no wildcard.
  table({ StringLike: { "s3:prefix": "${aws:username}" } }, [
    [{ "s3:prefix": "anything", "aws:username": "*" }, false],
    [{ "s3:prefix": "*", "aws:username": "*" }, true],
  ]);
});

Deno.test("Version 2008-10-17 has no policy variables: ${…} is literal text", () => {
  const doc = parsePolicy(
    JSON.stringify({
      Version: "2008-10-17",
      Statement: [{
        Effect: "Allow",
        Action: "*",
        Resource: "*",
        Condition: { StringEquals: { "s3:prefix": "${aws:username}" } },
      }],
    }),
    "identity",
  );
  const verdict = (prefix: string) =>
    evaluatePolicies(
      [doc],
      facts("s3:ListBucket", "arn:aws:s3:::b", {
        "s3:prefix": prefix,
        "aws:username": "alice",
      }),
    ).verdict;
  assertEquals(verdict("alice"), "none");
  assertEquals(verdict("${aws:username}"), "allow");
});

Deno.test("IP parsing: IPv4, IPv6 with :: and an IPv4 tail, mapped IPv4; malformed forms refused", () => {
  const v4 = (text: string) => parseIp(text);
  assertEquals(v4("1.2.3.4"), { v6: false, value: 0x01020304n });
  assertEquals(v4("::ffff:1.2.3.4"), { v6: false, value: 0x01020304n });
  assertEquals(v4("::"), { v6: true, value: 0n });
  assertEquals(v4("1::"), { v6: true, value: 1n << 112n });
  assertEquals(v4("::1.2.3.4"), { v6: true, value: 0x01020304n });
  assertEquals(v4("2001:DB8::1"), { v6: true, value: (0x20010db8n << 96n) | 1n });
  for (
    const bad of [
      "1.2.3",
      "1.2.3.4.5",
      "256.1.1.1",
      "1.2.3.-4",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "12345::",
      "1:2:3:4:5:6:7",
      ":::",
      "",
    ]
  ) assertEquals(v4(bad), undefined, bad);
  for (const bad of ["1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/33", "::/129", "1.2.3.4/8/8", "x/8"]) {
    assertEquals(parseCidr(bad), undefined, bad);
  }
  assertEquals(parseCidr("10.1.2.3/8"), { v6: false, network: 0x0a000000n, mask: 0xff000000n });
  assertEquals(parseCidr("::/0")?.mask, 0n);
});

Deno.test("a policy variable needs exactly one request value: none or several match nothing", () => {
  table({ StringEquals: { "s3:prefix": "${aws:username}" } }, [
    [{ "s3:prefix": "alice", "aws:username": ["alice", "bob"] }, false],
    [{ "s3:prefix": "alice", "aws:username": [] }, false],
    [{ "s3:prefix": "alice", "aws:username": "alice" }, true],
  ]);
});
