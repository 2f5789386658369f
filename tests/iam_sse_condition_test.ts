/**
 * The condition key s3:x-amz-server-side-encryption, from a PutObject's header to the decision:
 * AWS's "deny uploads that are not SSE-S3" bucket policy (StringNotEquals … AES256), the "deny
 * unencrypted uploads" form (Null … true), both together, and an identity policy allowing only
 * SSE-KMS uploads; evaluated over the request conditions the S3 pipeline builds, and once through
 * the authorizer with the bucket policy stored in a real bucket-metadata store. As on AWS, only
 * the request's header counts: a bucket's default encryption does not satisfy such a policy.
 */

import { ConfigBucketMetadataStore } from "../src/bucket/metadata-store.ts";
import { Authorizer } from "../src/iam/authorize.ts";
import { decide } from "../src/iam/policy/decide.ts";
import type { PolicyDocument } from "../src/iam/policy/document.ts";
import { RequestConditions, type RequestSubject } from "../src/iam/request-conditions.ts";
import { requestAccess } from "../src/s3/access.ts";
import { assertEquals } from "./helpers/assert.ts";
import { deployment } from "./fixtures/object_env.ts";
import { alice, policy } from "./iam_policy_util.ts";

const OBJECT = "arn:aws:s3:::secure-bucket/reports/q1.csv";
const ALLOW_S3 = policy("identity", { Effect: "Allow", Action: "s3:*", Resource: "*" });

const NOT_SSE_S3 = {
  Sid: "DenyIncorrectEncryptionHeader",
  Effect: "Deny",
  Principal: "*",
  Action: "s3:PutObject",
  Resource: "arn:aws:s3:::secure-bucket/*",
  Condition: { StringNotEquals: { "s3:x-amz-server-side-encryption": "AES256" } },
};
const UNENCRYPTED = {
  Sid: "DenyUnEncryptedObjectUploads",
  Effect: "Deny",
  Principal: "*",
  Action: "s3:PutObject",
  Resource: "arn:aws:s3:::secure-bucket/*",
  Condition: { Null: { "s3:x-amz-server-side-encryption": "true" } },
};

/** Alice's PutObject sending `sse` as x-amz-server-side-encryption. */
function putRequest(sse?: string): RequestSubject {
  const headers = new Headers({ authorization: "AWS4-HMAC-SHA256 Credential=AKIAALICE/x" });
  if (sse !== undefined) headers.set("x-amz-server-side-encryption", sse);
  return {
    principal: alice,
    headers,
    query: new URLSearchParams(),
    remoteAddr: "10.0.0.1",
    secure: true,
    form: false,
  };
}

const putConditions = (sse?: string) => new RequestConditions(putRequest(sse));

/** The verdict on alice's PutObject with `sse`, under her identity policy and a bucket policy. */
function verdict(
  sse: string | undefined,
  identity: PolicyDocument,
  bucketPolicy?: PolicyDocument,
): string {
  return decide(
    { identity: [identity], resource: bucketPolicy },
    { principal: alice, action: "s3:PutObject", resource: OBJECT, conditions: putConditions(sse) },
  ).verdict;
}

Deno.test("sse condition: the header is the key's value; no header, no key", () => {
  assertEquals(putConditions("AES256").get("s3:x-amz-server-side-encryption"), ["AES256"]);
  assertEquals(putConditions("aws:kms").get("s3:x-amz-server-side-encryption"), ["aws:kms"]);
  assertEquals(putConditions().get("s3:x-amz-server-side-encryption"), undefined);
  assertEquals(putConditions().has("s3:x-amz-server-side-encryption"), false);
});

Deno.test("sse condition: Deny PutObject when StringNotEquals … AES256 (only SSE-S3 uploads)", () => {
  const bucketPolicy = policy("resource", NOT_SSE_S3);
  assertEquals(verdict("AES256", ALLOW_S3, bucketPolicy), "allow");
  assertEquals(verdict("aws:kms", ALLOW_S3, bucketPolicy), "deny");
  // An absent key makes StringNotEquals hold: an upload without the header is refused too.
  assertEquals(verdict(undefined, ALLOW_S3, bucketPolicy), "deny");
  // Values compare exactly.
  assertEquals(verdict("aes256", ALLOW_S3, bucketPolicy), "deny");
});

