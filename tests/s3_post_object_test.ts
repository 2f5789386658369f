/**
 * POST Object (browser form uploads) against the real server: forms built byte by byte and
 * signed as the AWS documentation describes (SigV4 over the base64 policy), minio-js
 * presignedPostPolicy sent with fetch and FormData, a 3 MiB file streamed in uneven chunks,
 * the success_action_status and success_action_redirect answers, virtual-host style, and the
 * failures (signature, expiry, conditions, content-length-range, malformed bodies), none of
 * which may leave an object behind.
 */

import { Buffer } from "node:buffer";
import { createHash, createHmac } from "node:crypto";
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
} from "@aws-sdk/client-s3";
import * as Minio from "minio";
import { assertEquals } from "./helpers/assert.ts";
import { md5Hex, MiB, patterned, sha256Hex } from "./helpers/clients.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { RawClient } from "./http_client.ts";
import { rawRequest, signedFetch, xmlField } from "./s3_raw.ts";
import { readForm } from "../src/s3/form.ts";
import { KMS_ENV } from "./sse_util.ts";

const BUCKET = "forms";
const REGION = "us-east-1";
const DOMAIN = "s3.flashstor.test";
const encoder = new TextEncoder();

type Condition = unknown[] | Record<string, string>;

interface PolicyOptions {
  expiration?: Date;
  secret?: string;
  date?: Date;
}

/**
 * The signed fields of a POST form, computed independently of the server: the policy's
 * conditions plus the x-amz-* fields it must name, base64, HMAC-SHA256 with the SigV4 signing key.
 */
function signedFields(conditions: Condition[], options: PolicyOptions = {}): [string, string][] {
  const date = options.date ?? new Date();
  const amzDate = date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const credential = `${ACCESS_KEY}/${day}/${REGION}/s3/aws4_request`;
  const policy = Buffer.from(JSON.stringify({
    expiration: (options.expiration ?? new Date(Date.now() + 600_000)).toISOString(),
    conditions: [
      ...conditions,
      { "x-amz-algorithm": "AWS4-HMAC-SHA256" },
      { "x-amz-credential": credential },
      { "x-amz-date": amzDate },
    ],
  })).toString("base64");
  let key: Uint8Array = encoder.encode("AWS4" + (options.secret ?? SECRET_KEY));
  for (const part of [day, REGION, "s3", "aws4_request"]) {
    key = createHmac("sha256", key).update(part).digest();
  }
  return [
    ["X-Amz-Algorithm", "AWS4-HMAC-SHA256"],
    ["X-Amz-Credential", credential],
    ["X-Amz-Date", amzDate],
    ["Policy", policy],
    ["X-Amz-Signature", createHmac("sha256", key).update(policy).digest("hex")],
  ];
}

interface FilePart {
  filename: string;
  contentType?: string;
  data: Uint8Array;
}

/** A multipart/form-data body, byte by byte; `file` undefined leaves the file part out. */
function multipart(
  boundary: string,
  fields: [string, string][],
  file?: FilePart,
  after: [string, string][] = [],
): Uint8Array<ArrayBuffer> {
  const pieces: Uint8Array[] = [];
  const text = (s: string) => pieces.push(encoder.encode(s));
  const field = ([name, value]: [string, string]) =>
    text(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
  fields.forEach(field);
  if (file) {
    text(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.filename}"` +
        `\r\n${file.contentType ? `Content-Type: ${file.contentType}\r\n` : ""}\r\n`,
    );
    pieces.push(file.data);
    text("\r\n");
  }
  after.forEach(field);
  text(`--${boundary}--\r\n`);
  return new Uint8Array(Buffer.concat(pieces));
}

const BOUNDARY = "----FlashstorFormBoundary7MA4YWxkTrZu0gW";

function post(
  server: TestServer,
  body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>,
  options: { boundary?: string; contentType?: string; redirect?: RequestRedirect } = {},
): Promise<Response> {
  return fetch(`${server.endpoint}/${BUCKET}`, {
    method: "POST",
    headers: {
      "content-type": options.contentType ??
        `multipart/form-data; boundary=${options.boundary ?? BOUNDARY}`,
    },
    body,
    redirect: options.redirect ?? "follow",
  });
}

