/**
 * Bad requests against a real server: every response carries S3's request headers, errors are
 * S3 XML with the documented code and status and never a 500, and a refused write leaves the
 * stored data untouched. Also virtual-host-style addressing (--domain), sent over raw TCP so
 * that the Host header is exactly ours.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { RawClient } from "./http_client.ts";
import {
  type RawRequest,
  rawRequest,
  type RawResponse,
  signedFetch,
  signRequest,
  xmlField,
} from "./s3_raw.ts";

const BUCKET = "errors";
const ORIGINAL = "original contents";

async function send(server: TestServer, request: RawRequest): Promise<RawResponse> {
  const response = await signedFetch(server, request);
  const headers = new Map([...response.headers]);
  return { status: response.status, headers, body: await response.text() };
}

function checkHeaders(response: RawResponse, label: string): string {
  const id = response.headers.get("x-amz-request-id") ?? "";
  assert(/^[0-9A-F]{16}$/.test(id), `${label}: x-amz-request-id ${id}`);
  assert(response.headers.get("x-amz-id-2"), `${label}: x-amz-id-2`);
  assertEquals(response.headers.get("server"), "Flashstor", label);
  return id;
}

/** Asserts an S3 error document of `code` / `status` that names its request id. */
function checkError(response: RawResponse, status: number, code: string, label: string): void {
  const id = checkHeaders(response, label);
  assertEquals([response.status, xmlField(response.body, "Code")], [status, code], label);
  assertEquals(xmlField(response.body, "RequestId"), id, label);
  assert(xmlField(response.body, "Message"), `${label}: Message`);
  assert(xmlField(response.body, "Resource"), `${label}: Resource`);
  assert(!response.body.includes(" at "), `${label}: no stack trace`);
}

async function original(server: TestServer): Promise<string> {
  const response = await send(server, { method: "GET", path: `/${BUCKET}/key` });
  return response.body;
}

