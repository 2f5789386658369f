import { Buffer } from "node:buffer";
import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { anonymousPrincipal } from "../src/auth/credentials.ts";
import { AuthError } from "../src/auth/errors.ts";
import { verifyPostPolicy } from "../src/auth/post-policy.ts";
import { hmacHex, signingKey } from "../src/auth/signing.ts";
import { EXAMPLE, lookupExample } from "./auth_vectors.ts";

// "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)" from the S3
// documentation: its policy (base64, as printed) and the signature printed for it.
const POLICY =
  "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
const SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";
const BUCKET = "sigv4examplebucket";

function exampleFields(): Record<string, string> {
  return {
    key: "user/user1/photo.jpg",
    acl: "public-read",
    success_action_redirect: "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
    "Content-Type": "image/jpeg",
    "x-amz-meta-uuid": "14365123651274",
    "x-amz-server-side-encryption": "AES256",
    "X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Date": "20151229T000000Z",
    "x-amz-meta-tag": "",
    Policy: POLICY,
    "X-Amz-Signature": SIGNATURE,
  };
}

const at = (iso: string) => ({
  lookup: lookupExample,
  region: "us-east-1",
  now: () => new Date(iso),
});

async function expectDenied(fields: Record<string, string>, code: string, bucket = BUCKET) {
  const err = await assertRejects(
    () => verifyPostPolicy(fields, bucket, at("2015-12-29T10:00:00Z")),
    AuthError,
  );
  assertEquals(err.code, code, err.message);
}

Deno.test("AWS example: browser POST policy signature and conditions", async () => {
  const result = await verifyPostPolicy(exampleFields(), BUCKET, at("2015-12-29T10:00:00Z"));
  assertEquals(result, {
    accessKey: EXAMPLE.accessKey,
    principal: EXAMPLE.principal,
    contentLengthRange: undefined,
  });
});

Deno.test("POST policy: tampered, expired, or outside its conditions", async () => {
  await expectDenied(
    { ...exampleFields(), Policy: POLICY.slice(0, -4) + "fQ==" },
    "SignatureDoesNotMatch",
  );
  const expired = await assertRejects(
    () => verifyPostPolicy(exampleFields(), BUCKET, at("2015-12-30T12:00:01Z")),
    AuthError,
  );
  assertEquals([expired.code, expired.message], [
    "AccessDenied",
    "Invalid according to Policy: Policy expired.",
  ]);
  await expectDenied({ ...exampleFields(), key: "user/user2/photo.jpg" }, "AccessDenied");
  await expectDenied({ ...exampleFields(), "Content-Type": "text/html" }, "AccessDenied");
  await expectDenied({ ...exampleFields(), "x-amz-meta-other": "1" }, "AccessDenied");
  await expectDenied(exampleFields(), "AccessDenied", "otherbucket");
  // Both signatures at once; a SigV2 signature that does not match.
  await expectDenied(
    { ...exampleFields(), AWSAccessKeyId: "AKIAIOSFODNN7EXAMPLE", signature: "x" },
    "InvalidArgument",
  );
  const { "X-Amz-Signature": _, ...unsigned } = exampleFields();
  await expectDenied(
    { ...unsigned, AWSAccessKeyId: "AKIAIOSFODNN7EXAMPLE", signature: "x" },
    "SignatureDoesNotMatch",
  );
  const other = await assertRejects(
    () =>
      verifyPostPolicy(exampleFields(), BUCKET, {
        ...at("2015-12-29T10:00:00Z"),
        region: "eu-west-1",
      }),
    AuthError,
  );
  assertEquals(other.code, "AuthorizationHeaderMalformed");
  // x-ignore- fields need no condition.
  const ignored = await verifyPostPolicy(
    { ...exampleFields(), "x-ignore-button": "Upload" },
    BUCKET,
    at("2015-12-29T10:00:00Z"),
  );
  assertEquals(ignored.accessKey, EXAMPLE.accessKey);
});

Deno.test("POST policy: content-length-range is returned; anonymous forms pass", async () => {
  const policy = Buffer.from(JSON.stringify({
    expiration: "2030-01-01T00:00:00Z",
    conditions: [
      { bucket: "b" },
      ["starts-with", "$key", ""],
      ["content-length-range", 1, 1048576],
      { "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request" },
      { "x-amz-algorithm": "AWS4-HMAC-SHA256" },
      { "x-amz-date": "20260101T000000Z" },
    ],
  })).toString("base64");
  const key = signingKey(EXAMPLE.accessKey, EXAMPLE.secretKey, "20260101", "us-east-1", "s3");
  const fields = {
    key: "any",
    "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request",
    "x-amz-algorithm": "AWS4-HMAC-SHA256",
    "x-amz-date": "20260101T000000Z",
    policy,
    "x-amz-signature": hmacHex(key, policy),
  };
  const result = await verifyPostPolicy(fields, "b", at("2026-01-01T00:00:00Z"));
  assertEquals(result.contentLengthRange, { min: 1, max: 1048576 });
  assertEquals(await verifyPostPolicy({ key: "k" }, "b", at("2026-01-01T00:00:00Z")), {
    accessKey: "",
    principal: anonymousPrincipal(""),
  });
});
