import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { decodePath, isValidBucketName, route, type S3Operation } from "../src/s3/router.ts";
import { S3Error } from "../src/s3/errors.ts";

const COPY = new Headers({ "x-amz-copy-source": "/src/key" });

function op(
  method: string,
  target: string,
  headers?: Headers,
  host: string | null = "127.0.0.1:9000",
  domains: string[] = [],
): S3Operation | string {
  const result = route(method, target, host, domains, headers);
  return result instanceof S3Error ? `error:${result.code}` : result.op;
}

Deno.test("router: every operation of the table", () => {
  const cases: [string, string, S3Operation, Headers?][] = [
    ["GET", "/", "ListBuckets"],
    ["GET", "/?x-id=ListBuckets&max-buckets=10", "ListBuckets"],
    ["PUT", "/bucket", "CreateBucket"],
    ["PUT", "/bucket/", "CreateBucket"],
    ["HEAD", "/bucket", "HeadBucket"],
    ["DELETE", "/bucket", "DeleteBucket"],
    ["GET", "/bucket?location", "GetBucketLocation"],
    ["GET", "/bucket?location=", "GetBucketLocation"],
    ["GET", "/bucket?versioning", "GetBucketVersioning"],
    ["GET", "/bucket", "ListObjects"],
    ["GET", "/bucket?prefix=&delimiter=%2F&marker=a", "ListObjects"],
    ["GET", "/bucket?list-type=2&prefix=&encoding-type=url", "ListObjectsV2"],
    ["GET", "/bucket?versions", "ListObjectVersions"],
    ["GET", "/bucket?uploads", "ListMultipartUploads"],
    ["GET", "/bucket?acl", "GetBucketAcl"],
    ["PUT", "/bucket?acl", "PutBucketAcl"],
    ["POST", "/bucket?delete", "DeleteObjects"],
    ["POST", "/bucket?delete=&x-id=DeleteObjects", "DeleteObjects"],
    ["POST", "/bucket", "PostObject"],
    ["POST", "/bucket/", "PostObject"],
    ["PUT", "/bucket/key", "PutObject"],
    ["PUT", "/bucket/key?x-id=PutObject", "PutObject"],
    ["PUT", "/bucket/key", "CopyObject", COPY],
    ["GET", "/bucket/key", "GetObject"],
    ["GET", "/bucket/key?response-content-type=text%2Fplain&x-id=GetObject", "GetObject"],
    ["GET", "/bucket/key?versionId=null", "GetObject"],
    ["GET", "/bucket/key?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab", "GetObject"],
    ["HEAD", "/bucket/key", "HeadObject"],
    ["DELETE", "/bucket/key", "DeleteObject"],
    ["GET", "/bucket/key?acl", "GetObjectAcl"],
    ["PUT", "/bucket/key?acl", "PutObjectAcl"],
    ["PUT", "/bucket/key?acl", "PutObjectAcl", COPY],
    ["GET", "/bucket/key?tagging", "GetObjectTagging"],
    ["POST", "/bucket/key?uploads", "CreateMultipartUpload"],
    ["PUT", "/bucket/key?partNumber=1&uploadId=abc", "UploadPart"],
    ["PUT", "/bucket/key?partNumber=1&uploadId=abc", "UploadPartCopy", COPY],
    ["POST", "/bucket/key?uploadId=abc", "CompleteMultipartUpload"],
    ["DELETE", "/bucket/key?uploadId=abc", "AbortMultipartUpload"],
    ["GET", "/bucket/key?uploadId=abc&max-parts=10", "ListParts"],
    ["PUT", "/bucket?policy", "PutBucketPolicy"],
    ["GET", "/bucket?policy", "GetBucketPolicy"],
    ["DELETE", "/bucket?policy", "DeleteBucketPolicy"],
    ["GET", "/bucket?policyStatus", "GetBucketPolicyStatus"],
    ["PUT", "/bucket?versioning", "PutBucketVersioning"],
    ["GET", "/bucket?tagging", "GetBucketTagging"],
    ["DELETE", "/bucket?tagging", "DeleteBucketTagging"],
    ["PUT", "/bucket/key?tagging", "PutObjectTagging"],
    ["GET", "/bucket?object-lock", "GetObjectLockConfiguration"],
    ["GET", "/bucket/key?retention", "GetObjectRetention"],
    ["PUT", "/bucket/key?legal-hold", "PutObjectLegalHold"],
    ["GET", "/bucket?lifecycle", "GetBucketLifecycleConfiguration"],
    ["PUT", "/bucket?cors", "PutBucketCors"],
  ];
  for (const [method, target, expected, headers] of cases) {
    assertEquals(op(method, target, headers), expected, `${method} ${target}`);
  }
});

