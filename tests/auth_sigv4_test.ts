import { assertEquals, assertRejects, assertThrows } from "./helpers/assert.ts";
import { checkScope, parseCredential } from "../src/auth/scope.ts";
import { AuthError } from "../src/auth/errors.ts";
import { authenticate, type SignedRequest } from "../src/auth/sigv4.ts";
import {
  EXAMPLE,
  EXAMPLE_NOW,
  getLifecycle,
  getObject,
  listObjects,
  lookupExample,
  presignedGet,
  PUT_BODY,
  putObject,
  readAll,
  REGION,
} from "./auth_vectors.ts";

const at = (date: Date) => ({ lookup: lookupExample, region: REGION, now: () => date });
const later = (seconds: number) => new Date(EXAMPLE_NOW.getTime() + seconds * 1000);

async function expectCode(request: SignedRequest, code: string, options = at(EXAMPLE_NOW)) {
  const err = await assertRejects(() => authenticate(request, options), AuthError);
  assertEquals(err.code, code, err.message);
}

Deno.test("AWS example: GET object with a Range header", async () => {
  const result = await authenticate(getObject(), at(EXAMPLE_NOW));
  assertEquals(result.accessKey, EXAMPLE.accessKey);
  assertEquals(result.body, null);
});

Deno.test("AWS example: PUT object with a signed payload, raw and encoded '$'", async () => {
  for (const target of ["/test$file.text", "/test%24file.text"]) {
    const result = await authenticate(putObject(target), at(EXAMPLE_NOW));
    assertEquals(new TextDecoder().decode(await readAll(result.body)), PUT_BODY);
    assertEquals(await result.trailers, new Headers());
  }
});

Deno.test("AWS example: GET bucket lifecycle and list objects", async () => {
  assertEquals((await authenticate(getLifecycle(), at(EXAMPLE_NOW))).accessKey, EXAMPLE.accessKey);
  assertEquals((await authenticate(listObjects(), at(EXAMPLE_NOW))).accessKey, EXAMPLE.accessKey);
  // Query order does not matter: the canonical query is sorted.
  const reordered = listObjects();
  reordered.target = "/?prefix=J&max-keys=2";
  assertEquals((await authenticate(reordered, at(EXAMPLE_NOW))).accessKey, EXAMPLE.accessKey);
});

Deno.test("AWS example: presigned GET, valid until its expiry", async () => {
  assertEquals((await authenticate(presignedGet(), at(EXAMPLE_NOW))).accessKey, EXAMPLE.accessKey);
  assertEquals((await authenticate(presignedGet(), at(later(86400)))).accessKey, EXAMPLE.accessKey);
});

Deno.test("anonymous requests pass with an empty access key", async () => {
  const result = await authenticate(
    { method: "GET", target: "/b/k", headers: new Headers({ host: "h" }), body: null },
    at(EXAMPLE_NOW),
  );
  assertEquals(result.accessKey, "");
});

Deno.test("a wrong secret or an unknown key is refused", async () => {
  const wrong = { ...EXAMPLE, secretKey: EXAMPLE.secretKey.replace("EXAMPLE", "EXAMPLF") };
  await expectCode(getObject(), "SignatureDoesNotMatch", {
    lookup: () => wrong,
    region: REGION,
    now: () => EXAMPLE_NOW,
  });
  await expectCode(getObject(), "InvalidAccessKeyId", {
    lookup: () => undefined,
    region: REGION,
    now: () => EXAMPLE_NOW,
  });
});

Deno.test("a tampered header, path or query breaks the signature", async () => {
  const range = getObject();
  range.headers.set("range", "bytes=0-10");
  await expectCode(range, "SignatureDoesNotMatch");
  const path = getObject();
  path.target = "/a/../test.txt";
  await expectCode(path, "SignatureDoesNotMatch");
  const query = listObjects();
  query.target = "/?max-keys=3&prefix=J";
  await expectCode(query, "SignatureDoesNotMatch");
  const missing = getObject();
  missing.headers.delete("range");
  await expectCode(missing, "SignatureDoesNotMatch");
});

Deno.test("a body that differs from x-amz-content-sha256 errors the stream", async () => {
  const result = await authenticate(
    putObject("/test$file.text", "Welcome to Amazon S4."),
    at(EXAMPLE_NOW),
  );
  const err = await assertRejects(() => readAll(result.body), AuthError);
  assertEquals(err.code, "XAmzContentSHA256Mismatch");
});

Deno.test("dates: missing, skewed, and presigned expiry", async () => {
  const noDate = getObject();
  noDate.headers.delete("x-amz-date");
  await expectCode(noDate, "AccessDenied");
  await expectCode(getObject(), "RequestTimeTooSkewed", at(later(16 * 60)));
  await expectCode(getObject(), "RequestTimeTooSkewed", at(later(-16 * 60)));
  assertEquals((await authenticate(getObject(), at(later(14 * 60)))).accessKey, EXAMPLE.accessKey);
  const expired = await assertRejects(
    () => authenticate(presignedGet(), at(later(86401))),
    AuthError,
  );
  assertEquals([expired.code, expired.message], ["AccessDenied", "Request has expired"]);
  await expectCode(presignedGet(), "AccessDenied", at(later(-16 * 60)));
  await expectCode(presignedGet("604801"), "AuthorizationQueryParametersError");
  await expectCode(presignedGet("-1"), "AuthorizationQueryParametersError");
});