/** A form for `key` whose policy allows exactly that key in this bucket, plus `extra`. */
function form(
  key: string,
  data: Uint8Array,
  options: PolicyOptions & { fields?: [string, string][]; conditions?: Condition[] } = {},
): Uint8Array<ArrayBuffer> {
  const fields = options.fields ?? [];
  const conditions: Condition[] = [
    { bucket: BUCKET },
    ["eq", "$key", key],
    ...fields.map(([name, value]) => ["eq", `$${name}`, value]),
    ...(options.conditions ?? []),
  ];
  return multipart(BOUNDARY, [["key", key], ...fields, ...signedFields(conditions, options)], {
    filename: "upload.bin",
    data,
  });
}

async function getObject(server: TestServer, key: string) {
  const result = await s3Client(server).send(
    new GetObjectCommand({ Bucket: BUCKET, Key: key, ChecksumMode: "ENABLED" }),
  );
  return { result, bytes: await result.Body!.transformToByteArray() };
}

async function errorOf(response: Response): Promise<[number, string, string]> {
  const body = await response.text();
  return [response.status, xmlField(body, "Code") ?? body, xmlField(body, "Message") ?? ""];
}

async function assertAbsent(server: TestServer, key: string): Promise<void> {
  const head = await signedFetch(server, { method: "HEAD", path: `/${BUCKET}/${key}` });
  await head.body?.cancel();
  assertEquals(head.status, 404, `${key} must not exist`);
}