Deno.test("sse condition: Deny PutObject when Null … true (any encryption header will do)", () => {
  const bucketPolicy = policy("resource", UNENCRYPTED);
  assertEquals(verdict(undefined, ALLOW_S3, bucketPolicy), "deny");
  assertEquals(verdict("AES256", ALLOW_S3, bucketPolicy), "allow");
  assertEquals(verdict("aws:kms", ALLOW_S3, bucketPolicy), "allow");
});

Deno.test("sse condition: AWS's two-statement policy, and an identity policy for SSE-KMS only", () => {
  const both = policy("resource", NOT_SSE_S3, UNENCRYPTED);
  assertEquals(verdict("AES256", ALLOW_S3, both), "allow");
  assertEquals(verdict("aws:kms", ALLOW_S3, both), "deny");
  assertEquals(verdict(undefined, ALLOW_S3, both), "deny");

  const kmsOnly = policy("identity", {
    Effect: "Allow",
    Action: "s3:PutObject",
    Resource: "arn:aws:s3:::secure-bucket/*",
    Condition: { StringEquals: { "s3:x-amz-server-side-encryption": "aws:kms" } },
  });
  assertEquals(verdict("aws:kms", kmsOnly), "allow");
  // Not allowed (no explicit deny): the request is refused all the same.
  assertEquals(verdict("AES256", kmsOnly), "none");
  assertEquals(verdict(undefined, kmsOnly), "none");
});

Deno.test("sse condition: through the authorizer, with the bucket policy in the metadata store", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const buckets = new ConfigBucketMetadataStore(d.layer);
    await buckets.update("secure-bucket", (current) => ({
      ...current,
      policy: JSON.stringify({ Version: "2012-10-17", Statement: [NOT_SSE_S3, UNENCRYPTED] }),
      // The bucket's default encryption does not count: only the request's header does.
      encryption: { algorithm: "AES256", bucketKeyEnabled: false },
    }));
    const identities = { epoch: 0, identityPolicies: () => [ALLOW_S3] };
    const authorizer = new Authorizer(identities, buckets);
    const mayPut = async (sse?: string) => {
      const access = requestAccess(authorizer, putRequest(sse));
      return await access.allowed("s3:PutObject", "secure-bucket", "reports/q1.csv");
    };
    assertEquals(await mayPut("AES256"), true);
    assertEquals(await mayPut("aws:kms"), false);
    assertEquals(await mayPut(), false);
    // The decision cache keys on the header's value: the same principal and object, answered
    // afresh for each value.
    assertEquals(await mayPut("AES256"), true);
    assertEquals(await mayPut(), false);
  } finally {
    await d.close();
  }
});

Deno.test("sse condition: s3:x-amz-server-side-encryption-aws-kms-key-id pins uploads to one key", () => {
  const KEY_ID = "s3:x-amz-server-side-encryption-aws-kms-key-id";
  const conditions = (keyId?: string) => {
    const c = putConditions("aws:kms");
    return keyId === undefined ? c : new RequestConditions({
      principal: alice,
      headers: new Headers({
        authorization: "AWS4-HMAC-SHA256 Credential=AKIAALICE/x",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": keyId,
      }),
      query: new URLSearchParams(),
      remoteAddr: "10.0.0.1",
      secure: true,
      form: false,
    });
  };
  assertEquals(conditions("reports-key").get(KEY_ID), ["reports-key"]);
  assertEquals(conditions().get(KEY_ID), undefined);
  const onlyReportsKey = policy("resource", {
    Effect: "Deny",
    Principal: "*",
    Action: "s3:PutObject",
    Resource: "arn:aws:s3:::secure-bucket/*",
    Condition: { StringNotEqualsIfExists: { [KEY_ID]: "reports-key" } },
  });
  const decideFor = (keyId?: string) =>
    decide(
      { identity: [ALLOW_S3], resource: onlyReportsKey },
      { principal: alice, action: "s3:PutObject", resource: OBJECT, conditions: conditions(keyId) },
    ).verdict;
  assertEquals(decideFor("reports-key"), "allow");
  assertEquals(decideFor("other-key"), "deny");
  // IfExists holds when the key is absent: an upload naming no key is refused too, as on AWS.
  assertEquals(decideFor(undefined), "deny");
});
