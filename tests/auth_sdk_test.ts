/**
 * Round trips with the real AWS SDK for JavaScript v3: its signer, its default checksums
 * (CRC32, sent as an aws-chunked trailer for streams) and its presigner, against a tiny
 * Deno.serve on 127.0.0.1 that runs authenticate() and the checksum verifier.
 */
import { Readable } from "node:stream";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { assertEquals, assertRejects } from "./auth_assert.ts";
import { AuthError } from "../src/auth/errors.ts";
import { authenticate } from "../src/auth/sigv4.ts";
import { checksumVerifier, requestChecksumSpec } from "../src/s3/checksum.ts";
import { readAll } from "./auth_vectors.ts";

const KEYS = { accessKey: "flashstortestkey", secretKey: "flashstor/test+secret/key0123456789" };
const REGION = "us-east-1";

interface Received {
  method: string;
  target: string;
  contentSha256: string | null;
  data: Uint8Array<ArrayBuffer>;
  checksums: Record<string, string>;
}

function errorResponse(err: AuthError): Response {
  const status =
    ["BadDigest", "InvalidDigest", "InvalidRequest", "IncompleteBody"].includes(err.code)
      ? 400
      : 403;
  const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${err.code}</Code>` +
    `<Message>${err.message.replace(/[<&]/g, "")}</Message></Error>`;
  return new Response(xml, { status, headers: { "content-type": "application/xml" } });
}

async function withServer(fn: (endpoint: string, received: Received[]) => Promise<void>) {
  const received: Received[] = [];
  const stored = new Map<string, Uint8Array<ArrayBuffer>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    // Deno.serve keeps the raw request target in req.url; new URL() would normalise it.
    const target = req.url.slice(req.url.indexOf("/", "http://".length));
    try {
      const auth = await authenticate(
        { method: req.method, target, headers: req.headers, body: req.body },
        { lookup: (key) => key === KEYS.accessKey ? KEYS : undefined, region: REGION },
      );
      const verifier = checksumVerifier(requestChecksumSpec(req.headers, auth.trailers));
      const data = await readAll(auth.body?.pipeThrough(verifier.transform) ?? null);
      received.push({
        method: req.method,
        target,
        contentSha256: req.headers.get("x-amz-content-sha256"),
        data,
        checksums: verifier.result(),
      });
      const path = target.split("?")[0];
      if (req.method === "PUT") stored.set(path, data);
      if (req.method === "GET") return new Response(stored.get(path) ?? new Uint8Array());
      if (req.method === "POST") {
        return new Response('<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>');
      }
      return new Response(null, { headers: { etag: '"0"' } });
    } catch (err) {
      if (err instanceof AuthError) return errorResponse(err);
      throw err;
    }
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, received);
  } finally {
    await server.shutdown();
  }
}

function client(endpoint: string, secretKey = KEYS.secretKey): S3Client {
  return new S3Client({
    endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: KEYS.accessKey, secretAccessKey: secretKey },
  });
}

const DATA = new Uint8Array(200_000).map((_, i) => (i * 31) & 0xff);
const KEY = "dir/a b+c~é%.txt";

Deno.test("SDK PutObject with a buffer body and default checksums", async () => {
  await withServer(async (endpoint, received) => {
    const s3 = client(endpoint);
    await s3.send(new PutObjectCommand({ Bucket: "bucket", Key: KEY, Body: DATA }));
    s3.destroy();
    assertEquals(received.length, 1);
    assertEquals(received[0].data, DATA);
    assertEquals(Object.keys(received[0].checksums), ["x-amz-checksum-crc32"]);
    // Over plain HTTP the SDK signs the payload hash of a buffer body.
    assertEquals(received[0].contentSha256?.length, 64);
    assertEquals(received[0].target, "/bucket/dir/a%20b%2Bc~%C3%A9%25.txt?x-id=PutObject");
  });
});

Deno.test("SDK PutObject with a stream body: aws-chunked with a CRC32 trailer", async () => {
  await withServer(async (endpoint, received) => {
    const s3 = client(endpoint);
    const chunks = [DATA.subarray(0, 70_000), DATA.subarray(70_000)];
    await s3.send(
      new PutObjectCommand({
        Bucket: "bucket",
        Key: "x/../y z",
        Body: Readable.from(chunks),
        ContentLength: DATA.length,
      }),
    );
    const get = await s3.send(new GetObjectCommand({ Bucket: "bucket", Key: "x/../y z" }));
    assertEquals(await get.Body!.transformToByteArray(), DATA);
    s3.destroy();
    assertEquals(received[0].contentSha256, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    assertEquals(received[0].target, "/bucket/x/../y%20z?x-id=PutObject");
    assertEquals(received[0].data, DATA);
    assertEquals(Object.keys(received[0].checksums), ["x-amz-checksum-crc32"]);
  });
});

Deno.test("SDK DeleteObjects sends a checksum header instead of Content-MD5", async () => {
  await withServer(async (endpoint, received) => {
    const s3 = client(endpoint);
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: "bucket",
        Delete: { Objects: [{ Key: "a" }, { Key: "b" }] },
      }),
    );
    s3.destroy();
    assertEquals(received[0].method, "POST");
    assertEquals(Object.keys(received[0].checksums).length, 1);
  });
});

Deno.test("SDK presigned PUT and GET", async () => {
  await withServer(async (endpoint, received) => {
    const s3 = client(endpoint);
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: "bucket", Key: KEY }), {
      expiresIn: 300,
    });
    const put = await fetch(putUrl, { method: "PUT", body: DATA });
    assertEquals(put.status, 200, await put.text());
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: "bucket", Key: KEY }), {
      expiresIn: 300,
    });
    const get = await fetch(getUrl);
    assertEquals(new Uint8Array(await get.arrayBuffer()), DATA);
    const tampered = await fetch(getUrl.replace("X-Amz-Expires=300", "X-Amz-Expires=301"));
    assertEquals(tampered.status, 403);
    assertEquals((await tampered.text()).includes("SignatureDoesNotMatch"), true);
    s3.destroy();
    // The SDK signs the CRC32 of an empty body into presigned PUTs; only headers and trailers
    // carry checksums here, so the upload of other bytes is accepted (as MinIO does).
    assertEquals(received[0].target.includes("x-amz-checksum-crc32=AAAAAA%3D%3D"), true);
    assertEquals(received[0].data, DATA);
  });
});

Deno.test("SDK with a wrong secret gets SignatureDoesNotMatch", async () => {
  await withServer(async (endpoint) => {
    const s3 = client(endpoint, "not-the-secret");
    const err = await assertRejects(
      () => s3.send(new PutObjectCommand({ Bucket: "bucket", Key: "k", Body: DATA })),
      Error,
    );
    s3.destroy();
    assertEquals(err.name, "SignatureDoesNotMatch");
  });
});