/** A stream handing out `bytes` in pieces of `size`, so delimiters straddle chunk borders. */
function trickle(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

Deno.test({
  name: "POST Object: signed forms, minio-js presignedPostPolicy, streaming, answers, failures",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer({ args: ["--domain", DOMAIN], env: KMS_ENV });
    const s3 = s3Client(server);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));

      await t.step(
        "a hand-built form: ${filename}, metadata fields, 201 PostResponse",
        async () => {
          const data = patterned(5000, 1);
          const fields: [string, string][] = [
            ["Content-Type", "image/png"],
            ["x-amz-meta-owner", "Ada"],
            ["success_action_status", "201"],
          ];
          const body = multipart(
            BOUNDARY,
            [
              ["key", "user/${filename}"],
              ...fields,
              ...signedFields([
                { bucket: BUCKET },
                ["starts-with", "$key", "user/"],
                ["eq", "$Content-Type", "image/png"],
                ["starts-with", "$x-amz-meta-owner", ""],
                { success_action_status: "201" },
                ["content-length-range", 1, 10_000],
              ]),
            ],
            { filename: "cat.png", contentType: "application/octet-stream", data },
          );
          const response = await post(server, body);
          const xml = await response.text();
          assertEquals(response.status, 201, xml);
          const etag = `"${md5Hex(data)}"`;
          assertEquals(xmlField(xml, "Bucket"), BUCKET);
          assertEquals(xmlField(xml, "Key"), "user/cat.png");
          assertEquals(xmlField(xml, "ETag"), etag.replaceAll('"', "&quot;"));
          assertEquals(xmlField(xml, "Location"), `${server.endpoint}/${BUCKET}/user/cat.png`);
          assertEquals(response.headers.get("etag"), etag);
          const { result, bytes } = await getObject(server, "user/cat.png");
          assertEquals(bytes, data);
          assertEquals(result.ContentType, "image/png");
          assertEquals(result.Metadata, { owner: "Ada" });
          assertEquals(result.ETag, etag);
        },
      );

      await t.step(
        "SSE-S3 and SSE-KMS fields: stored encrypted, the form's signer authorized",
        async () => {
          for (const sse of ["AES256", "aws:kms"]) {
            const data = patterned(70_000, 3);
            const key = `sse/${sse}`;
            const body = multipart(
              BOUNDARY,
              [
                ["key", key],
                ["x-amz-server-side-encryption", sse],
                ...signedFields([
                  { bucket: BUCKET },
                  { key },
                  { "x-amz-server-side-encryption": sse },
                ]),
              ],
              { filename: "f", contentType: "application/octet-stream", data },
            );
            const response = await post(server, body);
            assertEquals(response.status, 204, await response.text());
            const { result, bytes } = await getObject(server, key);
            assertEquals(bytes, data);
            assertEquals(result.ServerSideEncryption, sse);
          }
        },
      );

      await t.step("minio-js presignedPostPolicy, sent with fetch and FormData", async () => {
        const client = new Minio.Client({
          endPoint: "127.0.0.1",
          port: server.port,
          useSSL: false,
          accessKey: ACCESS_KEY,
          secretKey: SECRET_KEY,
        });
        const policy = client.newPostPolicy();
        policy.setBucket(BUCKET);
        policy.setKey("minio/posted.txt");
        policy.setContentType("text/plain");
        policy.setExpires(new Date(Date.now() + 300_000));
        policy.setContentLengthRange(1, 1000);
        const { postURL, formData } = await client.presignedPostPolicy(policy);
        const data = new TextEncoder().encode("posted by a browser form\n");
        const formBody = new FormData();
        for (const [name, value] of Object.entries(formData)) formBody.append(name, value);
        formBody.append("file", new Blob([data]), "posted.txt");
        const response = await fetch(postURL, { method: "POST", body: formBody });
        assertEquals(response.status, 204, await response.text());
        const { result, bytes } = await getObject(server, "minio/posted.txt");
        assertEquals([bytes, result.ContentType], [data, "text/plain"]);
      });

      await t.step("a 3 MiB file streamed in uneven chunks, with a checksum field", async () => {
        const data = patterned(3 * MiB, 2);
        // Near-delimiters inside the file must stay file content.
        data.set(encoder.encode(`\r\n--${BOUNDARY.slice(0, 20)}x`), 1_000_000);
        data.set(encoder.encode(`\r\n--${BOUNDARY}`.slice(0, -1) + "!"), 2_000_000);
        const sha256 = createHash("sha256").update(data).digest("base64");
        const body = form("big/streamed.bin", data, {
          fields: [["x-amz-checksum-sha256", sha256]],
          conditions: [["content-length-range", 1, 4 * MiB]],
        });
        for (const size of [65_521, 7_777]) {
          const response = await fetch(`${server.endpoint}/${BUCKET}`, {
            method: "POST",
            headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
            body: trickle(body, size),
          });
          assertEquals(response.status, 204, await response.text());
          const { result, bytes } = await getObject(server, "big/streamed.bin");
          assertEquals(bytes.length, data.length);
          assertEquals(sha256Hex(bytes), sha256Hex(data));
          assertEquals(result.ETag, `"${md5Hex(data)}"`);
          assertEquals(result.ChecksumSHA256, sha256);
        }
      });

      await t.step("delimiters split across TCP segments (pauses between writes)", async () => {
        const data = patterned(4000, 10);
        data.set(encoder.encode(`\r\n--${BOUNDARY.slice(0, 9)}`), 2000);
        const body = form("split/file.bin", data);
        const end = body.length - `\r\n--${BOUNDARY}--\r\n`.length;
        // Cuts inside the near-delimiter in the file and inside the file's closing delimiter.
        for (
          const cuts of [[body.length - 4000 + 2004], [end + 1], [end + 5], [end + 2, end + 20]]
        ) {
          const client = await RawClient.connect(server.port);
          try {
            await client.send(
              `POST /${BUCKET} HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n` +
                `content-type: multipart/form-data; boundary=${BOUNDARY}\r\n` +
                `content-length: ${body.length}\r\nconnection: close\r\n\r\n`,
            );
            let from = 0;
            for (const cut of [...cuts, body.length]) {
              await client.send(body.subarray(from, cut));
              from = cut;
              await new Promise((resolve) => setTimeout(resolve, 30));
            }
            const response = await client.response();
            assertEquals(response.status, 204, `${cuts}: ${response.body}`);
          } finally {
            client.close();
          }
          assertEquals((await getObject(server, "split/file.bin")).bytes, data, `cuts ${cuts}`);
        }
      });

      await t.step("success_action_status 200, 204, default and unknown values", async () => {
        const data = patterned(100, 3);
        const answers: [string, number][] = [["200", 200], ["204", 204], ["", 204], ["302", 204]];
        for (const [status, expected] of answers) {
          const fields: [string, string][] = status === ""
            ? []
            : [["success_action_status", status]];
          const response = await post(
            server,
            form(`status/${expected}-${status}`, data, { fields }),
          );
          assertEquals([response.status, await response.text()], [expected, ""], status);
          assertEquals(response.headers.get("etag"), `"${md5Hex(data)}"`);
        }
      });

      await t.step("success_action_redirect answers 303 with bucket, key and etag", async () => {
        const data = patterned(100, 4);
        const redirect = "https://app.example/uploaded?from=form";
        const response = await post(
          server,
          form("redirect/a b.txt", data, { fields: [["success_action_redirect", redirect]] }),
          { redirect: "manual" },
        );
        await response.body?.cancel();
        assertEquals(response.status, 303);
        const location = new URL(response.headers.get("location")!);
        assertEquals(location.origin + location.pathname, "https://app.example/uploaded");
        assertEquals([...location.searchParams], [
          ["from", "form"],
          ["bucket", BUCKET],
          ["key", "redirect/a b.txt"],
          ["etag", `"${md5Hex(data)}"`],
        ]);
        assertEquals((await getObject(server, "redirect/a b.txt")).bytes, data);
      });

      await t.step("virtual-host style: POST / on bucket.domain", async () => {
        const data = patterned(300, 5);
        const response = await rawRequest(server, {
          method: "POST",
          path: "/",
          host: `${BUCKET}.${DOMAIN}:${server.port}`,
          anonymous: true,
          headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
          body: form("vhost/file.bin", data, { fields: [["success_action_status", "201"]] }),
        });
        assertEquals(response.status, 201, response.body);
        assertEquals(
          xmlField(response.body, "Location"),
          `http://${BUCKET}.${DOMAIN}:${server.port}/vhost/file.bin`,
        );
        assertEquals((await getObject(server, "vhost/file.bin")).bytes, data);
      });

      await t.step("failures answer S3 errors and store nothing", async () => {
        const small = patterned(2000, 6);
        const big = patterned(3 * MiB, 7);
        const cases: [string, () => Promise<Response>, number, string][] = [
          [
            "wrong secret",
            () => post(server, form("fail/secret", small, { secret: "not-the-secret" })),
            403,
            "SignatureDoesNotMatch",
          ],
          [
            "wrong secret, 3 MiB file left unread",
            () => post(server, form("fail/secret-big", big, { secret: "not-the-secret" })),
            403,
            "SignatureDoesNotMatch",
          ],
          [
            "expired policy",
            () =>
              post(
                server,
                form("fail/expired", small, { expiration: new Date(Date.now() - 1000) }),
              ),
            403,
            "AccessDenied",
          ],
          [
            "key outside the policy",
            () =>
              post(
                server,
                multipart(BOUNDARY, [
                  ["key", "fail/other"],
                  ...signedFields([{ bucket: BUCKET }, ["starts-with", "$key", "allowed/"]]),
                ], { filename: "f", data: small }),
              ),
            403,
            "AccessDenied",
          ],
          [
            "a field the policy does not name",
            () =>
              post(
                server,
                multipart(BOUNDARY, [
                  ["key", "fail/extra"],
                  ["x-amz-meta-sneaky", "1"],
                  ...signedFields([{ bucket: BUCKET }, ["eq", "$key", "fail/extra"]]),
                ], { filename: "f", data: small }),
              ),
            403,
            "AccessDenied",
          ],
          [
            "another bucket in the policy",
            () =>
              post(
                server,
                multipart(BOUNDARY, [
                  ["key", "fail/bucket"],
                  ...signedFields([{ bucket: "elsewhere" }, ["eq", "$key", "fail/bucket"]]),
                ], { filename: "f", data: small }),
              ),
            403,
            "AccessDenied",
          ],
          [
            "anonymous form",
            () =>
              post(
                server,
                multipart(BOUNDARY, [["key", "fail/anon"]], { filename: "f", data: small }),
              ),
            403,
            "AccessDenied",
          ],
          [
            "too large (known early)",
            () =>
              post(
                server,
                form("fail/large", small, { conditions: [["content-length-range", 1, 1999]] }),
              ),
            400,
            "EntityTooLarge",
          ],
          [
            "too large (while streaming past 1 MiB)",
            () =>
              post(
                server,
                form("fail/large-stream", big, {
                  conditions: [["content-length-range", 1, 2 * MiB]],
                }),
              ),
            400,
            "EntityTooLarge",
          ],
          [
            "too small",
            () =>
              post(
                server,
                form("fail/small", small, { conditions: [["content-length-range", 2001, 9999]] }),
              ),
            400,
            "EntityTooSmall",
          ],
          [
            "too small (streamed, over 1 MiB)",
            () =>
              post(
                server,
                form("fail/small-stream", big, {
                  conditions: [["content-length-range", 4 * MiB, 5 * MiB]],
                }),
              ),
            400,
            "EntityTooSmall",
          ],
          [
            "wrong checksum",
            () =>
              post(
                server,
                form("fail/checksum", big, { fields: [["x-amz-checksum-crc32", "AAAAAA=="]] }),
              ),
            400,
            "BadDigest",
          ],
          [
            "no file part",
            () =>
              post(
                server,
                multipart(BOUNDARY, [
                  ["key", "fail/nofile"],
                  ...signedFields([{ bucket: BUCKET }, ["eq", "$key", "fail/nofile"]]),
                ]),
              ),
            400,
            "InvalidArgument",
          ],
          [
            "no key field",
            () =>
              post(
                server,
                multipart(BOUNDARY, signedFields([{ bucket: BUCKET }]), {
                  filename: "f",
                  data: small,
                }),
              ),
            400,
            "InvalidArgument",
          ],
          [
            "body cut inside the file",
            () => {
              const whole = form("fail/truncated", big);
              return post(server, whole.slice(0, whole.length - 1000));
            },
            400,
            "MalformedPOSTRequest",
          ],
          [
            "no boundary",
            () =>
              post(server, form("fail/noboundary", small), { contentType: "multipart/form-data" }),
            400,
            "MalformedPOSTRequest",
          ],
          [
            "not a form",
            () =>
              post(server, form("fail/notform", small), {
                contentType: "application/octet-stream",
              }),
            412,
            "PreconditionFailed",
          ],
          [
            "fields before the file over 20 KiB",
            () =>
              post(
                server,
                multipart(BOUNDARY, [["key", "fail/fields"], [
                  "x-ignore-pad",
                  "p".repeat(21 * 1024),
                ]], {
                  filename: "f",
                  data: small,
                }),
              ),
            400,
            "MaxPostPreDataLengthExceeded",
          ],
        ];
        for (const [what, send, status, code] of cases) {
          const [gotStatus, gotCode, message] = await errorOf(await send());
          assertEquals([gotStatus, gotCode], [status, code], `${what}: ${message}`);
        }
        for (
          const key of ["fail/secret", "fail/large-stream", "fail/small-stream", "fail/truncated"]
        ) {
          await assertAbsent(server, key);
        }
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "fail/" }));
        assertEquals(listed.KeyCount, 0, JSON.stringify(listed.Contents?.map((c) => c.Key)));
      });

      await t.step("a SigV2 form with a wrong signature stores nothing", async () => {
        const response = await post(
          server,
          multipart(BOUNDARY, [
            ["key", "fail/v2"],
            ["AWSAccessKeyId", ACCESS_KEY],
            ["policy", "e30="],
            ["signature", "c2lnbmF0dXJl"],
          ], { filename: "f", data: patterned(10, 8) }),
        );
        const [status, code] = await errorOf(response);
        assertEquals([status, code], [403, "SignatureDoesNotMatch"]);
        await assertAbsent(server, "fail/v2");
      });

      await t.step("a POST to a bucket that does not exist is NoSuchBucket", async () => {
        const response = await fetch(`${server.endpoint}/no-such-bucket`, {
          method: "POST",
          headers: { "content-type": `multipart/form-data; boundary=${BOUNDARY}` },
          body: multipart(BOUNDARY, [
            ["key", "k"],
            ...signedFields([{ bucket: "no-such-bucket" }, ["eq", "$key", "k"]]),
          ], { filename: "f", data: patterned(10, 9) }),
        });
        assertEquals((await errorOf(response)).slice(0, 2), [404, "NoSuchBucket"]);
      });

      await t.step("in a versioned bucket each POST answers its version id", async () => {
        const unversioned = await post(server, form("v.bin", patterned(10, 1)));
        assertEquals([unversioned.status, unversioned.headers.get("x-amz-version-id")], [
          204,
          null,
        ]);
        await s3.send(
          new PutBucketVersioningCommand({
            Bucket: BUCKET,
            VersioningConfiguration: { Status: "Enabled" },
          }),
        );
        const ids = [];
        for (const seed of [2, 3]) {
          const response = await post(server, form("v.bin", patterned(10, seed)));
          assertEquals(response.status, 204);
          ids.push(response.headers.get("x-amz-version-id"));
        }
        const latest = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "v.bin" }));
        await latest.Body!.transformToByteArray();
        assertEquals(latest.VersionId, ids[1]);
        assertEquals(new Set([...ids, "null"]).size, 3);
      });
    } finally {
      await server.cleanup();
    }
  },
});

