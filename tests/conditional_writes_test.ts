/**
 * Conditional writes (AWS, 2024) against a real server with the JS SDK v3: If-None-Match: * and
 * If-Match on PutObject, CompleteMultipartUpload and CopyObject (412 PreconditionFailed, 404
 * NoSuchKey for If-Match without an object, 501 for If-None-Match other than *), a delete marker
 * counting as no object, a refused Complete leaving its upload to retry, and concurrent
 * If-None-Match: * PUTs of one key of which exactly one wins.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListPartsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import { md5Hex, patterned } from "./helpers/clients.ts";
import { withServer } from "./helpers/server.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

type ServiceError = Error & { $metadata?: { httpStatusCode?: number } };

async function body(client: S3Client, bucket: string, key: string): Promise<string> {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return await got.Body!.transformToString();
}

const putIf = (
  client: S3Client,
  key: string,
  content: string | Uint8Array,
  condition: { IfNoneMatch?: string; IfMatch?: string },
) => client.send(new PutObjectCommand({ Bucket: "cond", Key: key, Body: content, ...condition }));

Deno.test("conditional writes: the JS SDK against a real server", (t) =>
  withServer(async (server, client) => {
    await client.send(new CreateBucketCommand({ Bucket: "cond" }));

    await t.step("PutObject: If-None-Match: * and If-Match", async () => {
      const first = await putIf(client, "k", "first", { IfNoneMatch: "*" });
      await assertS3Error(
        () => putIf(client, "k", "second", { IfNoneMatch: "*" }),
        "PreconditionFailed",
        412,
      );
      assertEquals(await body(client, "cond", "k"), "first");
      const second = await putIf(client, "k", "second", { IfMatch: first.ETag });
      assertEquals(await body(client, "cond", "k"), "second");
      await assertS3Error(
        () => putIf(client, "k", "third", { IfMatch: first.ETag }),
        "PreconditionFailed",
        412,
      );
      // Unquoted ETags match as well.
      await putIf(client, "k", "third", { IfMatch: second.ETag!.replaceAll('"', "") });
      assertEquals(await body(client, "cond", "k"), "third");
      await assertS3Error(
        () => putIf(client, "absent", "x", { IfMatch: first.ETag }),
        "NoSuchKey",
        404,
      );
      const etagList = await signedFetch(server, {
        method: "PUT",
        path: "/cond/k",
        headers: { "if-none-match": first.ETag! },
        body: "fourth",
      });
      assertEquals(
        [etagList.status, xmlField(await etagList.text(), "Code")],
        [501, "NotImplemented"],
      );
      assertEquals(await body(client, "cond", "k"), "third");
    });

    await t.step("a delete marker is no object", async () => {
      await client.send(
        new PutBucketVersioningCommand({
          Bucket: "cond",
          VersioningConfiguration: { Status: "Enabled" },
        }),
      );
      await putIf(client, "marked", "old", {});
      await client.send(new DeleteObjectCommand({ Bucket: "cond", Key: "marked" }));
      const old = md5Hex(new TextEncoder().encode("old"));
      await assertS3Error(
        () => putIf(client, "marked", "x", { IfMatch: `"${old}"` }),
        "NoSuchKey",
        404,
      );
      await putIf(client, "marked", "new", { IfNoneMatch: "*" });
      assertEquals(await body(client, "cond", "marked"), "new");
    });

    await t.step("CompleteMultipartUpload: a refused Complete leaves the upload", async () => {
      const existing = await putIf(client, "mp", "small", {});
      const upload = await client.send(
        new CreateMultipartUploadCommand({ Bucket: "cond", Key: "mp" }),
      );
      const part = await client.send(
        new UploadPartCommand({
          Bucket: "cond",
          Key: "mp",
          UploadId: upload.UploadId,
          PartNumber: 1,
          Body: "multipart body",
        }),
      );
      const complete = (condition: { IfNoneMatch?: string; IfMatch?: string }) =>
        client.send(
          new CompleteMultipartUploadCommand({
            Bucket: "cond",
            Key: "mp",
            UploadId: upload.UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
            ...condition,
          }),
        );
      await assertS3Error(() => complete({ IfNoneMatch: "*" }), "PreconditionFailed", 412);
      await assertS3Error(
        () => complete({ IfMatch: '"0123456789abcdef0123456789abcdef"' }),
        "PreconditionFailed",
        412,
      );
      const parts = await client.send(
        new ListPartsCommand({ Bucket: "cond", Key: "mp", UploadId: upload.UploadId }),
      );
      assertEquals(parts.Parts?.length, 1);
      assertEquals(await body(client, "cond", "mp"), "small");
      await complete({ IfMatch: existing.ETag });
      assertEquals(await body(client, "cond", "mp"), "multipart body");
    });

    await t.step("CopyObject: conditions on the destination", async () => {
      await putIf(client, "src", "source", {});
      const dst = await putIf(client, "dst", "destination", {});
      const copy = (condition: { IfNoneMatch?: string; IfMatch?: string }) =>
        client.send(
          new CopyObjectCommand({
            Bucket: "cond",
            Key: "dst",
            CopySource: "cond/src",
            ...condition,
          }),
        );
      await assertS3Error(() => copy({ IfNoneMatch: "*" }), "PreconditionFailed", 412);
      await assertS3Error(
        () => copy({ IfMatch: '"0123456789abcdef0123456789abcdef"' }),
        "PreconditionFailed",
        412,
      );
      assertEquals(await body(client, "cond", "dst"), "destination");
      await copy({ IfMatch: dst.ETag });
      assertEquals(await body(client, "cond", "dst"), "source");
      await client.send(
        new CopyObjectCommand({
          Bucket: "cond",
          Key: "fresh",
          CopySource: "cond/src",
          IfNoneMatch: "*",
        }),
      );
      assertEquals(await body(client, "cond", "fresh"), "source");
    });

    await t.step("concurrent If-None-Match: * PUTs: exactly one wins", async () => {
      for (const round of [1, 2, 3]) {
        const key = `race-${round}`;
        const bodies = Array.from({ length: 6 }, (_, i) => patterned(256 * 1024, round * 10 + i));
        const outcomes = await Promise.allSettled(
          bodies.map((content) => putIf(client, key, content, { IfNoneMatch: "*" })),
        );
        const winners = outcomes.flatMap((o, i) => o.status === "fulfilled" ? [i] : []);
        assertEquals(winners.length, 1, JSON.stringify(outcomes.map((o) => o.status)));
        for (const outcome of outcomes) {
          if (outcome.status === "fulfilled") continue;
          const err = outcome.reason as ServiceError;
          assert(
            ["PreconditionFailed:412", "ConditionalRequestConflict:409"].includes(
              `${err.name}:${err.$metadata?.httpStatusCode}`,
            ),
            `${err.name}: ${err.message}`,
          );
        }
        const got = await client.send(new GetObjectCommand({ Bucket: "cond", Key: key }));
        const stored = await got.Body!.transformToByteArray();
        assertEquals(md5Hex(stored), md5Hex(bodies[winners[0]]));
      }
    });
  }));
