/**
 * Multipart uploads through the AWS SDK (default checksum settings) against a real server:
 * the full life cycle, the part checks of Complete, UploadPartCopy with a range, and the
 * errors S3 documents for bad part numbers, unknown uploads and malformed XML.
 */

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type UploadPartCopyCommandInput,
} from "@aws-sdk/client-s3";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { s3Client, startServer } from "./helpers/server.ts";
import { patterned } from "./helpers/clients.ts";
import { concatBytes } from "../src/bytes.ts";

const MiB = 1024 * 1024;

function crc32Bytes(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, crc32(data));
  return out;
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** S3's composite checksum: the CRC32 of the concatenated binary part CRC32s, then "-<parts>". */
const compositeCrc32 = (parts: Uint8Array[]) =>
  `${base64(crc32Bytes(concatBytes(parts.map(crc32Bytes))))}-${parts.length}`;

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");

/** S3's multipart ETag: MD5 of the concatenated binary part MD5s, then "-<parts>". */
function multipartEtag(parts: Uint8Array[]): string {
  const hash = createHash("md5");
  for (const part of parts) hash.update(createHash("md5").update(part).digest());
  return `"${hash.digest("hex")}-${parts.length}"`;
}

async function download(client: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return await out.Body!.transformToByteArray();
}

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(promise);
  assertEquals(err.name, code, err.message);
  assertEquals(err.$metadata?.httpStatusCode, status);
}

async function upload(client: S3Client, bucket: string, key: string, parts: Uint8Array[]) {
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
  );
  const completed = [];
  for (const [i, body] of parts.entries()) {
    const out = await client.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }),
    );
    completed.push({ PartNumber: i + 1, ETag: out.ETag });
  }
  return { uploadId: UploadId!, completed };
}

