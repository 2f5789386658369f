/**
 * The dispatch table as data: every operation names the IAM actions it needs and on what, and
 * a route carries its parsed parameters (upload id, part number, version id).
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { type Permission, type Route, route, ROUTES } from "../src/s3/router.ts";
import { S3Error } from "../src/s3/errors.ts";
import { S3_ACTIONS } from "../src/iam/policy/actions.ts";

const COPY = new Headers({ "x-amz-copy-source": "/src/key" });

function routed(method: string, target: string, headers?: Headers): Route {
  const result = route(method, target, "127.0.0.1", [], headers);
  if (result instanceof S3Error) throw result;
  return result;
}

const asked = (permissions: readonly Permission[]) =>
  permissions.map((p) => `${p.action} on ${p.on}${p.ofVersion ? ` (${p.ofVersion})` : ""}`);

Deno.test("routes: every rule names known S3 actions", () => {
  for (const rule of ROUTES) {
    assert(rule.permissions.length > 0, rule.op);
    for (const p of rule.permissions) {
      for (const action of [p.action, p.ofVersion ?? p.action]) {
        assert(S3_ACTIONS.has(action.toLowerCase()) || S3_ACTIONS.has(action), action);
      }
    }
  }
});

Deno.test("routes: the actions and resources AWS documents per operation", () => {
  const cases: [string, string, string[], Headers?][] = [
    ["GET", "/", ["s3:ListAllMyBuckets on account"]],
    ["GET", "/bkt/k", ["s3:GetObject on object (s3:GetObjectVersion)"]],
    ["HEAD", "/bkt/k", ["s3:GetObject on object (s3:GetObjectVersion)"]],
    ["GET", "/bkt?list-type=2&prefix=a", ["s3:ListBucket on bucket"]],
    ["GET", "/bkt", ["s3:ListBucket on bucket"]],
    ["HEAD", "/bkt", ["s3:ListBucket on bucket"]],
    ["GET", "/bkt?versions", ["s3:ListBucketVersions on bucket"]],
    ["GET", "/bkt?uploads", ["s3:ListBucketMultipartUploads on bucket"]],
    ["PUT", "/bkt/k", ["s3:PutObject on object"]],
    ["PUT", "/bkt/k", [
      "s3:PutObject on object",
      "s3:GetObject on copy-source (s3:GetObjectVersion)",
    ], COPY],
    [
      "PUT",
      "/bkt/k?partNumber=2&uploadId=u",
      ["s3:PutObject on object", "s3:GetObject on copy-source (s3:GetObjectVersion)"],
      COPY,
    ],
    ["PUT", "/bkt/k?partNumber=2&uploadId=u", ["s3:PutObject on object"]],
    ["POST", "/bkt/k?uploads", ["s3:PutObject on object"]],
    ["POST", "/bkt/k?uploadId=u", ["s3:PutObject on object"]],
    ["DELETE", "/bkt/k?uploadId=u", ["s3:AbortMultipartUpload on object"]],
    ["GET", "/bkt/k?uploadId=u", ["s3:ListMultipartUploadParts on object"]],
    ["DELETE", "/bkt/k", ["s3:DeleteObject on object (s3:DeleteObjectVersion)"]],
    ["POST", "/bkt?delete", ["s3:DeleteObject on each-key (s3:DeleteObjectVersion)"]],
    ["POST", "/bkt", ["s3:PutObject on form-key"]],
    ["PUT", "/bkt", ["s3:CreateBucket on bucket"]],
    ["DELETE", "/bkt", ["s3:DeleteBucket on bucket"]],
    ["PUT", "/bkt?policy", ["s3:PutBucketPolicy on bucket"]],
    ["GET", "/bkt?policy", ["s3:GetBucketPolicy on bucket"]],
    ["DELETE", "/bkt?policy", ["s3:DeleteBucketPolicy on bucket"]],
    ["GET", "/bkt?policyStatus", ["s3:GetBucketPolicyStatus on bucket"]],
    ["GET", "/bkt?acl", ["s3:GetBucketAcl on bucket"]],
    ["PUT", "/bkt/k?acl", ["s3:PutObjectAcl on object (s3:PutObjectVersionAcl)"]],
  ];
  for (const [method, target, expected, headers] of cases) {
    assertEquals(asked(routed(method, target, headers).permissions), expected, target);
  }
});

Deno.test("routes: parameters are parsed once, into the route", () => {
  const part = routed("PUT", "/bkt/k?partNumber=07&uploadId=abc");
  assertEquals([part.partNumber, part.uploadId, part.versionId], [7, "abc", undefined]);
  const get = routed("GET", "/bkt/k?partNumber=3&versionId=null");
  assertEquals([get.partNumber, get.versionId], [3, "null"]);
  // A part number only means something to the operations that take one.
  assertEquals(routed("DELETE", "/bkt/k?partNumber=x").partNumber, undefined);
  for (const bad of ["0", "10001", "x", "", "1.5"]) {
    const result = route("GET", `/bkt/k?partNumber=${bad}`, "h", []);
    assert(result instanceof S3Error && result.code === "InvalidArgument", bad);
  }
});