/** Reads `body` through readForm in the given pieces; the fields and the file's bytes. */
async function readPieces(body: Uint8Array, cuts: number[]) {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    pieces.push(body.slice(from, cut));
    from = cut;
  }
  const parsed = await readForm(ReadableStream.from(pieces), BOUNDARY);
  const file = new Uint8Array(await new Response(parsed.file.body).arrayBuffer());
  return { fields: Object.fromEntries(parsed.fields), filename: parsed.file.filename, file };
}

Deno.test("form reader: every split of the body into two or three chunks reads the same", async () => {
  const data = encoder.encode(`file\r\n--${BOUNDARY.slice(0, 12)} and \r\n-- more\r\n`);
  const body = multipart(
    BOUNDARY,
    [["key", "a/${filename}"], ["Content-Type", "text/plain"]],
    { filename: 'x \\"q\\".txt', data },
    [["after", "ignored"]],
  );
  const expected = {
    fields: { key: "a/${filename}", "Content-Type": "text/plain" },
    filename: 'x "q".txt',
    file: data,
  };
  for (let cut = 0; cut <= body.length; cut++) {
    assertEquals(await readPieces(body, [cut]), expected, `cut at ${cut}`);
  }
  for (let cut = 0; cut + 3 <= body.length; cut += 5) {
    assertEquals(await readPieces(body, [cut, cut + 3]), expected, `cuts at ${cut}, ${cut + 3}`);
  }
});

Deno.test("form reader: broken bodies are MalformedPOSTRequest", async () => {
  const data = encoder.encode("content");
  const whole = multipart(BOUNDARY, [["key", "k"]], { filename: "f", data });
  const codeOf = async (body: Uint8Array) => {
    try {
      const parsed = await readForm(ReadableStream.from([body]), BOUNDARY);
      await new Response(parsed.file.body).arrayBuffer();
      return "read";
    } catch (err) {
      return (err as { code?: string }).code;
    }
  };
  // Cut before the file's closing delimiter is complete: the file never ends.
  const closing = whole.length - `--${BOUNDARY}--\r\n`.length - 2;
  for (const length of [0, 10, 60, closing, closing + 3]) {
    assertEquals(await codeOf(whole.slice(0, length)), "MalformedPOSTRequest", `length ${length}`);
  }
  const noDisposition = encoder.encode(`--${BOUNDARY}\r\nX: y\r\n\r\nv\r\n--${BOUNDARY}--\r\n`);
  assertEquals(await codeOf(noDisposition), "MalformedPOSTRequest");
  assertEquals(await codeOf(whole), "read");
});
