/**
 * Which x-amz-* headers a request may act on (src/auth/amz-headers.ts): the unsigned-header rule
 * and the presigned query parameters applied as headers.
 */
import { assertEquals, assertThrows } from "./helpers/assert.ts";
import { refuseUnsignedHeaders, withQueryHeaders } from "../src/auth/amz-headers.ts";
import { AuthError } from "../src/auth/errors.ts";

Deno.test("unsigned x-amz-* headers are listed; x-amzn-* and other headers are not S3's", () => {
  const headers = new Headers({
    host: "h",
    "x-amzn-trace-id": "Root=1",
    "user-agent": "ua",
    "x-amz-date": "20130524T000000Z",
    "x-amz-meta-a": "1",
    "x-amz-acl": "public-read",
  });
  const err = assertThrows(
    () => refuseUnsignedHeaders(headers, ["host", "x-amz-date"], false),
    AuthError,
  );
  assertEquals([err.code, err.extra], ["AccessDenied", {
    HeadersNotSigned: "x-amz-acl, x-amz-meta-a",
  }]);
  refuseUnsignedHeaders(headers, ["host", "x-amz-date", "x-amz-acl", "x-amz-meta-a"], false);
});

Deno.test("x-amz-content-sha256 may be unsigned on presigned requests only", () => {
  const headers = new Headers({ host: "h", "x-amz-content-sha256": "UNSIGNED-PAYLOAD" });
  refuseUnsignedHeaders(headers, ["host"], true);
  assertThrows(() => refuseUnsignedHeaders(headers, ["host"], false), AuthError);
});

Deno.test("presigned x-amz-* parameters become headers, as the bytes a header would carry", () => {
  const headers = new Headers({ host: "h" });
  const merged = withQueryHeaders(headers, [
    ["X-Amz-Credential", "k/20130524/us-east-1/s3/aws4_request"],
    ["X-Amz-Signature", "0"],
    ["X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"],
    ["x-amz-meta-name", "café"],
    ["x-amz-acl", "private"],
    ["x-amz-checksum-crc32", "AAAAAA=="],
    ["x-amz-sdk-checksum-algorithm", "CRC32"],
    ["x-amzn-trace-id", "Root=1"],
    ["x-id", "PutObject"],
  ]);
  assertEquals([...merged], [
    ["host", "h"],
    ["x-amz-acl", "private"],
    ["x-amz-meta-name", "caf\u00c3\u00a9"],
  ]);
  assertEquals(withQueryHeaders(headers, [["x-id", "GetObject"]]), headers);
});

Deno.test("a name both header and parameter must have one value", () => {
  const headers = new Headers({ host: "h", "x-amz-meta-a": "1" });
  assertEquals(withQueryHeaders(headers, [["x-amz-meta-a", "1"]]).get("x-amz-meta-a"), "1");
  const err = assertThrows(() => withQueryHeaders(headers, [["x-amz-meta-a", "2"]]), AuthError);
  assertEquals(err.code, "InvalidRequest");
  const bad = assertThrows(() => withQueryHeaders(headers, [["x-amz-meta-b", "a\nb"]]), AuthError);
  assertEquals(bad.code, "InvalidArgument");
});