Deno.test({
  name: "multipart uploads through the AWS SDK",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    const bucket = "multi";
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const part1 = patterned(5 * MiB, 1);
      const part2 = patterned(5 * MiB + 17, 2);
      const part3 = patterned(1234, 3);

      await t.step("create, upload, list parts and uploads, complete, download", async () => {
        const created = await client.send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: "dir/big object",
            ContentType: "application/x-test",
            Metadata: { color: "blue" },
            ChecksumAlgorithm: "CRC32",
          }),
        );
        assertEquals(created.Bucket, bucket);
        assertEquals(created.Key, "dir/big object");
        const uploadId = created.UploadId!;
        assert(uploadId);

        const etags: string[] = [];
        for (const [i, body] of [part1, part2, part3].entries()) {
          const out = await client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: "dir/big object",
              UploadId: uploadId,
              PartNumber: i + 1,
              Body: body,
              ChecksumAlgorithm: "CRC32",
            }),
          );
          assertEquals(out.ETag, `"${md5(body)}"`);
          assertEquals(out.ChecksumCRC32, base64(crc32Bytes(body)));
          etags.push(out.ETag!);
        }

        const uploads = await client.send(
          new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "dir/" }),
        );
        assertEquals(uploads.Uploads?.map((u) => [u.Key, u.UploadId]), [
          ["dir/big object", uploadId],
        ]);
        assertEquals(uploads.Uploads?.[0].Owner?.DisplayName, "testadmin");
        const grouped = await client.send(
          new ListMultipartUploadsCommand({ Bucket: bucket, Delimiter: "/" }),
        );
        assertEquals(grouped.CommonPrefixes?.map((p) => p.Prefix), ["dir/"]);
        assertEquals(grouped.Uploads, undefined);

        const page1 = await client.send(
          new ListPartsCommand({
            Bucket: bucket,
            Key: "dir/big object",
            UploadId: uploadId,
            MaxParts: 2,
          }),
        );
        assertEquals(page1.IsTruncated, true);
        assertEquals(page1.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]), [
          [1, etags[0], part1.length],
          [2, etags[1], part2.length],
        ]);
        assertEquals(page1.NextPartNumberMarker, "2");
        assertEquals(page1.Initiator?.DisplayName, "testadmin");
        assertEquals(page1.Owner?.DisplayName, "testadmin");
        assertEquals(page1.StorageClass, "STANDARD");
        const page2 = await client.send(
          new ListPartsCommand({
            Bucket: bucket,
            Key: "dir/big object",
            UploadId: uploadId,
            PartNumberMarker: page1.NextPartNumberMarker,
          }),
        );
        assertEquals(page2.IsTruncated, false);
        assertEquals(page2.Parts?.map((p) => p.PartNumber), [3]);
        assertEquals(page2.Parts?.[0].ChecksumCRC32, base64(crc32Bytes(part3)));
        assertEquals(page2.ChecksumAlgorithm, "CRC32");

        const done = await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: "dir/big object",
            UploadId: uploadId,
            MultipartUpload: {
              Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })),
            },
          }),
        );
        assertEquals(done.ETag, multipartEtag([part1, part2, part3]));
        assertEquals(done.ChecksumCRC32, compositeCrc32([part1, part2, part3]));
        assertEquals(done.Bucket, bucket);
        assertEquals(done.Key, "dir/big object");
        assertEquals(done.Location, `${server.endpoint}/${bucket}/dir/big%20object`);

        const got = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: "dir/big object" }),
        );
        assertEquals(got.ContentType, "application/x-test");
        assertEquals(got.Metadata, { color: "blue" });
        assertEquals(got.ETag, done.ETag);
        const bytes = await got.Body!.transformToByteArray();
        assertEquals(bytes.length, part1.length + part2.length + part3.length);
        assertEquals(md5(bytes), md5(concatBytes([part1, part2, part3])));

        const after = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
        assertEquals(after.Uploads, undefined);
      });

      await t.step("abort removes the upload", async () => {
        const { uploadId } = await upload(client, bucket, "aborted", [part3]);
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: "aborted", UploadId: uploadId }),
        );
        await rejectsWith(
          () =>
            client.send(
              new ListPartsCommand({ Bucket: bucket, Key: "aborted", UploadId: uploadId }),
            ),
          "NoSuchUpload",
          404,
        );
        await rejectsWith(
          () =>
            client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: "aborted",
                UploadId: uploadId,
                PartNumber: 1,
                Body: "x",
              }),
            ),
          "NoSuchUpload",
          404,
        );
        // An id no upload can have (a path, say) is no upload either, never a drive error.
        for (const bad of ["../../x", "../x"]) {
          await rejectsWith(
            () =>
              client.send(
                new CompleteMultipartUploadCommand({
                  Bucket: bucket,
                  Key: "aborted",
                  UploadId: bad,
                  MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"x"' }] },
                }),
              ),
            "NoSuchUpload",
            404,
          );
        }
      });

      await t.step("Complete checks sizes, ETags and order", async () => {
        const small = patterned(1 * MiB, 4);
        const { uploadId, completed } = await upload(client, bucket, "checked", [
          small,
          part3,
        ]);
        const complete = (parts: { PartNumber: number; ETag?: string }[]) =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: "checked",
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
          );
        await rejectsWith(() => complete(completed), "EntityTooSmall", 400);
        await rejectsWith(
          () => complete([{ PartNumber: 1, ETag: `"${"0".repeat(32)}"` }]),
          "InvalidPart",
          400,
        );
        await rejectsWith(
          () => complete([{ PartNumber: 7, ETag: completed[0].ETag }]),
          "InvalidPart",
          400,
        );
        await rejectsWith(() => complete([completed[1], completed[0]]), "InvalidPartOrder", 400);
        // A single small part is also the last one, so it is allowed.
        const single = await complete([completed[0]]);
        assertEquals(single.ETag, multipartEtag([small]));
        assertEquals(md5(await download(client, bucket, "checked")), md5(small));
      });

      await t.step("UploadPartCopy copies whole objects and ranges", async () => {
        const source = patterned(6 * MiB + 5, 5);
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: "source", Body: source }));
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: "copied" }),
        );
        const whole = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: "copied",
            UploadId,
            PartNumber: 1,
            CopySource: `${bucket}/source`,
          }),
        );
        assertEquals(whole.CopyPartResult?.ETag, `"${md5(source)}"`);
        assert(whole.CopyPartResult?.LastModified instanceof Date);
        const ranged = await client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: "copied",
            UploadId,
            PartNumber: 2,
            CopySource: `${bucket}/source`,
            CopySourceRange: "bytes=100-1099",
          }),
        );
        const slice = source.slice(100, 1100);
        assertEquals(ranged.CopyPartResult?.ETag, `"${md5(slice)}"`);
        const refused: [Partial<UploadPartCopyCommandInput>, string, number][] = [
          [{ CopySourceRange: "bytes=0-6291461" }, "InvalidRange", 416],
          [{ CopySourceRange: "bytes=5-4" }, "InvalidRange", 416],
          [{ CopySourceRange: "bytes=0-" }, "InvalidArgument", 400],
          [{ CopySourceIfMatch: `"${"1".repeat(32)}"` }, "PreconditionFailed", 412],
        ];
        for (const [condition, code, status] of refused) {
          await rejectsWith(
            () =>
              client.send(
                new UploadPartCopyCommand({
                  Bucket: bucket,
                  Key: "copied",
                  UploadId,
                  PartNumber: 3,
                  CopySource: `${bucket}/source`,
                  ...condition,
                }),
              ),
            code,
            status,
          );
        }
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: "copied",
            UploadId,
            MultipartUpload: {
              Parts: [
                { PartNumber: 1, ETag: whole.CopyPartResult?.ETag },
                { PartNumber: 2, ETag: ranged.CopyPartResult?.ETag },
              ],
            },
          }),
        );
        const bytes = await download(client, bucket, "copied");
        assertEquals(md5(bytes), md5(concatBytes([source, slice])));
      });

      await t.step("ListMultipartUploads pages by key and upload id markers", async () => {
        const created: [string, string][] = [];
        for (const key of ["u/b", "u/a", "u/b", "u/c/d"]) {
          const { UploadId } = await client.send(
            new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
          );
          created.push([key, UploadId!]);
          // Upload ids order by creation time in milliseconds.
          await new Promise((resolve) => setTimeout(resolve, 3));
        }
        // Keys in order; uploads of one key oldest first.
        const expected = [created[1], created[0], created[2], created[3]];
        const seen: [string, string][] = [];
        let KeyMarker: string | undefined;
        let UploadIdMarker: string | undefined;
        for (let page = 0; page < 10; page++) {
          const out = await client.send(
            new ListMultipartUploadsCommand({
              Bucket: bucket,
              Prefix: "u/",
              MaxUploads: 1,
              KeyMarker,
              UploadIdMarker,
            }),
          );
          assert((out.Uploads ?? []).length <= 1);
          for (const u of out.Uploads ?? []) seen.push([u.Key!, u.UploadId!]);
          if (!out.IsTruncated) break;
          KeyMarker = out.NextKeyMarker;
          UploadIdMarker = out.NextUploadIdMarker;
        }
        assertEquals(seen, expected);
        const grouped = await client.send(
          new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: "u/", Delimiter: "/" }),
        );
        assertEquals(grouped.Uploads?.map((u) => u.Key), ["u/a", "u/b", "u/b"]);
        assertEquals(grouped.CommonPrefixes?.map((p) => p.Prefix), ["u/c/"]);
        for (const [Key, UploadId] of created) {
          await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId }));
        }
      });

      await t.step("a part whose checksum does not match is refused and not stored", async () => {
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: "digest" }),
        );
        const send = (options: { ContentMD5?: string; ChecksumCRC32?: string }) =>
          client.send(
            new UploadPartCommand({
              Bucket: bucket,
              Key: "digest",
              UploadId,
              PartNumber: 1,
              Body: "the real body",
              ...options,
            }),
          );
        await rejectsWith(() => send({ ContentMD5: base64(new Uint8Array(16)) }), "BadDigest", 400);
        await rejectsWith(() => send({ ChecksumCRC32: "AAAAAA==" }), "BadDigest", 400);
        const parts = await client.send(
          new ListPartsCommand({ Bucket: bucket, Key: "digest", UploadId }),
        );
        assertEquals(parts.Parts, undefined);
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: "digest", UploadId }),
        );
      });

      await t.step("bad part numbers, unknown uploads and malformed XML", async () => {
        const { UploadId } = await client.send(
          new CreateMultipartUploadCommand({ Bucket: bucket, Key: "bad" }),
        );
        for (const PartNumber of [0, 10001]) {
          await rejectsWith(
            () =>
              client.send(
                new UploadPartCommand({
                  Bucket: bucket,
                  Key: "bad",
                  UploadId,
                  PartNumber,
                  Body: "x",
                }),
              ),
            "InvalidArgument",
            400,
          );
        }
        await rejectsWith(
          () =>
            client.send(
              new UploadPartCommand({
                Bucket: bucket,
                Key: "bad",
                UploadId: "no-such-upload",
                PartNumber: 1,
                Body: "x",
              }),
            ),
          "NoSuchUpload",
          404,
        );
        await rejectsWith(
          () =>
            client.send(
              new CompleteMultipartUploadCommand({
                Bucket: bucket,
                Key: "bad",
                UploadId,
                MultipartUpload: { Parts: [] },
              }),
            ),
          "MalformedXML",
          400,
        );
        await rejectsWith(
          () =>
            client.send(
              new UploadPartCopyCommand({
                Bucket: bucket,
                Key: "bad",
                UploadId,
                PartNumber: 1,
                CopySource: `${bucket}/no-such-source`,
              }),
            ),
          "NoSuchKey",
          404,
        );
        await rejectsWith(
          () =>
            client.send(new CreateMultipartUploadCommand({ Bucket: "no-such-bucket", Key: "k" })),
          "NoSuchBucket",
          404,
        );
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: "bad", UploadId }),
        );
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});
