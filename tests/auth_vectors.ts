/**
 * AWS's published SigV4 examples for S3 (examplebucket, 20130524, us-east-1), shared by the
 * auth tests. Values are the ones printed in "Signature Calculations for the Authorization
 * Header" (single chunk and multiple chunks) and "Authenticating Requests: Using Query Parameters".
 */
import { type Credentials, rootPrincipal } from "../src/auth/credentials.ts";
import type { SignedRequest } from "../src/auth/sigv4.ts";
import { concatBytes } from "../src/bytes.ts";

export const EXAMPLE: Credentials = {
  accessKey: "AKIAIOSFODNN7EXAMPLE",
  secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  principal: rootPrincipal("123456789012", "AKIAIOSFODNN7EXAMPLE"),
};
export const REGION = "us-east-1";
export const EXAMPLE_NOW = new Date("2013-05-24T00:00:00Z");
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const HOST = "examplebucket.s3.amazonaws.com";
const CREDENTIAL = "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request";

export const lookupExample = (accessKey: string) =>
  accessKey === EXAMPLE.accessKey ? EXAMPLE : undefined;

function authorization(signedHeaders: string, signature: string): string {
  return `AWS4-HMAC-SHA256 ${CREDENTIAL},SignedHeaders=${signedHeaders},Signature=${signature}`;
}

function bytes(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

/** GET Object with a Range header. */
export function getObject(): SignedRequest {
  return {
    method: "GET",
    target: "/test.txt",
    headers: new Headers({
      host: HOST,
      range: "bytes=0-9",
      "x-amz-content-sha256": EMPTY_SHA256,
      "x-amz-date": "20130524T000000Z",
      authorization: authorization(
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
      ),
    }),
    body: null,
  };
}

export const PUT_BODY = "Welcome to Amazon S3.";

/** PUT Object "test$file.text" with a signed payload. */
export function putObject(target = "/test$file.text", body = PUT_BODY): SignedRequest {
  return {
    method: "PUT",
    target,
    headers: new Headers({
      host: HOST,
      date: "Fri, 24 May 2013 00:00:00 GMT",
      "x-amz-date": "20130524T000000Z",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
      "x-amz-content-sha256": "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
      authorization: authorization(
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
      ),
    }),
    body: bytes(body),
  };
}

function bucketGet(target: string, signature: string): SignedRequest {
  return {
    method: "GET",
    target,
    headers: new Headers({
      host: HOST,
      "x-amz-content-sha256": EMPTY_SHA256,
      "x-amz-date": "20130524T000000Z",
      authorization: authorization("host;x-amz-content-sha256;x-amz-date", signature),
    }),
    body: null,
  };
}

/** GET Bucket lifecycle. */
export const getLifecycle = () =>
  bucketGet("/?lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

/** GET Bucket (list objects), max-keys=2, prefix=J. */
export const listObjects = () =>
  bucketGet(
    "/?max-keys=2&prefix=J",
    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
  );

/** The presigned GET of test.txt, valid 86400 s. */
export function presignedGet(expires = "86400"): SignedRequest {
  return {
    method: "GET",
    target: "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
      "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" +
      `&X-Amz-Date=20130524T000000Z&X-Amz-Expires=${expires}&X-Amz-SignedHeaders=host` +
      "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
    headers: new Headers({ host: HOST }),
    body: null,
  };
}

export const CHUNKED_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
export const CHUNK_SIGNATURES = [
  "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
  "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
  "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
export const CHUNKED_DATA = new Uint8Array(66560).fill(0x61);

/** The aws-chunked body of the example: 64 KiB and 1 KiB of 'a', then the final chunk. */
export function chunkedBody(signatures = CHUNK_SIGNATURES, trailer = "\r\n"): Uint8Array {
  const e = new TextEncoder();
  const parts = [
    e.encode(`10000;chunk-signature=${signatures[0]}\r\n`),
    CHUNKED_DATA.subarray(0, 65536),
    e.encode(`\r\n400;chunk-signature=${signatures[1]}\r\n`),
    CHUNKED_DATA.subarray(65536),
    e.encode(`\r\n0;chunk-signature=${signatures[2]}\r\n${trailer}`),
  ];
  return concatBytes(parts);
}

/** Streams `data` in pieces of `size` bytes, so that parsing is tested across boundaries. */
export function pieces(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      controller.enqueue(data.slice(at, at + size));
      at += size;
    },
  });
}

/** The chunk-signed PUT of chunkObject.txt. */
export function chunkedPut(body = chunkedBody(), pieceSize = 1000): SignedRequest {
  return {
    method: "PUT",
    target: "/examplebucket/chunkObject.txt",
    headers: new Headers({
      host: "s3.amazonaws.com",
      "x-amz-date": "20130524T000000Z",
      "x-amz-storage-class": "REDUCED_REDUNDANCY",
      "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
      "content-encoding": "aws-chunked",
      "x-amz-decoded-content-length": "66560",
      "content-length": "66824",
      authorization: authorization(
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;" +
          "x-amz-decoded-content-length;x-amz-storage-class",
        CHUNKED_SEED,
      ),
    }),
    body: pieces(body, pieceSize),
  };
}

/** Reads a stream to the end. */
export async function readAll(
  stream: ReadableStream<Uint8Array> | null,
): Promise<Uint8Array<ArrayBuffer>> {
  if (stream === null) return new Uint8Array(0);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
