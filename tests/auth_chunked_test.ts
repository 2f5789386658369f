import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { decodeAwsChunked } from "../src/auth/chunked.ts";
import { AuthError } from "../src/auth/errors.ts";
import { authenticate, type SignedRequest } from "../src/auth/sigv4.ts";
import { signingKey } from "../src/auth/signing.ts";
import {
  CHUNK_SIGNATURES,
  CHUNKED_DATA,
  chunkedBody,
  chunkedPut,
  EXAMPLE,
  EXAMPLE_NOW,
  lookupExample,
  pieces,
  readAll,
  REGION,
} from "./auth_vectors.ts";

const options = { lookup: lookupExample, region: REGION, now: () => EXAMPLE_NOW };
const encode = (text: string) => new TextEncoder().encode(text);

async function bodyError(request: SignedRequest): Promise<AuthError> {
  const result = await authenticate(request, options);
  return await assertRejects(() => readAll(result.body), AuthError);
}

Deno.test("AWS example: chunk-signed PUT decodes at any piece size", async () => {
  for (const size of [1, 7, 1000, 65536, 70000]) {
    const result = await authenticate(chunkedPut(chunkedBody(), size), options);
    assertEquals(result.contentLength, 66560);
    assertEquals(await readAll(result.body), CHUNKED_DATA);
    assertEquals(await result.trailers, new Headers());
  }
});

Deno.test("tampered chunk data or chunk signature errors the stream", async () => {
  const body = chunkedBody();
  body[5000] = 0x62;
  assertEquals((await bodyError(chunkedPut(body))).code, "SignatureDoesNotMatch");
  for (let i = 0; i < 3; i++) {
    const signatures = [...CHUNK_SIGNATURES];
    signatures[i] = signatures[i].slice(0, 63) + (signatures[i].endsWith("0") ? "1" : "0");
    assertEquals(
      (await bodyError(chunkedPut(chunkedBody(signatures)))).code,
      "SignatureDoesNotMatch",
    );
  }
});

Deno.test("a bad chunk errors before the stream reaches its end", async () => {
  const body = chunkedBody();
  body[100] = 0x62; // inside the first chunk
  const result = await authenticate(chunkedPut(body, 4096), options);
  const reader = result.body!.getReader();
  let received = 0;
  const err = await assertRejects(async () => {
    for (let i = 0; i < 100; i++) {
      const { done, value } = await reader.read();
      if (done) return;
      received += value.length;
    }
  }, AuthError);
  assertEquals(err.code, "SignatureDoesNotMatch");
  assertEquals(received <= 65536, true, `read ${received} bytes past the bad chunk`);
});

Deno.test("truncated bodies are IncompleteBody", async () => {
  const body = chunkedBody();
  for (const cut of [10, 70, 5000, 65700, body.length - 80, body.length - 3]) {
    const err = await bodyError(chunkedPut(body.subarray(0, cut)));
    assertEquals(err.code, "IncompleteBody", `cut at ${cut}: ${err.message}`);
  }
});

Deno.test("decoded length must equal x-amz-decoded-content-length", async () => {
  for (const declared of ["66559", "66561"]) {
    const request = chunkedPut();
    request.headers.set("x-amz-decoded-content-length", declared);
    // The header is signed: re-declaring it breaks the seed signature first.
    const err = await assertRejects(() => authenticate(request, options), AuthError);
    assertEquals(err.code, "SignatureDoesNotMatch");
  }
  const context = {
    key: signingKey(EXAMPLE.accessKey, EXAMPLE.secretKey, "20130524", REGION, "s3"),
    amzDate: "20130524T000000Z",
    scope: "20130524/us-east-1/s3/aws4_request",
  };
  const signing = { context, seed: chunkedPut().headers.get("authorization")!.slice(-64) };
  for (const decodedLength of [66559, 66561]) {
    const decoded = decodeAwsChunked(pieces(chunkedBody(), 999), {
      signing,
      trailerNames: [],
      decodedLength,
    });
    const err = await assertRejects(() => readAll(decoded.body), AuthError);
    assertEquals(err.code, "IncompleteBody");
  }
});

