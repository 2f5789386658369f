/**
 * The condition keys of S3 requests (src/iam/request-conditions.ts): each key of the issue from
 * where AWS takes it, absent when the request does not carry it, and the policy engine reading
 * them (decide over a bucket policy that tests them).
 */
import { assertEquals } from "./helpers/assert.ts";
import { RequestConditions, type RequestSubject } from "../src/iam/request-conditions.ts";
import type { Principal } from "../src/iam/principal.ts";
import { decide } from "../src/iam/policy/decide.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";

const ACCOUNT = "123456789012";
const alice: Principal = {
  kind: "user",
  accountId: ACCOUNT,
  arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
  userId: "AIDAALICE",
  userName: "alice",
  accessKey: "AKIAALICE",
  temporary: false,
};
const anonymous: Principal = {
  kind: "anonymous",
  accountId: ACCOUNT,
  arn: "",
  userId: "",
  accessKey: "",
  temporary: false,
};
const session: Principal = {
  kind: "assumed-role",
  accountId: ACCOUNT,
  arn: `arn:aws:sts::${ACCOUNT}:assumed-role/reader/s1`,
  userId: "AROAREADER:s1",
  accessKey: "ASIASESSION",
  roleArn: `arn:aws:iam::${ACCOUNT}:role/reader`,
  temporary: true,
};

function subject(overrides: Partial<RequestSubject> = {}): RequestSubject {
  return {
    principal: alice,
    headers: new Headers({
      authorization: "AWS4-HMAC-SHA256 Credential=AKIAALICE/20261206/us-east-1/s3/aws4_request",
      "user-agent": "aws-cli/2.9",
      referer: "https://example.com/page",
      "x-amz-acl": "public-read",
      "x-amz-copy-source": "src/key",
      "x-amz-metadata-directive": "REPLACE",
      "x-amz-server-side-encryption": "AES256",
    }),
    query: new URLSearchParams("prefix=home/alice/&delimiter=/&max-keys=10&versionId=null"),
    remoteAddr: "10.1.2.3",
    secure: false,
    form: false,
    ...overrides,
  };
}

const NOW = Date.UTC(2026, 11, 6, 1, 2, 3, 456);

Deno.test("request conditions: every key of a signed user request", () => {
  const keys = Object.fromEntries(
    [...new RequestConditions(subject(), NOW)].map(([k, v]) => [k, [...v]]),
  );
  assertEquals(keys, {
    "aws:sourceip": ["10.1.2.3"],
    "aws:securetransport": ["false"],
    "aws:currenttime": ["2026-12-06T01:02:03Z"],
    "aws:epochtime": [String(Math.floor(NOW / 1000))],
    "aws:useragent": ["aws-cli/2.9"],
    "aws:referer": ["https://example.com/page"],
    "aws:username": ["alice"],
    "aws:userid": ["AIDAALICE"],
    "aws:principalarn": [`arn:aws:iam::${ACCOUNT}:user/alice`],
    "aws:principaltype": ["User"],
    "aws:principalaccount": [ACCOUNT],
    "s3:prefix": ["home/alice/"],
    "s3:delimiter": ["/"],
    "s3:max-keys": ["10"],
    "s3:x-amz-acl": ["public-read"],
    "s3:x-amz-copy-source": ["src/key"],
    "s3:x-amz-metadata-directive": ["REPLACE"],
    "s3:x-amz-server-side-encryption": ["AES256"],
    "s3:versionid": ["null"],
    "s3:signatureversion": ["AWS4-HMAC-SHA256"],
    "s3:authtype": ["REST-HEADER"],
  });
});

Deno.test("request conditions: how it was signed, and who asks", () => {
  const get = (s: RequestSubject, key: string) => new RequestConditions(s, NOW).get(key)?.[0];
  const presignedV4 = subject({
    headers: new Headers(),
    query: new URLSearchParams("X-Amz-Signature=ab&X-Amz-Credential=x"),
  });
  assertEquals(get(presignedV4, "s3:authtype"), "REST-QUERY-STRING");
  assertEquals(get(presignedV4, "s3:signatureversion"), "AWS4-HMAC-SHA256");
  const presignedV2 = subject({
    headers: new Headers(),
    query: new URLSearchParams("AWSAccessKeyId=a&Signature=b&Expires=1"),
  });
  assertEquals(get(presignedV2, "s3:signatureversion"), "AWS");
  const headerV2 = subject({ headers: new Headers({ authorization: "AWS a:b" }) });
  assertEquals(get(headerV2, "s3:signatureversion"), "AWS");
  assertEquals(get(subject({ headers: new Headers(), form: true }), "s3:authtype"), "POST");
  assertEquals(get(subject({ secure: true }), "aws:securetransport"), "true");

  const anon = subject({
    principal: anonymous,
    headers: new Headers(),
    query: new URLSearchParams(),
  });
  assertEquals(
    ["s3:authtype", "aws:username", "aws:principalarn", "s3:prefix", "aws:useragent"].map((k) =>
      new RequestConditions(anon).has(k)
    ),
    [false, false, false, false, false],
  );
  assertEquals(get(anon, "aws:principaltype"), "Anonymous");
  assertEquals(get(anon, "aws:userid"), "anonymous");
  // A role session's aws:PrincipalArn is the role's ARN (AWS).
  assertEquals(get(subject({ principal: session }), "aws:principalarn"), session.roleArn);
  assertEquals(get(subject({ principal: session }), "aws:principaltype"), "AssumedRole");
  assertEquals(get(subject({ principal: session }), "aws:username"), undefined);
});

Deno.test("request conditions: a policy reading them allows and denies as written", () => {
  const policy = parsePolicy(
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: "*",
          Action: "s3:ListBucket",
          Resource: "arn:aws:s3:::b",
          Condition: { StringLike: { "s3:prefix": "home/${aws:username}/*" } },
        },
        {
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: "arn:aws:s3:::b",
          Condition: {
            Bool: { "aws:SecureTransport": "false" },
            IpAddress: { "aws:SourceIp": "192.0.2.0/24" },
          },
        },
      ],
    }),
    "resource",
  );
  const allowed = (s: RequestSubject) =>
    decide({ identity: [], resource: policy }, {
      principal: s.principal,
      action: "s3:ListBucket",
      resource: "arn:aws:s3:::b",
      conditions: new RequestConditions(s, NOW),
    }).verdict;
  assertEquals(allowed(subject()), "allow");
  assertEquals(allowed(subject({ query: new URLSearchParams("prefix=home/bob/") })), "none");
  assertEquals(allowed(subject({ remoteAddr: "192.0.2.9" })), "deny");
  assertEquals(allowed(subject({ remoteAddr: "192.0.2.9", secure: true })), "allow");
});
