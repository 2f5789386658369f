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
import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { KEYS, REGION, withServer } from "./auth_server.ts";

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