function unsigned(text: string, trailerNames: string[] = [], decodedLength = -1) {
  return decodeAwsChunked(pieces(encode(text), 3), { trailerNames, decodedLength });
}

Deno.test("framing errors: bad size, missing CRLF, long lines, oversized chunks, extra data", async () => {
  const bad = [
    "zz\r\nabc\r\n0\r\n\r\n",
    "3\r\nabcX\r\n0\r\n\r\n",
    "3\nabc\r\n0\r\n\r\n",
    "1" + "0".repeat(2000) + "\r\n",
    "2000000\r\n",
    "3\r\nabc\r\n0\r\n\r\nextra",
  ];
  for (const text of bad) {
    const err = await assertRejects(() => readAll(unsigned(text).body), AuthError);
    assertEquals(err.code, "InvalidRequest", JSON.stringify(text.slice(0, 40)));
  }
});

Deno.test("unsigned trailer bodies: trailers resolve after the body", async () => {
  const decoded = unsigned(
    "3\r\nabc\r\n2\r\nde\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n",
    ["x-amz-checksum-crc32"],
    5,
  );
  assertEquals(new TextDecoder().decode(await readAll(decoded.body)), "abcde");
  assertEquals((await decoded.trailers).get("x-amz-checksum-crc32"), "NSRBwg==");
  // Without trailers a body may end right after the final chunk.
  assertEquals(new TextDecoder().decode(await readAll(unsigned("1\r\nz\r\n0\r\n").body)), "z");
});

Deno.test("trailers must be the ones announced in x-amz-trailer", async () => {
  const missing = unsigned("1\r\nz\r\n0\r\n\r\n", ["x-amz-checksum-crc32"]);
  assertEquals(
    (await assertRejects(() => readAll(missing.body), AuthError)).code,
    "MalformedTrailerError",
  );
  const unannounced = unsigned("1\r\nz\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n");
  assertEquals(
    (await assertRejects(() => readAll(unannounced.body), AuthError)).code,
    "MalformedTrailerError",
  );
  assertEquals(
    (await assertRejects(() => unannounced.trailers, AuthError)).code,
    "MalformedTrailerError",
  );
});

// "Signature Calculations for Trailing Headers": the same 64 KiB + 1 KiB upload with a signed
// CRC32C trailer. The seed is the documented one, taken as given.
const TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
const TRAILER_CHUNKS = [
  "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
  "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
  "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
];
const TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

function signedTrailerBody(checksum: string) {
  const body = chunkedBody(
    TRAILER_CHUNKS,
    `x-amz-checksum-crc32c:${checksum}\r\nx-amz-trailer-signature:${TRAILER_SIGNATURE}\r\n\r\n`,
  );
  return decodeAwsChunked(pieces(body, 777), {
    signing: {
      context: {
        key: signingKey(EXAMPLE.accessKey, EXAMPLE.secretKey, "20130524", REGION, "s3"),
        amzDate: "20130524T000000Z",
        scope: "20130524/us-east-1/s3/aws4_request",
      },
      seed: TRAILER_SEED,
    },
    trailerNames: ["x-amz-checksum-crc32c"],
    decodedLength: 66560,
  });
}

Deno.test("AWS example: chunk-signed upload with a signed trailer", async () => {
  const decoded = signedTrailerBody("sOO8/Q==");
  assertEquals(await readAll(decoded.body), CHUNKED_DATA);
  assertEquals((await decoded.trailers).get("x-amz-checksum-crc32c"), "sOO8/Q==");
  const tampered = signedTrailerBody("sOO8/A==");
  const err = await assertRejects(() => readAll(tampered.body), AuthError);
  assertEquals(err.code, "SignatureDoesNotMatch");
});