Deno.test({
  name: "bad requests get S3 errors, request ids, and leave data alone",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    try {
      assertEquals((await send(server, { method: "PUT", path: `/${BUCKET}` })).status, 200);
      const put = await send(server, {
        method: "PUT",
        path: `/${BUCKET}/key`,
        body: new TextEncoder().encode(ORIGINAL),
      });
      assertEquals(put.status, 200);

      await t.step("every kind of response carries the S3 request headers", async () => {
        const etag = put.headers.get("etag")!;
        const cases: [string, RawRequest | string, number][] = [
          ["list", { method: "GET", path: `/${BUCKET}` }, 200],
          ["get", { method: "GET", path: `/${BUCKET}/key` }, 200],
          ["head", { method: "HEAD", path: `/${BUCKET}/key` }, 200],
          ["head missing", { method: "HEAD", path: `/${BUCKET}/missing` }, 404],
          ["get missing", { method: "GET", path: `/${BUCKET}/missing` }, 404],
          [
            "304",
            { method: "GET", path: `/${BUCKET}/key`, headers: { "if-none-match": etag } },
            304,
          ],
          ["412", { method: "GET", path: `/${BUCKET}/key`, headers: { "if-match": '"x"' } }, 412],
          ["501", { method: "GET", path: `/${BUCKET}`, query: [["accelerate", ""]] }, 501],
          ["405", { method: "PATCH", path: `/${BUCKET}/key` }, 405],
          ["anonymous", { method: "GET", path: "/", anonymous: true }, 403],
          ["live", "/flashstor/health/live", 200],
          ["ready", "/flashstor/health/ready", 200],
        ];
        const ids = new Set<string>();
        for (const [label, request, status] of cases) {
          let response: RawResponse;
          if (typeof request === "string") {
            const plain = await fetch(server.endpoint + request);
            response = {
              status: plain.status,
              headers: new Map([...plain.headers]),
              body: await plain.text(),
            };
          } else response = await send(server, request);
          assertEquals(response.status, status, label);
          ids.add(checkHeaders(response, label));
        }
        assertEquals(ids.size, cases.length, "request ids are unique");
      });

      await t.step("error documents: code, message, resource, request id", async () => {
        checkError(
          await send(server, { method: "GET", path: `/${BUCKET}/missing` }),
          404,
          "NoSuchKey",
          "NoSuchKey",
        );
        const missing = await send(server, { method: "GET", path: `/${BUCKET}/a b/missing` });
        assertEquals(xmlField(missing.body, "Resource"), `/${BUCKET}/a b/missing`);
        checkError(
          await send(server, { method: "GET", path: "/nobucket" }),
          404,
          "NoSuchBucket",
          "NoSuchBucket",
        );
        const head = await send(server, { method: "HEAD", path: `/${BUCKET}/missing` });
        assertEquals([head.status, head.body], [404, ""]);
      });

      await t.step("invalid bucket names", async () => {
        for (
          const name of ["ab", "UPPER", "a_b", "-ab", "ab-", "a..b", "1.2.3.4", "x".repeat(64)]
        ) {
          checkError(
            await send(server, { method: "PUT", path: `/${name}` }),
            400,
            "InvalidBucketName",
            name,
          );
          checkError(
            await send(server, { method: "GET", path: `/${name}/key` }),
            400,
            "InvalidBucketName",
            name,
          );
        }
      });

      await t.step("keys over 1024 bytes", async () => {
        const longKey = "é".repeat(513);
        checkError(
          await send(server, { method: "PUT", path: `/${BUCKET}/${longKey}`, body: "x" }),
          400,
          "KeyTooLongError",
          "PUT",
        );
        checkError(
          await send(server, { method: "GET", path: `/${BUCKET}/${longKey}` }),
          400,
          "KeyTooLongError",
          "GET",
        );
        // Exactly 1024 bytes, in segments a file system can name.
        const limit = `${"k".repeat(200)}/`.repeat(5) + "k".repeat(19);
        const ok = await send(server, { method: "PUT", path: `/${BUCKET}/${limit}`, body: "x" });
        assertEquals(ok.status, 200);
      });

      await t.step("Range beyond the end is 416 InvalidRange", async () => {
        const response = await send(server, {
          method: "GET",
          path: `/${BUCKET}/key`,
          headers: { range: `bytes=${ORIGINAL.length}-` },
        });
        checkError(response, 416, "InvalidRange", "range");
        assertEquals(response.headers.get("content-range"), `bytes */${ORIGINAL.length}`);
      });

      await t.step("bad Content-Length values never write and never 500", async () => {
        const put = (length: string) =>
          rawRequest(server, { method: "PUT", path: `/${BUCKET}/key`, body: "x" }, [
            `content-length: ${length}`,
          ]);
        for (const length of ["-1", "abc", "1e3", "0x10", "1, 2"]) {
          const response = await put(length);
          assertEquals(response.status, 400, `Content-Length: ${length}`);
        }
        const huge = await put(String(6 * 1024 ** 4));
        checkError(huge, 400, "EntityTooLarge", "6 TiB");
        const decoded = await rawRequest(server, {
          method: "PUT",
          path: `/${BUCKET}/key`,
          headers: {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "-5",
          },
          body: "x",
        });
        checkError(decoded, 400, "InvalidArgument", "x-amz-decoded-content-length: -5");
        const chunked = await rawRequest(server, { method: "PUT", path: `/${BUCKET}/key` }, [
          "transfer-encoding: chunked",
          "",
          "3",
          "abc",
          "0",
        ]);
        checkError(chunked, 411, "MissingContentLength", "chunked");
        assertEquals(await original(server), ORIGINAL);
      });

      await t.step("object subresources we lack are NotImplemented, not a write", async () => {
        const cases: [string, string][] = [
          ["POST", "restore"],
          ["POST", "select"],
          ["GET", "torrent"],
          ["GET", "attributes"],
          ["PUT", "frobnicate"],
          ["POST", "uploads-please"],
        ];
        for (const [method, sub] of cases) {
          const response = await send(server, {
            method,
            path: `/${BUCKET}/key`,
            query: [[sub, ""]],
            body: method === "PUT" || method === "POST" ? "<Tagging/>" : undefined,
          });
          checkError(response, 501, "NotImplemented", `${method} ?${sub}`);
        }
        assertEquals(await original(server), ORIGINAL);
      });

      await t.step("malformed and unsigned requests are 4xx", async () => {
        const cases: [RawRequest, number, string][] = [
          [
            {
              method: "GET",
              path: "/",
              anonymous: true,
              headers: { authorization: "AWS4-HMAC-SHA256 garbage" },
            },
            400,
            "AuthorizationHeaderMalformed",
          ],
          [
            {
              method: "GET",
              path: "/",
              anonymous: true,
              headers: { authorization: "AWS key:sig", date: new Date().toUTCString() },
            },
            403,
            "InvalidAccessKeyId",
          ],
          [
            {
              method: "PUT",
              path: `/${BUCKET}/key`,
              anonymous: true,
              body: "overwrite",
            },
            403,
            "AccessDenied",
          ],
          [
            {
              method: "PUT",
              path: `/${BUCKET}/key`,
              headers: { "x-amz-storage-class": "GLACIER" },
              body: "overwrite",
            },
            400,
            "InvalidStorageClass",
          ],
          [
            {
              method: "PUT",
              path: `/${BUCKET}/key`,
              headers: { "x-amz-server-side-encryption": "AES256" },
              body: "overwrite",
            },
            501,
            "NotImplemented",
          ],
          [
            {
              method: "PUT",
              path: `/${BUCKET}/key`,
              headers: { "x-amz-meta-big": "v".repeat(3000) },
              body: "overwrite",
            },
            400,
            "MetadataTooLarge",
          ],
          [
            {
              method: "PUT",
              path: `/${BUCKET}/key`,
              headers: { "content-md5": "not base64!" },
              body: "overwrite",
            },
            400,
            "InvalidDigest",
          ],
          [
            {
              method: "GET",
              path: `/${BUCKET}/key`,
              query: [["versionId", "123"]],
            },
            400,
            "InvalidArgument",
          ],
          [
            {
              method: "GET",
              path: `/${BUCKET}/key`,
              query: [["versionId", crypto.randomUUID()]],
            },
            404,
            "NoSuchVersion",
          ],
          [
            {
              method: "GET",
              path: `/${BUCKET}/key`,
              query: [["partNumber", "0"]],
            },
            400,
            "InvalidArgument",
          ],
          [
            {
              method: "GET",
              path: `/${BUCKET}/key`,
              query: [["partNumber", "2"]],
            },
            416,
            "InvalidPartNumber",
          ],
        ];
        for (const [request, status, code] of cases) {
          const response = await send(server, request);
          checkError(response, status, code, `${request.method} ${code}`);
        }
        assertEquals(await original(server), ORIGINAL);
      });
    } finally {
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "virtual-host-style addressing with --domain",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startServer({ args: ["--domain", "s3.flashstor.test"] });
    const vhost = (bucket: string) => `${bucket}.s3.flashstor.test:${server.port}`;
    try {
      const created = await rawRequest(server, { method: "PUT", path: "/", host: vhost("vhb") });
      assertEquals(created.status, 200);
      const put = await rawRequest(server, {
        method: "PUT",
        path: "/dir/file.txt",
        host: vhost("vhb"),
        headers: { "content-type": "text/plain" },
        body: "virtual",
      });
      assertEquals(put.status, 200);
      const got = await rawRequest(server, {
        method: "GET",
        path: "/dir/file.txt",
        host: vhost("vhb"),
      });
      assertEquals([got.status, got.body, got.headers.get("content-type")], [
        200,
        "virtual",
        "text/plain",
      ]);
      const listed = await rawRequest(server, {
        method: "GET",
        path: "/",
        query: [["list-type", "2"]],
        host: vhost("vhb"),
      });
      assertEquals([listed.status, xmlField(listed.body, "Key")], [200, "dir/file.txt"]);
      const location = await rawRequest(server, {
        method: "GET",
        path: "/",
        query: [["location", ""]],
        host: vhost("vhb"),
      });
      assertEquals(location.status, 200);
      assert(location.body.includes("<LocationConstraint"), location.body);
      // The same object path-style, on the bare domain and on an address.
      for (const host of [`s3.flashstor.test:${server.port}`, `127.0.0.1:${server.port}`]) {
        const path = await rawRequest(server, { method: "GET", path: "/vhb/dir/file.txt", host });
        assertEquals([path.status, path.body], [200, "virtual"], host);
      }
      const bad = await rawRequest(server, { method: "GET", path: "/", host: vhost("Bad_Name") });
      assertEquals([bad.status, xmlField(bad.body, "Code")], [400, "InvalidBucketName"]);
      const missing = await rawRequest(server, {
        method: "GET",
        path: "/x",
        host: vhost("nosuchbucket"),
      });
      assertEquals([missing.status, xmlField(missing.body, "Code")], [404, "NoSuchBucket"]);
    } finally {
      await server.cleanup();
    }
  },
});