Deno.test("credential scope: region, service and date must match", async () => {
  await expectCode(getObject(), "AuthorizationHeaderMalformed", {
    lookup: lookupExample,
    region: "eu-west-1",
    now: () => EXAMPLE_NOW,
  });
  const service = getObject();
  service.headers.set(
    "authorization",
    service.headers.get("authorization")!.replace("/s3/", "/ec2/"),
  );
  await expectCode(service, "AuthorizationHeaderMalformed");
  await expectCode(presignedGet(), "AuthorizationQueryParametersError", {
    lookup: lookupExample,
    region: "eu-west-1",
    now: () => EXAMPLE_NOW,
  });
  const malformed = getObject();
  malformed.headers.set("authorization", "AWS4-HMAC-SHA256 Credential=x");
  await expectCode(malformed, "AuthorizationHeaderMalformed");
});

Deno.test("credential scope: s3cmd's legacy region name US stands for us-east-1", () => {
  const malformed = (message: string) => new AuthError("AuthorizationHeaderMalformed", message);
  const scope = parseCredential("AKID/20130524/US/s3/aws4_request", malformed);
  checkScope(scope, EXAMPLE_NOW, "us-east-1", "s3", malformed);
  assertThrows(() => checkScope(scope, EXAMPLE_NOW, "eu-west-1", "s3", malformed), AuthError);
});

Deno.test("credential scope: any region without one configured; iam and sts also us-east-1", () => {
  const malformed = (message: string) => new AuthError("AuthorizationHeaderMalformed", message);
  const scope = (region: string, service: string) =>
    parseCredential(`AKID/20130524/${region}/${service}/aws4_request`, malformed);
  checkScope(scope("eu-west-1", "s3"), EXAMPLE_NOW, undefined, "s3", malformed);
  checkScope(scope("us-east-1", "iam"), EXAMPLE_NOW, "eu-west-1", "iam", malformed);
  checkScope(scope("us-east-1", "sts"), EXAMPLE_NOW, "eu-west-1", "sts", malformed);
  checkScope(scope("eu-west-1", "sts"), EXAMPLE_NOW, "eu-west-1", "sts", malformed);
  const wrong = assertThrows(
    () => checkScope(scope("us-east-1", "s3"), EXAMPLE_NOW, "eu-west-1", "s3", malformed),
    AuthError,
  );
  assertEquals(wrong.extra, { Region: "eu-west-1" });
  assertThrows(
    () => checkScope(scope("us-east-1", "iam"), EXAMPLE_NOW, "eu-west-1", "s3", malformed),
    AuthError,
  );
});

Deno.test("SigV4a is refused as not implemented", async () => {
  const v4a = getObject();
  v4a.headers.set(
    "authorization",
    "AWS4-ECDSA-P256-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/s3/aws4_request, " +
      "SignedHeaders=host;x-amz-date;x-amz-region-set, Signature=3045022100",
  );
  await expectCode(v4a, "NotImplemented");
  const v4aPayload = getObject();
  v4aPayload.headers.set("x-amz-content-sha256", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD");
  await expectCode(v4aPayload, "NotImplemented");
});

Deno.test("header and query signatures together are refused", async () => {
  const both = presignedGet();
  both.headers.set("authorization", getObject().headers.get("authorization")!);
  await expectCode(both, "InvalidArgument");
});

Deno.test("an unknown x-amz-content-sha256 is refused", async () => {
  const request = getObject();
  request.headers.set("x-amz-content-sha256", "NOT-A-HASH");
  await expectCode(request, "InvalidArgument");
});

Deno.test("payload modes that do not fit the request are refused", async () => {
  // Added to a signed request, x-amz-trailer is an unsigned header (refused first).
  const unsignedTrailer = putObject();
  unsignedTrailer.headers.set("x-amz-trailer", "x-amz-checksum-crc32");
  await expectCode(unsignedTrailer, "AccessDenied");
  const trailerWithoutStreaming: SignedRequest = {
    method: "PUT",
    target: "/b/k",
    headers: new Headers({ host: "h", "x-amz-trailer": "x-amz-checksum-crc32" }),
    body: new Blob(["data"]).stream(),
  };
  await expectCode(trailerWithoutStreaming, "InvalidRequest");
  const anonymousSignedChunks: SignedRequest = {
    method: "PUT",
    target: "/b/k",
    headers: new Headers({
      host: "h",
      "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    }),
    body: new Blob(["0\r\n\r\n"]).stream(),
  };
  await expectCode(anonymousSignedChunks, "AccessDenied");
});
