/**
 * Copies from a source version against a real server (JS SDK v3): CopyObject and UploadPartCopy
 * with x-amz-copy-source ?versionId=, restoring an old version onto its key, a delete marker as
 * source (400 when named, 404 when current); and what a bucket policy grants around versions:
 * the s3:versionid condition key, s3:GetObjectVersion for a copy's named source version, and
 * the version operations it does not grant.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  ListObjectVersionsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import { s3Client, withServer } from "./helpers/server.ts";
import { s3, world } from "./helpers/sts.ts";
import { put, text, UUID, versionedBucket } from "./helpers/versioning.ts";

Deno.test("versioning: copies from a source version", (t) =>
  withServer(async (_server, client) => {
    await t.step("CopyObject and UploadPartCopy from a source version", async () => {
      await versionedBucket(client, "copies");
      const v1 = await put(client, "copies", "src", "version one");
      await put(client, "copies", "src", "version two");
      const copied = await client.send(
        new CopyObjectCommand({
          Bucket: "copies",
          Key: "dst",
          CopySource: `copies/src?versionId=${v1}`,
        }),
      );
      assertEquals(copied.CopySourceVersionId, v1);
      assert(UUID.test(copied.VersionId ?? ""), copied.VersionId);
      assertEquals(await text(client, "copies", "dst"), ["version one", copied.VersionId]);
      // Copying an old version onto its own key restores it as the newest.
      const restored = await client.send(
        new CopyObjectCommand({
          Bucket: "copies",
          Key: "src",
          CopySource: `copies/src?versionId=${v1}`,
        }),
      );
      assertEquals(await text(client, "copies", "src"), ["version one", restored.VersionId]);

      const upload = await client.send(
        new CreateMultipartUploadCommand({ Bucket: "copies", Key: "parts" }),
      );
      const part = await client.send(
        new UploadPartCopyCommand({
          Bucket: "copies",
          Key: "parts",
          UploadId: upload.UploadId,
          PartNumber: 1,
          CopySource: `/copies/src?versionId=${v1}`,
          CopySourceRange: "bytes=0-6",
        }),
      );
      assertEquals(part.CopySourceVersionId, v1);
      const done = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: "copies",
          Key: "parts",
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult?.ETag }] },
        }),
      );
      assert(UUID.test(done.VersionId ?? ""), done.VersionId);
      assertEquals(await text(client, "copies", "parts"), ["version", done.VersionId]);

      const marker = (await client.send(new DeleteObjectCommand({ Bucket: "copies", Key: "src" })))
        .VersionId;
      await assertS3Error(
        () =>
          client.send(
            new CopyObjectCommand({ Bucket: "copies", Key: "x", CopySource: "copies/src" }),
          ),
        "NoSuchKey",
        404,
      );
      await assertS3Error(
        () =>
          client.send(
            new CopyObjectCommand({
              Bucket: "copies",
              Key: "x",
              CopySource: `copies/src?versionId=${marker}`,
            }),
          ),
        "InvalidRequest",
        400,
      );
      await assertS3Error(
        () =>
          client.send(
            new CopyObjectCommand({
              Bucket: "copies",
              Key: "x",
              CopySource: `copies/src?versionId=${crypto.randomUUID()}`,
            }),
          ),
        "NoSuchVersion",
        404,
      );
    });
  }));

Deno.test("versioning API: the s3:versionid condition key in a bucket policy", async () => {
  const w = await world();
  const root = s3Client(w.server);
  try {
    await versionedBucket(root, "pinned");
    const v1 = await put(root, "pinned", "k", "one");
    const v2 = await put(root, "pinned", "k", "two");
    const source = await put(root, "pinned", "src", "source");
    await root.send(
      new PutBucketPolicyCommand({
        Bucket: "pinned",
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: "s3:GetObjectVersion",
            Resource: "arn:aws:s3:::pinned/k",
            Condition: { StringEquals: { "s3:versionid": v1 } },
          }, {
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: ["s3:GetObjectVersion", "s3:PutObject"],
            Resource: ["arn:aws:s3:::pinned/src", "arn:aws:s3:::pinned/copy"],
          }],
        }),
      }),
    );
    const alice = s3(w.server, w.alice);
    try {
      assertEquals(await text(alice, "pinned", "k", v1), ["one", v1]);
      await assertS3Error(() => text(alice, "pinned", "k", v2), "AccessDenied", 403);
      // Without a version id the action is s3:GetObject, which the policy does not grant.
      await assertS3Error(() => text(alice, "pinned", "k"), "AccessDenied", 403);
      // A copy's source read is s3:GetObjectVersion when it names a version, else s3:GetObject.
      const copy = (copySource: string) =>
        alice.send(
          new CopyObjectCommand({ Bucket: "pinned", Key: "copy", CopySource: copySource }),
        );
      await copy(`pinned/src?versionId=${source}`);
      assertEquals((await text(root, "pinned", "copy"))[0], "source");
      await assertS3Error(() => copy("pinned/src"), "AccessDenied", 403);
      // Nothing else is granted: the bucket's versioning, its versions, removing one.
      const refusals = [
        () =>
          alice.send(
            new PutBucketVersioningCommand({
              Bucket: "pinned",
              VersioningConfiguration: { Status: "Suspended" },
            }),
          ),
        () => alice.send(new GetBucketVersioningCommand({ Bucket: "pinned" })),
        () => alice.send(new ListObjectVersionsCommand({ Bucket: "pinned" })),
        () => alice.send(new DeleteObjectCommand({ Bucket: "pinned", Key: "k", VersionId: v1 })),
      ];
      for (const refused of refusals) await assertS3Error(refused, "AccessDenied", 403);
      const state = await root.send(new GetBucketVersioningCommand({ Bucket: "pinned" }));
      assertEquals(state.Status, "Enabled");
      assertEquals(await text(root, "pinned", "k", v1), ["one", v1]);
    } finally {
      alice.destroy();
    }
  } finally {
    root.destroy();
    await w.server.cleanup();
  }
});