Deno.test("XML bodies: bad character references are MalformedXML; DeleteObjects bodies are bounded", async () => {
  const server = await startServer();
  const md5 = (body: string) => createHash("md5").update(body).digest("base64");
  const deleteObjects = (body: string) =>
    send(server, {
      method: "POST",
      path: `/${BUCKET}`,
      query: [["delete", ""]],
      headers: { "content-md5": md5(body) },
      body,
    });
  try {
    assertEquals((await send(server, { method: "PUT", path: `/${BUCKET}` })).status, 200);
    const put = await send(server, { method: "PUT", path: `/${BUCKET}/key`, body: ORIGINAL });
    assertEquals(put.status, 200);
    const created = await send(server, {
      method: "POST",
      path: `/${BUCKET}/mp`,
      query: [["uploads", ""]],
    });
    const uploadId = xmlField(created.body, "UploadId")!;
    for (
      const ref of ["&#x110000;", "&#0;", "&#xD800;", "&#xFFFE;", "&#99999999999;", "&bogus;", "& "]
    ) {
      const del = await deleteObjects(`<Delete><Object><Key>a${ref}</Key></Object></Delete>`);
      checkError(del, 400, "MalformedXML", `DeleteObjects ${ref}`);
      const complete = await send(server, {
        method: "POST",
        path: `/${BUCKET}/mp`,
        query: [["uploadId", uploadId]],
        body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a${ref}</ETag>` +
          `</Part></CompleteMultipartUpload>`,
      });
      checkError(complete, 400, "MalformedXML", `CompleteMultipartUpload ${ref}`);
      const location = await send(server, {
        method: "PUT",
        path: "/xml-refs",
        body: `<CreateBucketConfiguration><LocationConstraint>a${ref}</LocationConstraint>` +
          `</CreateBucketConfiguration>`,
      });
      checkError(location, 400, "MalformedXML", `CreateBucket ${ref}`);
    }
    // More elements than 1000 Objects can hold: refused, nothing deleted.
    const padded = await deleteObjects(
      `<Delete><Object><Key>key</Key></Object>${"<Pad/>".repeat(7000)}</Delete>`,
    );
    checkError(padded, 400, "MalformedXML", "7000 extra elements");
    // No legal element text is longer than an escaped 1024-byte key.
    const long = await deleteObjects(
      `<Delete><Object><Key>${"&amp;".repeat(2000)}</Key></Object></Delete>`,
    );
    checkError(long, 400, "MalformedXML", "a key of 10,000 characters");
    assertEquals(await original(server), ORIGINAL);

    // A body announced larger than the largest legal one is refused before it is sent.
    const body = "<Delete>";
    const { target, headers } = signRequest({
      method: "POST",
      path: `/${BUCKET}`,
      query: [["delete", ""]],
      headers: { "content-md5": md5(body) },
    }, `127.0.0.1:${server.port}`);
    const client = await RawClient.connect(server.port);
    try {
      const head = [
        `POST ${target} HTTP/1.1`,
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      await client.send(`${[...head, `content-length: ${32 << 20}`, "", ""].join("\r\n")}${body}`);
      const answer = await client.response();
      assertEquals([answer.status, xmlField(answer.body, "Code")], [400, "MalformedXML"]);
    } finally {
      client.close();
    }
  } finally {
    await server.cleanup();
  }
});
