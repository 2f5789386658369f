/**
 * Object operations through the AWS SDK (default settings: CRC32 trailers, checksum mode on
 * GET) and signed raw requests against a real server: PutObject/GetObject/HeadObject with
 * metadata, ranges, conditionals, response-* overrides and checksums; DeleteObject;
 * DeleteObjects (quiet and verbose, integrity headers, malformed XML); CopyObject.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandInput,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  type HeadObjectCommandInput,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { crc32 } from "../ffi/isal.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { s3Client, startServer, type TestServer } from "./helpers/server.ts";
import { rawRequest, signedFetch, xmlField } from "./s3_raw.ts";

const BUCKET = "objects";
const TEXT = "hello, flashstor";

type Failure = Error & { $metadata?: { httpStatusCode?: number } };

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Failure = await assertRejects(promise);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}

async function status(promise: () => Promise<unknown>): Promise<number | undefined> {
  try {
    const out = await promise() as { $metadata: { httpStatusCode?: number } };
    return out.$metadata.httpStatusCode;
  } catch (err) {
    return (err as Failure).$metadata?.httpStatusCode;
  }
}

async function text(client: S3Client, input: Omit<GetObjectCommandInput, "Bucket">) {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, ...input }));
  return { out, body: await out.Body!.transformToString() };
}

const head = (client: S3Client, input: Omit<HeadObjectCommandInput, "Bucket">) =>
  client.send(new HeadObjectCommand({ Bucket: BUCKET, ...input }));

async function keys(client: S3Client): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

const base64Digest = (algorithm: string, data: string) =>
  createHash(algorithm).update(data).digest("base64");

function crc32Base64(data: string): string {
  const digest = new Uint8Array(4);
  new DataView(digest.buffer).setUint32(0, crc32(new TextEncoder().encode(data), 0));
  return btoa(String.fromCharCode(...digest));
}

Deno.test({
  name: "object operations through the AWS SDK",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server: TestServer = await startServer();
    const client = s3Client(server);
    try {
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const put = await client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: "doc.txt",
          Body: TEXT,
          ContentType: "text/plain; charset=utf-8",
          ContentEncoding: "identity",
          ContentDisposition: 'attachment; filename="doc.txt"',
          ContentLanguage: "en-GB",
          CacheControl: "max-age=60",
          Expires: new Date("2030-01-02T03:04:05Z"),
          Metadata: { "Mixed-Case": "Value One", plain: "two" },
          StorageClass: "STANDARD",
        }),
      );
      const etag = `"${createHash("md5").update(TEXT).digest("hex")}"`;

      await t.step("PutObject returns the quoted MD5 ETag and the checksum it stored", () => {
        assertEquals(put.ETag, etag);
        assertEquals(put.ChecksumCRC32, crc32Base64(TEXT));
      });

      await t.step("GetObject returns the body, stored headers and metadata", async () => {
        const { out, body } = await text(client, { Key: "doc.txt" });
        assertEquals(body, TEXT);
        assertEquals(out.ETag, etag);
        assertEquals(out.ContentLength, TEXT.length);
        assertEquals(out.ContentType, "text/plain; charset=utf-8");
        assertEquals(out.ContentEncoding, "identity");
        assertEquals(out.ContentDisposition, 'attachment; filename="doc.txt"');
        assertEquals(out.ContentLanguage, "en-GB");
        assertEquals(out.CacheControl, "max-age=60");
        assertEquals(out.ExpiresString, "Wed, 02 Jan 2030 03:04:05 GMT");
        assertEquals(out.Metadata, { "mixed-case": "Value One", plain: "two" });
        assertEquals(out.AcceptRanges, "bytes");
        const age = Date.now() - out.LastModified!.getTime();
        assert(age >= -2000 && age < 60_000, `Last-Modified ${out.LastModified}`);
      });

      await t.step("HeadObject sets Content-Length and the same headers", async () => {
        const out = await head(client, { Key: "doc.txt" });
        assertEquals(out.ContentLength, TEXT.length);
        assertEquals(out.ETag, etag);
        assertEquals(out.ContentType, "text/plain; charset=utf-8");
        assertEquals(out.Metadata, { "mixed-case": "Value One", plain: "two" });
        const raw = await signedFetch(server, { method: "HEAD", path: `/${BUCKET}/doc.txt` });
        assertEquals(raw.headers.get("content-length"), String(TEXT.length));
        assertEquals(raw.headers.get("last-modified"), out.LastModified!.toUTCString());
        await raw.body?.cancel();
        await rejectsWith(() => head(client, { Key: "missing" }), "NotFound", 404);
        await rejectsWith(() => text(client, { Key: "missing" }), "NoSuchKey", 404);
      });

      await t.step("without Content-Type the object is binary/octet-stream", async () => {
        const response = await signedFetch(server, {
          method: "PUT",
          path: `/${BUCKET}/untyped`,
          body: new Uint8Array([120]),
        });
        assertEquals(response.status, 200);
        const out = await head(client, { Key: "untyped" });
        assertEquals(out.ContentType, "binary/octet-stream");
      });

      await t.step("ranges: closed, open, suffix, clamped, ignored, unsatisfiable", async () => {
        const cases: [string, number, string, string | undefined][] = [
          ["bytes=0-4", 206, "hello", `bytes 0-4/${TEXT.length}`],
          ["bytes=7-", 206, "flashstor", `bytes 7-15/${TEXT.length}`],
          ["bytes=-4", 206, "stor", `bytes 12-15/${TEXT.length}`],
          ["bytes=-100", 206, TEXT, `bytes 0-15/${TEXT.length}`],
          ["bytes=10-1000", 206, "shstor", `bytes 10-15/${TEXT.length}`],
          ["bytes=0-1,4-5", 200, TEXT, undefined],
          ["bytes=5-2", 200, TEXT, undefined],
          ["lines=1-2", 200, TEXT, undefined],
        ];
        for (const [range, code, body, contentRange] of cases) {
          const got = await text(client, { Key: "doc.txt", Range: range });
          assertEquals(
            [got.out.$metadata.httpStatusCode, got.body, got.out.ContentRange],
            [code, body, contentRange],
            range,
          );
          assertEquals(got.out.ContentLength, body.length, range);
        }
        for (const range of [`bytes=${TEXT.length}-`, "bytes=100-200", "bytes=-0"]) {
          const response = await signedFetch(server, {
            method: "GET",
            path: `/${BUCKET}/doc.txt`,
            headers: { range },
          });
          const xml = await response.text();
          assertEquals(response.status, 416, range);
          assertEquals(xmlField(xml, "Code"), "InvalidRange");
          assertEquals(response.headers.get("content-range"), `bytes */${TEXT.length}`);
        }
        await rejectsWith(
          () => text(client, { Key: "doc.txt", Range: "bytes=99-" }),
          "InvalidRange",
          416,
        );
      });

      await t.step("conditional GET and HEAD: 304 and 412 with S3's precedence", async () => {
        const info = await head(client, { Key: "doc.txt" });
        const modified = info.LastModified!;
        const past = new Date(modified.getTime() - 3600_000);
        const future = new Date(modified.getTime() + 3600_000);
        const cases: [Omit<GetObjectCommandInput, "Bucket" | "Key">, number][] = [
          [{ IfMatch: etag }, 200],
          [{ IfMatch: '"0123"' }, 412],
          [{ IfMatch: "*" }, 200],
          [{ IfNoneMatch: etag }, 304],
          [{ IfNoneMatch: '"0123"' }, 200],
          [{ IfNoneMatch: "*" }, 304],
          [{ IfModifiedSince: modified }, 304],
          [{ IfModifiedSince: future }, 304],
          [{ IfModifiedSince: past }, 200],
          [{ IfUnmodifiedSince: past }, 412],
          [{ IfUnmodifiedSince: modified }, 200],
          // If-Match that holds overrides a failing If-Unmodified-Since.
          [{ IfMatch: etag, IfUnmodifiedSince: past }, 200],
          // If-None-Match that holds (no match) overrides If-Modified-Since.
          [{ IfNoneMatch: '"0123"', IfModifiedSince: future }, 200],
          [{ IfNoneMatch: etag, IfModifiedSince: past }, 304],
          [{ IfMatch: '"0123"', IfNoneMatch: '"0123"' }, 412],
        ];
        for (const [conditions, expected] of cases) {
          const label = JSON.stringify(conditions);
          const input = { Key: "doc.txt", ...conditions };
          const get = async () => (await text(client, input)).out;
          assertEquals(await status(get), expected, `GET ${label}`);
          assertEquals(await status(() => head(client, input)), expected, `HEAD ${label}`);
        }
        const response = await signedFetch(server, {
          method: "GET",
          path: `/${BUCKET}/doc.txt`,
          headers: { "if-none-match": etag },
        });
        assertEquals(response.status, 304);
        assertEquals(response.headers.get("etag"), etag);
        assert(response.headers.get("x-amz-request-id"), "304 carries a request id");
        const failed = await signedFetch(server, {
          method: "GET",
          path: `/${BUCKET}/doc.txt`,
          headers: { "if-match": '"nope"' },
        });
        assertEquals(xmlField(await failed.text(), "Code"), "PreconditionFailed");
      });

      await t.step("response-* overrides replace the stored headers", async () => {
        const { out, body } = await text(client, {
          Key: "doc.txt",
          ResponseContentType: "application/x-override",
          ResponseContentDisposition: "inline",
          ResponseContentLanguage: "fr",
          ResponseCacheControl: "no-cache",
          ResponseContentEncoding: "x-custom",
          ResponseExpires: new Date("2031-05-06T07:08:09Z"),
        });
        assertEquals(body, TEXT);
        assertEquals(
          [out.ContentType, out.ContentDisposition, out.ContentLanguage, out.CacheControl],
          ["application/x-override", "inline", "fr", "no-cache"],
        );
        assertEquals(out.ContentEncoding, "x-custom");
        assertEquals(out.ExpiresString, "Tue, 06 May 2031 07:08:09 GMT");
        const plain = await head(client, { Key: "doc.txt" });
        assertEquals(plain.ContentType, "text/plain; charset=utf-8");
      });

      await t.step("checksums are stored and returned with checksum mode", async () => {
        const sha = await client.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: "sha.txt",
            Body: TEXT,
            ChecksumAlgorithm: "SHA256",
          }),
        );
        assertEquals(sha.ChecksumSHA256, base64Digest("sha256", TEXT));
        const withMode = await head(client, { Key: "sha.txt", ChecksumMode: "ENABLED" });
        assertEquals(withMode.ChecksumSHA256, base64Digest("sha256", TEXT));
        const withoutMode = await head(client, { Key: "sha.txt" });
        assertEquals(withoutMode.ChecksumSHA256, undefined);
        const got = await text(client, { Key: "sha.txt", ChecksumMode: "ENABLED" });
        assertEquals(got.out.ChecksumSHA256, base64Digest("sha256", TEXT));
        const ranged = await text(client, {
          Key: "sha.txt",
          ChecksumMode: "ENABLED",
          Range: "bytes=0-1",
        });
        assertEquals([ranged.body, ranged.out.ChecksumSHA256], ["he", undefined]);
        // The SDK's default upload sends a CRC32 trailer; it comes back and verifies.
        const crc = await head(client, { Key: "doc.txt", ChecksumMode: "ENABLED" });
        assertEquals(crc.ChecksumCRC32, crc32Base64(TEXT));
      });

      await t.step("a wrong Content-MD5 or checksum is BadDigest and writes nothing", async () => {
        const md5 = await signedFetch(server, {
          method: "PUT",
          path: `/${BUCKET}/bad-md5`,
          headers: { "content-md5": base64Digest("md5", "other") },
          body: TEXT,
        });
        assertEquals([md5.status, xmlField(await md5.text(), "Code")], [400, "BadDigest"]);
        const crc = await signedFetch(server, {
          method: "PUT",
          path: `/${BUCKET}/bad-sha`,
          headers: { "x-amz-checksum-sha256": base64Digest("sha256", "other") },
          body: TEXT,
        });
        assertEquals([crc.status, xmlField(await crc.text(), "Code")], [400, "BadDigest"]);
        await rejectsWith(() => head(client, { Key: "bad-md5" }), "NotFound", 404);
        await rejectsWith(() => head(client, { Key: "bad-sha" }), "NotFound", 404);
        const good = await signedFetch(server, {
          method: "PUT",
          path: `/${BUCKET}/good-md5`,
          headers: { "content-md5": base64Digest("md5", TEXT) },
          body: TEXT,
        });
        assertEquals(good.status, 200);
      });

      await t.step("keys with spaces, unicode, '+', '%', '..' and '//' round trip", async () => {
        for (const key of ["a b/c+d", "€uro/ünï", "100%/x", "dir/../up", "a//b", "q?x=1#f"]) {
          const response = await rawRequest(server, {
            method: "PUT",
            path: `/${BUCKET}/${key}`,
            body: key,
          });
          if (key.includes("..") || key.includes("//")) {
            // The object layer keeps keys that map onto paths unambiguous.
            assertEquals([response.status, xmlField(response.body, "Code")], [
              400,
              "InvalidObjectName",
            ]);
            continue;
          }
          assertEquals(response.status, 200, key);
          const { body } = await text(client, { Key: key });
          assertEquals(body, key);
        }
        const long = "k".repeat(1025);
        await rejectsWith(
          () => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: long, Body: "x" })),
          "KeyTooLongError",
          400,
        );
      });

      await t.step("?partNumber selects one part of a multipart object", async () => {
        const parts = [new Uint8Array(5 * 1024 * 1024).fill(1), new Uint8Array(100).fill(2)];
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "multi" }),
        );
        const completed = [];
        for (const [i, Body] of parts.entries()) {
          const PartNumber = i + 1;
          const { ETag } = await client.send(
            new UploadPartCommand({ Bucket: BUCKET, Key: "multi", UploadId, PartNumber, Body }),
          );
          completed.push({ PartNumber, ETag });
        }
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: "multi",
            UploadId,
            MultipartUpload: { Parts: completed },
          }),
        );
        const second = await client.send(
          new GetObjectCommand({ Bucket: BUCKET, Key: "multi", PartNumber: 2 }),
        );
        assertEquals(await second.Body!.transformToByteArray(), parts[1]);
        assertEquals(
          [second.$metadata.httpStatusCode, second.ContentRange, second.PartsCount],
          [206, `bytes 5242880-5242979/5242980`, 2],
        );
        const first = await head(client, { Key: "multi", PartNumber: 1 });
        assertEquals([first.ContentLength, first.PartsCount], [5 * 1024 * 1024, 2]);
        const single = await head(client, { Key: "doc.txt", PartNumber: 1 });
        assertEquals([single.ContentLength, single.PartsCount], [TEXT.length, undefined]);
        assertEquals(await status(() => head(client, { Key: "multi", PartNumber: 3 })), 416);
      });

      await t.step(
        "GetObjectTagging: an untagged object's tag set is empty",
        async () => {
          const tags = await client.send(
            new GetObjectTaggingCommand({ Bucket: BUCKET, Key: "doc.txt" }),
          );
          assertEquals(tags.TagSet, []);
          await rejectsWith(
            () => client.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: "missing" })),
            "NoSuchKey",
            404,
          );
        },
      );

      await t.step("DeleteObject answers 204 whether or not the key exists", async () => {
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "gone", Body: "x" }));
        const first = await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "gone" }));
        assertEquals(first.$metadata.httpStatusCode, 204);
        const again = await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "gone" }));
        assertEquals(again.$metadata.httpStatusCode, 204);
        await rejectsWith(() => head(client, { Key: "gone" }), "NotFound", 404);
        await rejectsWith(
          () => client.send(new DeleteObjectCommand({ Bucket: "no-such-bucket", Key: "k" })),
          "NoSuchBucket",
          404,
        );
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "DeleteObjects: verbose, quiet, per-key errors, integrity and malformed XML",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    const putAll = async (names: string[]) => {
      for (const Key of names) {
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: Key }));
      }
    };
    try {
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));

      await t.step("verbose mode lists every deleted key, missing ones included", async () => {
        await putAll(["a", "b", "c/d"]);
        const out = await client.send(
          new DeleteObjectsCommand({
            Bucket: BUCKET,
            Delete: { Objects: [{ Key: "a" }, { Key: "c/d" }, { Key: "never-was" }] },
          }),
        );
        assertEquals(out.Deleted?.map((d) => d.Key), ["a", "c/d", "never-was"]);
        assertEquals(out.Errors, undefined);
        assertEquals(await keys(client), ["b"]);
      });

      await t.step("quiet mode reports only failures; version null deletes", async () => {
        await putAll(["q1", "q2"]);
        const out = await client.send(
          new DeleteObjectsCommand({
            Bucket: BUCKET,
            Delete: {
              Quiet: true,
              Objects: [
                { Key: "q1" },
                { Key: "q2", VersionId: "null" },
                { Key: "b", VersionId: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY" },
              ],
            },
          }),
        );
        assertEquals(out.Deleted, undefined);
        // A version id of another server's form names nothing here: it is malformed.
        assertEquals(out.Errors?.map((e) => [e.Key, e.Code]), [["b", "InvalidArgument"]]);
        assertEquals(await keys(client), ["b"]);
      });

      const post = (body: string, headers: Record<string, string>) =>
        signedFetch(server, {
          method: "POST",
          path: `/${BUCKET}`,
          query: [["delete", ""]],
          headers,
          body,
        });
      const md5 = (body: string) => ({ "content-md5": base64Digest("md5", body) });

      await t.step("Content-MD5 or an x-amz-checksum is required and checked", async () => {
        const body = "<Delete><Object><Key>b</Key></Object></Delete>";
        const missing = await post(body, {});
        assertEquals([missing.status, xmlField(await missing.text(), "Code")], [
          400,
          "InvalidRequest",
        ]);
        const wrong = await post(body, md5("something else"));
        assertEquals([wrong.status, xmlField(await wrong.text(), "Code")], [400, "BadDigest"]);
        assertEquals(await keys(client), ["b"]);
        const crc = await post(body, { "x-amz-checksum-sha256": base64Digest("sha256", body) });
        const xml = await crc.text();
        assertEquals([crc.status, xmlField(xml, "Key")], [200, "b"]);
        assertEquals(await keys(client), []);
      });

      await t.step("malformed or oversized documents are MalformedXML", async () => {
        await putAll(["keep"]);
        const tooMany = "<Delete>" + "<Object><Key>keep</Key></Object>".repeat(1001) +
          "</Delete>";
        const bad = [
          "",
          "<Delete><Object><Key>keep</Key></Object>",
          "<Delete></Delete>",
          "<Remove><Object><Key>keep</Key></Object></Remove>",
          "<Delete><Object><VersionId>null</VersionId></Object></Delete>",
          "<Delete><Quiet>maybe</Quiet><Object><Key>keep</Key></Object></Delete>",
          "<!DOCTYPE x><Delete><Object><Key>keep</Key></Object></Delete>",
          tooMany,
        ];
        for (const body of bad) {
          const response = await post(body, md5(body));
          assertEquals(
            [response.status, xmlField(await response.text(), "Code")],
            [400, "MalformedXML"],
            body.slice(0, 60),
          );
        }
        assertEquals(await keys(client), ["keep"]);
        const thousand = "<Delete>" +
          Array.from({ length: 1000 }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join("") +
          "</Delete>";
        const ok = await post(thousand, md5(thousand));
        assertEquals(ok.status, 200);
        assertEquals((await ok.text()).split("<Deleted>").length - 1, 1000);
      });

      await t.step("a missing bucket is NoSuchBucket", async () => {
        await rejectsWith(
          () =>
            client.send(
              new DeleteObjectsCommand({
                Bucket: "no-such-bucket",
                Delete: { Objects: [{ Key: "x" }] },
              }),
            ),
          "NoSuchBucket",
          404,
        );
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "CopyObject: COPY, REPLACE, self-copy, sources and conditions",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    const copy = (input: Omit<ConstructorParameters<typeof CopyObjectCommand>[0], "Bucket">) =>
      client.send(new CopyObjectCommand({ Bucket: BUCKET, ...input }));
    try {
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      await client.send(new CreateBucketCommand({ Bucket: "other" }));
      const source = await client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: "src dir/file ü.txt",
          Body: TEXT,
          ContentType: "text/plain",
          Metadata: { origin: "source" },
          ChecksumAlgorithm: "SHA256",
        }),
      );
      const encodedSource = `${BUCKET}/${encodeURIComponent("src dir/file ü.txt")}`;

      await t.step("COPY keeps data, metadata and checksums", async () => {
        const out = await copy({ Key: "copied", CopySource: encodedSource });
        assertEquals(out.CopyObjectResult?.ETag, source.ETag);
        const age = Date.now() - out.CopyObjectResult!.LastModified!.getTime();
        assert(age > -2000 && age < 60_000, "LastModified is now");
        const { out: got, body } = await text(client, { Key: "copied", ChecksumMode: "ENABLED" });
        assertEquals(body, TEXT);
        assertEquals([got.ContentType, got.Metadata], ["text/plain", { origin: "source" }]);
        assertEquals(got.ChecksumSHA256, base64Digest("sha256", TEXT));
      });

      await t.step("REPLACE takes the request's metadata", async () => {
        await copy({
          Key: "replaced",
          CopySource: `/${encodedSource}`,
          MetadataDirective: "REPLACE",
          ContentType: "application/json",
          Metadata: { fresh: "yes" },
        });
        const got = await head(client, { Key: "replaced" });
        assertEquals([got.ContentType, got.Metadata], ["application/json", { fresh: "yes" }]);
        assertEquals(got.ContentLength, TEXT.length);
      });

      await t.step("copying onto itself needs REPLACE", async () => {
        await rejectsWith(
          () => copy({ Key: "src dir/file ü.txt", CopySource: encodedSource }),
          "InvalidRequest",
          400,
        );
        await copy({
          Key: "src dir/file ü.txt",
          CopySource: encodedSource,
          MetadataDirective: "REPLACE",
          Metadata: { origin: "rewritten" },
        });
        const { out, body } = await text(client, { Key: "src dir/file ü.txt" });
        assertEquals([body, out.Metadata], [TEXT, { origin: "rewritten" }]);
      });

      await t.step("across buckets, with ?versionId=null; other versions are missing", async () => {
        await client.send(
          new CopyObjectCommand({
            Bucket: "other",
            Key: "x",
            CopySource: `${encodedSource}?versionId=null`,
          }),
        );
        const got = await client.send(new GetObjectCommand({ Bucket: "other", Key: "x" }));
        assertEquals(await got.Body!.transformToString(), TEXT);
        await rejectsWith(
          () => copy({ Key: "v", CopySource: `${encodedSource}?versionId=abc` }),
          "InvalidArgument",
          400,
        );
        await rejectsWith(
          () => copy({ Key: "v", CopySource: `${encodedSource}?versionId=${crypto.randomUUID()}` }),
          "NoSuchVersion",
          404,
        );
      });

      await t.step("bad sources and directives", async () => {
        await rejectsWith(
          () => copy({ Key: "n", CopySource: `${BUCKET}/missing` }),
          "NoSuchKey",
          404,
        );
        await rejectsWith(
          () => copy({ Key: "n", CopySource: "no-such-bucket/x" }),
          "NoSuchBucket",
          404,
        );
        await rejectsWith(() => copy({ Key: "n", CopySource: BUCKET }), "InvalidArgument", 400);
        await rejectsWith(
          () =>
            copy({
              Key: "n",
              CopySource: encodedSource,
              MetadataDirective: "MERGE" as "COPY",
            }),
          "InvalidArgument",
          400,
        );
        await rejectsWith(() => head(client, { Key: "n" }), "NotFound", 404);
      });

      await t.step("x-amz-copy-source-if-* conditions", async () => {
        const info = await head(client, { Key: "src dir/file ü.txt" });
        const etag = info.ETag!;
        const past = new Date(info.LastModified!.getTime() - 3600_000);
        const future = new Date(info.LastModified!.getTime() + 3600_000);
        const cases: [Record<string, unknown>, number][] = [
          [{ CopySourceIfMatch: etag }, 200],
          [{ CopySourceIfMatch: '"0000"' }, 412],
          [{ CopySourceIfNoneMatch: etag }, 412],
          [{ CopySourceIfNoneMatch: '"0000"' }, 200],
          [{ CopySourceIfModifiedSince: future }, 412],
          [{ CopySourceIfModifiedSince: past }, 200],
          [{ CopySourceIfUnmodifiedSince: past }, 412],
          [{ CopySourceIfUnmodifiedSince: future }, 200],
          [{ CopySourceIfMatch: etag, CopySourceIfUnmodifiedSince: past }, 200],
          [{ CopySourceIfNoneMatch: '"0000"', CopySourceIfModifiedSince: future }, 200],
        ];
        for (const [conditions, expected] of cases) {
          const code = await status(() =>
            copy({ Key: "conditional", CopySource: encodedSource, ...conditions })
          );
          assertEquals(code, expected, JSON.stringify(conditions));
        }
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});
