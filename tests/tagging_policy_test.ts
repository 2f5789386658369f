/**
 * Tags as policy condition keys against a real server (JS SDK v3, an IAM user, a bucket
 * policy): s3:RequestObjectTag/<key> on PutObject's x-amz-tagging, s3:RequestObjectTagKeys on
 * PutObjectTagging's body, and s3:ExistingObjectTag/<key> read from the object's stored tags on
 * every request (a retag takes effect at once; a version named by id, also as a copy's source, is
 * judged by its own); tags on a write need s3:PutObjectTagging, and
 * the tag count on HEAD shows only to readers allowed s3:GetObjectTagging.
 */

import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assertEquals, assertS3Error } from "./helpers/assert.ts";
import { s3Client } from "./helpers/server.ts";
import { s3, world } from "./helpers/sts.ts";

function policy(statements: Record<string, unknown>[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

Deno.test("tag condition keys: a bucket policy over request tags and the object's stored tags", async () => {
  const w = await world();
  const root = s3Client(w.server);
  const alice = s3(w.server, w.alice);
  const bob = s3(w.server, w.bob);
  const Bucket = "tagged";
  try {
    await root.send(new CreateBucketCommand({ Bucket }));
    await root.send(
      new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: "Enabled" } }),
    );
    const objects = `arn:aws:s3:::${Bucket}/*`;
    await root.send(
      new PutBucketPolicyCommand({
        Bucket,
        Policy: policy([
          {
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: "s3:PutObject",
            Resource: objects,
            Condition: { StringEquals: { "s3:RequestObjectTag/project": "blue" } },
          },
          {
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: "s3:PutObjectTagging",
            Resource: objects,
            Condition: {
              "ForAllValues:StringEquals": { "s3:RequestObjectTagKeys": ["project", "team"] },
            },
          },
          {
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: ["s3:GetObject", "s3:GetObjectVersion"],
            Resource: objects,
          },
          {
            Effect: "Allow",
            Principal: { AWS: w.bob.arn },
            Action: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"],
            Resource: objects,
          },
          {
            Effect: "Deny",
            Principal: { AWS: w.bob.arn },
            Action: "s3:GetObjectVersion",
            Resource: objects,
            Condition: { StringEquals: { "s3:ExistingObjectTag/class": "secret" } },
          },
          {
            Effect: "Deny",
            Principal: { AWS: w.alice.arn },
            Action: ["s3:GetObject", "s3:GetObjectVersion"],
            Resource: objects,
            Condition: { StringEquals: { "s3:ExistingObjectTag/class": "secret" } },
          },
        ]),
      }),
    );
    const putAs = (client: S3Client, Key: string, Tagging?: string) =>
      client.send(new PutObjectCommand({ Bucket, Key, Body: Key, Tagging }));
    await putAs(alice, "blue", "project=blue");
    await assertS3Error(() => putAs(alice, "red", "project=red"), "AccessDenied", 403);
    await assertS3Error(() => putAs(alice, "untagged"), "AccessDenied", 403);
    // Tags on a write take s3:PutObjectTagging besides s3:PutObject, as AWS.
    await putAs(bob, "bobs");
    await assertS3Error(() => putAs(bob, "bobs", "project=blue"), "AccessDenied", 403);

    const tag = (client: S3Client, Key: string, tags: Record<string, string>) =>
      client.send(
        new PutObjectTaggingCommand({
          Bucket,
          Key,
          Tagging: { TagSet: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        }),
      );
    await tag(alice, "blue", { project: "blue", team: "core" });
    await assertS3Error(
      () => tag(alice, "blue", { project: "blue", class: "x" }),
      "AccessDenied",
      403,
    );

    const read = async (Key: string) => {
      const got = await alice.send(new GetObjectCommand({ Bucket, Key }));
      return await got.Body!.transformToString();
    };
    assertEquals(await read("blue"), "blue");
    // The tag count shows only to a reader allowed s3:GetObjectTagging.
    const count = async (client: S3Client) =>
      (await client.send(new HeadObjectCommand({ Bucket, Key: "blue" }))).TagCount;
    assertEquals([await count(alice), await count(bob), await count(root)], [undefined, 2, 2]);
    await tag(root, "blue", { class: "secret" });
    await assertS3Error(() => read("blue"), "AccessDenied", 403);
    // The stored tags are read afresh: no decision about them is remembered.
    await tag(root, "blue", { class: "open" });
    assertEquals(await read("blue"), "blue");
    await tag(root, "blue", { class: "secret" });
    await assertS3Error(() => read("blue"), "AccessDenied", 403);
    // A version named by id is judged by its own tags, not the current version's.
    const secret = (await root.send(new HeadObjectCommand({ Bucket, Key: "blue" }))).VersionId!;
    await putAs(root, "blue", "class=open");
    assertEquals(await read("blue"), "blue");
    await assertS3Error(
      () => alice.send(new GetObjectCommand({ Bucket, Key: "blue", VersionId: secret })),
      "AccessDenied",
      403,
    );
    // So is a copy's source version: its tags, not the current version's, decide.
    const copyAs = (CopySource: string) =>
      bob.send(
        new CopyObjectCommand({ Bucket, Key: "copy", CopySource, TaggingDirective: "REPLACE" }),
      );
    await assertS3Error(() => copyAs(`${Bucket}/blue?versionId=${secret}`), "AccessDenied", 403);
    const open = (await root.send(new HeadObjectCommand({ Bucket, Key: "blue" }))).VersionId!;
    await copyAs(`${Bucket}/blue?versionId=${open}`);
  } finally {
    root.destroy();
    alice.destroy();
    bob.destroy();
    await w.server.cleanup();
  }
});
