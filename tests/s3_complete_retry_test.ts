/**
 * A repeated CompleteMultipartUpload against a real server: the first one succeeded but its
 * answer was lost, and the client (or its SDK) sends it again. S3 answers with the first one's
 * result; a Complete listing other parts, or of an upload that never completed, is NoSuchUpload.
 */

import {
  CompleteMultipartUploadCommand,
  type CompleteMultipartUploadCommandOutput,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { MiB, patterned } from "./helpers/clients.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { rawRequest, xmlField } from "./s3_raw.ts";

const BUCKET = "retry";

interface Uploaded {
  uploadId: string;
  parts: { PartNumber: number; ETag: string; ChecksumCRC32?: string }[];
}

/** An upload of `key` with a 5 MiB and a 10-byte part, CRC32 checksums (composite). */
async function uploadParts(client: S3Client, key: string): Promise<Uploaded> {
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ChecksumAlgorithm: "CRC32" }),
  );
  const parts = [];
  for (const [i, body] of [patterned(5 * MiB, 1), patterned(10, 2)].entries()) {
    const out = await client.send(
      new UploadPartCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId,
        PartNumber: i + 1,
        Body: body,
        ChecksumAlgorithm: "CRC32",
      }),
    );
    parts.push({ PartNumber: i + 1, ETag: out.ETag!, ChecksumCRC32: out.ChecksumCRC32 });
  }
  return { uploadId: UploadId!, parts };
}

function completeXml(parts: Uploaded["parts"]): string {
  const elements = parts.map((p) =>
    `<Part><PartNumber>${p.PartNumber}</PartNumber><ETag>${p.ETag}</ETag>` +
    (p.ChecksumCRC32 ? `<ChecksumCRC32>${p.ChecksumCRC32}</ChecksumCRC32>` : "") + "</Part>"
  );
  return `<CompleteMultipartUpload>${elements.join("")}</CompleteMultipartUpload>`;
}

function rawComplete(server: TestServer, key: string, uploadId: string, xml: string) {
  return rawRequest(server, {
    method: "POST",
    path: `/${BUCKET}/${key}`,
    query: [["uploadId", uploadId]],
    body: xml,
  });
}

/**
 * A TCP proxy to the server that forwards everything, except that the answer to the first
 * request of its first connection is dropped: the server has done the work, the client never
 * hears of it (the connection closes).
 */
function dropFirstAnswer(server: TestServer): { endpoint: string; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  let first = true;
  const serve = async (client: Deno.Conn) => {
    const upstream = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conns.push(client, upstream);
    const drop = first;
    first = false;
    client.readable.pipeTo(upstream.writable).catch(() => {});
    if (!drop) return await upstream.readable.pipeTo(client.writable).catch(() => {});
    const reader = upstream.readable.getReader();
    await reader.read().catch(() => {});
    for (const conn of [client, upstream]) {
      try {
        conn.close();
      } catch {
        // Already closed by a pipe.
      }
    }
  };
  (async () => {
    for await (const conn of listener) serve(conn).catch(() => {});
  })().catch(() => {});
  const { port } = listener.addr as Deno.NetAddr;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed already.
        }
      }
    },
  };
}

Deno.test({
  name: "a repeated CompleteMultipartUpload gets the first one's answer",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    try {
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));

      await t.step("the same parts again: same ETag, Location, Bucket, Key, checksum", async () => {
        const { uploadId, parts } = await uploadParts(client, "dir/twice");
        const first = await client.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: "dir/twice",
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
        assert(first.ChecksumCRC32?.endsWith("-2"), first.ChecksumCRC32);
        // Overwritten meanwhile: the retry must not write its object again.
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "dir/twice", Body: "new" }));
        for (
          const xml of [
            completeXml(parts),
            completeXml(parts.map((p) => ({ ...p, ChecksumCRC32: undefined }))),
          ]
        ) {
          const again = await rawComplete(server, "dir/twice", uploadId, xml);
          assertEquals(again.status, 200, again.body);
          assertEquals(
            ["ETag", "Location", "Bucket", "Key", "ChecksumCRC32"].map((f) =>
              xmlField(again.body, f)
            ),
            [
              first.ETag?.replaceAll('"', "&quot;"),
              first.Location,
              first.Bucket,
              first.Key,
              first.ChecksumCRC32,
            ],
          );
        }
        const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "dir/twice" }));
        assertEquals(await got.Body!.transformToString(), "new");
        const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
        assertEquals(uploads.Uploads, undefined);
      });

      await t.step(
        "other parts after success, or an upload never completed: NoSuchUpload",
        async () => {
          const { uploadId, parts } = await uploadParts(client, "other");
          const xml = completeXml(parts);
          assertEquals((await rawComplete(server, "other", uploadId, xml)).status, 200);
          for (
            const [key, id, body] of [
              ["other", uploadId, completeXml(parts.slice(0, 1))],
              ["other", uploadId, completeXml([parts[0], { ...parts[1], ETag: parts[0].ETag }])],
              ["another-key", uploadId, xml],
              ["other", "000000000000-00000000-0000-0000-0000-000000000000", xml],
            ]
          ) {
            const response = await rawComplete(server, key, id, body);
            assertEquals([response.status, xmlField(response.body, "Code")], [404, "NoSuchUpload"]);
          }
        },
      );

      await t.step("the SDK retries a Complete whose answer was lost", async () => {
        const { uploadId, parts } = await uploadParts(client, "lost-answer");
        const proxy = dropFirstAnswer(server);
        const retrying = new S3Client({
          endpoint: proxy.endpoint,
          region: "us-east-1",
          forcePathStyle: true,
          credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
          maxAttempts: 3,
        });
        let done: CompleteMultipartUploadCommandOutput;
        try {
          done = await retrying.send(
            new CompleteMultipartUploadCommand({
              Bucket: BUCKET,
              Key: "lost-answer",
              UploadId: uploadId,
              MultipartUpload: { Parts: parts },
            }),
          );
        } finally {
          retrying.destroy();
          proxy.close();
        }
        assertEquals(done.$metadata.attempts, 2);
        const got = await client.send(
          new GetObjectCommand({ Bucket: BUCKET, Key: "lost-answer" }),
        );
        assertEquals(done.ETag, got.ETag);
        assert(done.ChecksumCRC32?.endsWith("-2"), done.ChecksumCRC32);
        assertEquals((await got.Body!.transformToByteArray()).length, 5 * MiB + 10);
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});
