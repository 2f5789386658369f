/**
 * The front door in the real server (default engine): the header deadline from
 * --header-timeout, and Expect: 100-continue answered only after the S3 app authenticated
 * the request: a bad signature gets 403 before any body byte is sent.
 */

import assert from "node:assert/strict";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { RawClient } from "./http_client.ts";
import { s3Client, startServer } from "./helpers/server.ts";

const BODY = "x".repeat(100_000);

Deno.test("http server: header deadline and 100-continue after authentication", async (t) => {
  const server = await startServer({ args: ["--header-timeout", "1"] });
  const s3 = s3Client(server);
  try {
    assert.match(server.output(), /flashstor engine/);
    await s3.send(new CreateBucketCommand({ Bucket: "door" }));

    await t.step("a trickled request head is cut at --header-timeout", async () => {
      const client = await RawClient.connect(server.port);
      const started = Date.now();
      await client.send("GET /door HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      // Only a hang takes 30 s: the deadline is checked by not closing before it.
      assert.ok(await client.closedWithin(30_000), "never closed");
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 900, `closed after ${elapsed} ms`);
      client.close();
    });

    await t.step("a bad signature gets 403 without the body being sent", async () => {
      const client = await RawClient.connect(server.port);
      await client.send(
        `PUT /door/denied HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\n` +
          "Authorization: AWS4-HMAC-SHA256 Credential=testadmin/20260101/us-east-1/s3/" +
          "aws4_request, SignedHeaders=host, Signature=" + "0".repeat(64) + "\r\n" +
          "x-amz-date: 20260101T000000Z\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\n" +
          `Content-Length: ${BODY.length}\r\nExpect: 100-continue\r\n\r\n`,
      );
      const response = await client.response();
      assert.equal(response.status, 403);
      assert.ok(await client.closedWithin(3000), "connection kept after refusing the body");
      client.close();
    });

    await t.step("a presigned PUT gets 100 Continue, then stores the body", async () => {
      const url = new URL(
        await getSignedUrl(s3, new PutObjectCommand({ Bucket: "door", Key: "allowed" }), {
          expiresIn: 300,
        }),
      );
      const client = await RawClient.connect(server.port);
      await client.send(
        `PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
          `Content-Length: ${BODY.length}\r\nExpect: 100-continue\r\n\r\n`,
      );
      assert.equal((await client.response()).status, 100);
      await client.send(BODY);
      assert.equal((await client.response()).status, 200);
      client.close();
      const stored = await fetch(
        await getSignedUrl(s3, new GetObjectCommand({ Bucket: "door", Key: "allowed" }), {
          expiresIn: 300,
        }),
      );
      assert.equal(await stored.text(), BODY);
    });
  } finally {
    s3.destroy();
    await server.cleanup();
  }
});
