/**
 * Key rules every operation that takes a key applies, against a real server: a path segment
 * longer than a file name may be (255 bytes) and keys naming Flashstor's own entries are a
 * client's mistake (400 with an S3 code), never a retryable 5xx, and leave nothing behind.
 */

import { CreateBucketCommand, DeleteObjectsCommand } from "@aws-sdk/client-s3";
import { assertEquals } from "./helpers/assert.ts";
import * as Minio from "minio";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { type RawRequest, rawRequest, xmlField } from "./s3_raw.ts";

const BUCKET = "names";
/** A valid-looking upload id: the key check must come before the upload's lookup. */
const UPLOAD_ID = "000000000000-00000000-0000-0000-0000-000000000000";
const COMPLETE_XML =
  "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>";

/**
 * Every operation on `key` that takes a key (the key as destination or as copy source);
 * `okUpload` is an open upload of the key "ok", for UploadPartCopy from `key`.
 */
function keyedRequests(key: string, okUpload: string): [string, RawRequest][] {
  const path = `/${BUCKET}/${key}`;
  const copyFrom = { "x-amz-copy-source": `/${BUCKET}/${encodeURIComponent(key)}` };
  return [
    ["PutObject", { method: "PUT", path, body: "x" }],
    ["GetObject", { method: "GET", path }],
    ["HeadObject", { method: "HEAD", path }],
    ["DeleteObject", { method: "DELETE", path }],
    ["CopyObject source", { method: "PUT", path: `/${BUCKET}/ok`, headers: copyFrom }],
    ["CopyObject destination", {
      method: "PUT",
      path,
      headers: { "x-amz-copy-source": `/${BUCKET}/ok` },
    }],
    ["CreateMultipartUpload", { method: "POST", path, query: [["uploads", ""]] }],
    ["UploadPart", {
      method: "PUT",
      path,
      query: [["partNumber", "1"], ["uploadId", UPLOAD_ID]],
      body: "x",
    }],
    ["UploadPartCopy source", {
      method: "PUT",
      path: `/${BUCKET}/ok`,
      query: [["partNumber", "1"], ["uploadId", okUpload]],
      headers: copyFrom,
    }],
    ["CompleteMultipartUpload", {
      method: "POST",
      path,
      query: [["uploadId", UPLOAD_ID]],
      body: COMPLETE_XML,
    }],
    ["ListParts", { method: "GET", path, query: [["uploadId", UPLOAD_ID]] }],
    ["AbortMultipartUpload", { method: "DELETE", path, query: [["uploadId", UPLOAD_ID]] }],
    ["GetObjectTagging", { method: "GET", path, query: [["tagging", ""]] }],
    ["GetObjectAcl", { method: "GET", path, query: [["acl", ""]] }],
    ["PutObjectAcl", {
      method: "PUT",
      path,
      query: [["acl", ""]],
      headers: { "x-amz-acl": "private" },
    }],
  ];
}

async function expectRefused(server: TestServer, key: string, code: string) {
  const created = await rawRequest(server, {
    method: "POST",
    path: `/${BUCKET}/ok`,
    query: [["uploads", ""]],
  });
  const okUpload = xmlField(created.body, "UploadId") ?? "";
  for (const [name, request] of keyedRequests(key, okUpload)) {
    const response = await rawRequest(server, request);
    const got = request.method === "HEAD" ? code : xmlField(response.body, "Code");
    assertEquals([response.status, got], [400, code], `${name} of ${key.slice(0, 40)}…`);
  }
}

Deno.test("keys with a segment over 255 bytes or naming internal entries are refused", async (t) => {
  const server = await startServer();
  const client = s3Client(server);
  try {
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const ok = await rawRequest(server, { method: "PUT", path: `/${BUCKET}/ok`, body: "ok" });
    assertEquals(ok.status, 200);

    await t.step("a 256-byte segment: 400 KeyTooLongError for every operation", async () => {
      await expectRefused(server, "k".repeat(256), "KeyTooLongError");
      // Bytes count, not characters: 86 × "€" is 258 bytes.
      await expectRefused(server, `dir/${"€".repeat(86)}/x`, "KeyTooLongError");
      // A folder marker's last segment is stored with a suffix, which must fit too.
      await expectRefused(server, `${"f".repeat(250)}/`, "KeyTooLongError");
      const message = xmlField(
        (await rawRequest(server, { method: "PUT", path: `/${BUCKET}/${"k".repeat(300)}` })).body,
        "Message",
      );
      assertEquals(message?.includes("255 bytes"), true, message);
    });

    await t.step("255-byte segments and 1024-byte keys of them still work", async () => {
      const key = ["a", "b", "c", "d"].map((c) => c.repeat(255)).join("/");
      assertEquals(new TextEncoder().encode(key).length, 1023);
      const put = await rawRequest(server, { method: "PUT", path: `/${BUCKET}/${key}`, body: "y" });
      assertEquals(put.status, 200);
      const get = await rawRequest(server, { method: "GET", path: `/${BUCKET}/${key}` });
      assertEquals([get.status, get.body], [200, "y"]);
      const marker = `${"m".repeat(246)}/`;
      const folder = await rawRequest(server, { method: "PUT", path: `/${BUCKET}/${marker}` });
      assertEquals(folder.status, 200);
    });

    await t.step("keys naming a data directory are InvalidObjectName", async () => {
      await expectRefused(
        server,
        "photo/1b4e28ba-2fa1-11d2-883f-0016d3cca427__XLDATA__",
        "InvalidObjectName",
      );
      await expectRefused(server, "a__XLDATA__b", "InvalidObjectName");
    });

    await t.step("POST Object forms naming such keys", async () => {
      const minio = new Minio.Client({
        endPoint: "127.0.0.1",
        port: server.port,
        useSSL: false,
        accessKey: ACCESS_KEY,
        secretKey: SECRET_KEY,
      });
      for (
        const [key, code] of [
          ["p".repeat(256), "KeyTooLongError"],
          [`post/x${"__XLDATA__"}`, "InvalidObjectName"],
        ]
      ) {
        const policy = minio.newPostPolicy();
        policy.setBucket(BUCKET);
        policy.setKey(key);
        policy.setExpires(new Date(Date.now() + 300_000));
        const { postURL, formData } = await minio.presignedPostPolicy(policy);
        const form = new FormData();
        for (const [name, value] of Object.entries(formData)) form.append(name, value);
        form.append("file", new Blob(["x"]), "x.txt");
        const response = await fetch(postURL, { method: "POST", body: form });
        assertEquals([response.status, xmlField(await response.text(), "Code")], [400, code]);
      }
    });

    await t.step("DeleteObjects reports the bad key alone", async () => {
      const long = "d".repeat(256);
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          Delete: { Objects: [{ Key: long }, { Key: "ok" }] },
        }),
      );
      assertEquals(out.Errors?.map((e) => [e.Key, e.Code]), [[long, "KeyTooLongError"]]);
      assertEquals(out.Deleted?.map((d) => d.Key), ["ok"]);
    });
  } finally {
    client.destroy();
    await server.cleanup();
  }
});