Deno.test("router: unsupported and unknown subresources are NotImplemented", () => {
  const cases: [string, string][] = [
    ["POST", "/bucket?policy"],
    ["GET", "/bucket/key?policy"],
    ["GET", "/bucket?accelerate"],
    ["GET", "/bucket?website"],
    ["GET", "/bucket?logging"],
    ["GET", "/bucket?notification"],
    ["GET", "/bucket?replication"],
    ["POST", "/bucket/key?restore"],
    ["POST", "/bucket/key?select&select-type=2"],
    ["GET", "/bucket/key?torrent"],
    ["GET", "/bucket?retention"],
    ["PUT", "/bucket/key?cors"],
    ["GET", "/bucket/key?lifecycle"],
    ["GET", "/bucket?nonsense"],
    ["GET", "/bucket/key?frobnicate="],
    // Subresources that make no sense where they are sent.
    ["GET", "/bucket/key?uploads"],
    ["GET", "/bucket/key?location"],
    ["POST", "/bucket/key?delete"],
    ["PUT", "/bucket/key?uploadId=abc"],
    ["GET", "/bucket?acl&uploads"],
    ["GET", "/bucket?list-type=3"],
    ["DELETE", "/bucket?uploads"],
    ["POST", "/bucket?uploads"],
    ["GET", "/bucket?uploadId=abc"],
  ];
  for (const [method, target] of cases) {
    assertEquals(op(method, target), "error:NotImplemented", `${method} ${target}`);
  }
});

Deno.test("router: methods without an operation are MethodNotAllowed", () => {
  for (
    const [method, target] of [
      ["PUT", "/"],
      ["DELETE", "/"],
      ["PATCH", "/bucket/key"],
      ["OPTIONS", "/bucket"],
      ["POST", "/bucket/key"],
    ]
  ) {
    assertEquals(op(method, target), "error:MethodNotAllowed", `${method} ${target}`);
  }
});

Deno.test("router: keys are decoded once and never normalised", () => {
  const keyOf = (target: string) => {
    const result = route("GET", target, "localhost", []);
    if (result instanceof S3Error) throw result;
    return [result.bucket, result.key];
  };
  assertEquals(keyOf("/b-1/a/../b"), ["b-1", "a/../b"]);
  assertEquals(keyOf("/b-1/a/%2e%2e/b"), ["b-1", "a/../b"]);
  assertEquals(keyOf("/b-1//x//"), ["b-1", "/x//"]);
  assertEquals(keyOf("/b-1/a+b%20c%2Bd"), ["b-1", "a+b c+d"]);
  assertEquals(keyOf("/b-1/%E2%82%AC%2F%3F%23"), ["b-1", "€/?#"]);
  assertEquals(keyOf("/b-1/100%"), ["b-1", "100%"]);
  assertEquals(keyOf("/b-1/a?uploadId=x%2By"), ["b-1", "a"]);
  assertEquals(decodePath("%ff"), undefined);
  assertEquals(op("GET", "/b-1/%ff"), "error:InvalidURI");
  assertEquals(op("GET", "b-1/key"), "error:InvalidURI");
});

Deno.test("router: query values are decoded", () => {
  const result = route("GET", "/b-1?list-type=2&prefix=a%2Fb+c&delimiter=%2F", "h", []);
  assert(!(result instanceof S3Error));
  assertEquals(result.query.get("prefix"), "a/b c");
  assertEquals(result.query.get("delimiter"), "/");
});

Deno.test("router: bucket names and key lengths are checked", () => {
  for (const good of ["abc", "a-b.c", "my.bucket-01", "a".repeat(63), "1bucket"]) {
    assert(isValidBucketName(good), good);
  }
  const bad = [
    "ab",
    "a".repeat(64),
    "Bucket",
    "bu_cket",
    "-abc",
    "abc-",
    ".abc",
    "a..b",
    "a.-b",
    "a-.b",
    "192.168.1.1",
    "flashstor",
    ".flashstor.sys",
  ];
  for (const name of bad) {
    assert(!isValidBucketName(name), name);
    assertEquals(op("GET", `/${encodeURIComponent(name)}`), "error:InvalidBucketName", name);
    assertEquals(op("PUT", `/${encodeURIComponent(name)}/key`), "error:InvalidBucketName", name);
  }
  assertEquals(op("PUT", `/bucket/${"k".repeat(1024)}`), "PutObject");
  assertEquals(op("PUT", `/bucket/${"k".repeat(1025)}`), "error:KeyTooLongError");
  // 1024 bytes of UTF-8 is the limit, not 1024 characters.
  assertEquals(
    op("PUT", `/bucket/${encodeURIComponent("€".repeat(342))}`),
    "error:KeyTooLongError",
  );
  assertEquals(op("PUT", `/bucket/${encodeURIComponent("€".repeat(341))}`), "PutObject");
});

Deno.test("router: virtual-host-style addressing for configured domains", () => {
  const domains = ["s3.example.com", "localhost"];
  const vhost = (method: string, target: string, host: string) => {
    const result = route(method, target, host, domains);
    return result instanceof S3Error ? result.code : [result.op, result.bucket, result.key];
  };
  assertEquals(vhost("GET", "/", "my-bucket.s3.example.com"), ["ListObjects", "my-bucket", ""]);
  assertEquals(vhost("GET", "/a/b", "my-bucket.S3.Example.com:9000"), [
    "GetObject",
    "my-bucket",
    "a/b",
  ]);
  assertEquals(vhost("PUT", "/", "new.bucket.localhost:9000"), ["CreateBucket", "new.bucket", ""]);
  assertEquals(vhost("GET", "/?location", "b-1.localhost"), ["GetBucketLocation", "b-1", ""]);
  // The bare domain, or a host outside every domain, is path-style.
  assertEquals(vhost("GET", "/", "s3.example.com"), ["ListBuckets", "", ""]);
  assertEquals(vhost("GET", "/b-1/k", "127.0.0.1:9000"), ["GetObject", "b-1", "k"]);
  assertEquals(vhost("GET", "/", "Bad_Name.localhost"), "InvalidBucketName");
});
