/**
 * Tagging against a real server with the JS SDK v3 (signed raw requests where the SDK would not
 * send the bad input): object tags per version, x-amz-tagging on PUT / CreateMultipartUpload /
 * CopyObject (x-amz-tagging-directive), x-amz-tagging-count on GET/HEAD, bucket tags, and AWS's
 * limits and error codes, each leaving what was stored untouched.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectTaggingCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketTaggingCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  type S3Client,
  type Tag,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assertEquals, assertS3Error } from "./helpers/assert.ts";
import { withServer } from "./helpers/server.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

async function tagsOf(client: S3Client, bucket: string, key: string, versionId?: string) {
  const { TagSet } = await client.send(
    new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  return (TagSet ?? []).map((t) => [t.Key, t.Value]);
}

const tagSet = (n: number, value = "v"): Tag[] =>
  Array.from({ length: n }, (_, i) => ({ Key: `k${i}`, Value: value }));

Deno.test("tagging: object tags through PUT, HEAD/GET counts, Put/Get/DeleteObjectTagging", async () => {
  await withServer(async (_server, client) => {
    const Bucket = "tags";
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(
      new PutObjectCommand({
        Bucket,
        Key: "a",
        Body: "alpha",
        Tagging: "project=blue&Cost%20Centre=4%2B2",
      }),
    );
    assertEquals(await tagsOf(client, Bucket, "a"), [["project", "blue"], [
      "Cost Centre",
      "4+2",
    ]]);
    const head = await client.send(new HeadObjectCommand({ Bucket, Key: "a" }));
    assertEquals(head.TagCount, 2);
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "a" }));
    assertEquals([got.TagCount, await got.Body!.transformToString()], [2, "alpha"]);

    const put = await client.send(
      new PutObjectTaggingCommand({
        Bucket,
        Key: "a",
        Tagging: { TagSet: [{ Key: "only", Value: "one" }] },
      }),
    );
    assertEquals(put.$metadata.httpStatusCode, 200);
    assertEquals(await tagsOf(client, Bucket, "a"), [["only", "one"]]);
    // Tags change no data and no Last-Modified.
    const after = await client.send(new HeadObjectCommand({ Bucket, Key: "a" }));
    assertEquals([after.ETag, after.LastModified, after.TagCount], [
      head.ETag,
      head.LastModified,
      1,
    ]);

    const deleted = await client.send(new DeleteObjectTaggingCommand({ Bucket, Key: "a" }));
    assertEquals(deleted.$metadata.httpStatusCode, 204);
    assertEquals(await tagsOf(client, Bucket, "a"), []);
    assertEquals(
      (await client.send(new HeadObjectCommand({ Bucket, Key: "a" }))).TagCount,
      undefined,
    );

    await client.send(
      new PutObjectTaggingCommand({
        Bucket,
        Key: "a",
        Tagging: { TagSet: tagSet(10, "x".repeat(256)) },
      }),
    );
    // Refused tag sets leave the stored one as it was.
    const bad: Tag[][] = [
      tagSet(11),
      [{ Key: "k".repeat(129), Value: "v" }],
      [{ Key: "k", Value: "v".repeat(257) }],
      [{ Key: "aws:reserved", Value: "v" }],
      [{ Key: "dup", Value: "1" }, { Key: "dup", Value: "2" }],
      [{ Key: "semi;colon", Value: "v" }],
    ];
    for (const TagSet of bad) {
      await assertS3Error(
        () => client.send(new PutObjectTaggingCommand({ Bucket, Key: "a", Tagging: { TagSet } })),
        "InvalidTag",
        400,
      );
    }
    assertEquals((await tagsOf(client, Bucket, "a")).length, 10);
    await assertS3Error(
      () => client.send(new PutObjectCommand({ Bucket, Key: "b", Body: "b", Tagging: "a=1&a=2" })),
      "InvalidArgument",
      400,
    );
    await assertS3Error(
      () =>
        client.send(
          new PutObjectCommand({
            Bucket,
            Key: "b",
            Body: "b",
            Tagging: tagSet(11).map((t) => `${t.Key}=${t.Value}`).join("&"),
          }),
        ),
      "InvalidTag",
      400,
    );
    await assertS3Error(
      () => client.send(new HeadObjectCommand({ Bucket, Key: "b" })),
      "NotFound",
      404,
    );
    await assertS3Error(() => tagsOf(client, Bucket, "missing"), "NoSuchKey", 404);
    await assertS3Error(
      () =>
        client.send(
          new PutObjectTaggingCommand({ Bucket, Key: "missing", Tagging: { TagSet: [] } }),
        ),
      "NoSuchKey",
      404,
    );
    await assertS3Error(() => tagsOf(client, "no-such-bucket", "a"), "NoSuchBucket", 404);
  });
});

Deno.test("tagging: malformed and oversized documents over raw requests", async () => {
  await withServer(async (server, client) => {
    const Bucket = "raw";
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "k", Tagging: "keep=me" }));
    const put = (path: string, body: string, headers: Record<string, string> = {}) =>
      signedFetch(server, { method: "PUT", path, query: [["tagging", ""]], body, headers });
    const cases: [string, string, number][] = [
      ["", "MalformedXML", 400],
      ["<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>", "MalformedXML", 400],
      ["<Tagging><TagSet>", "MalformedXML", 400],
      ["<Other/>", "MalformedXML", 400],
      [
        "<Tagging><TagSet>" + "<Tag><Key>k</Key><Value>v</Value></Tag>".repeat(150) +
        "</TagSet></Tagging>",
        "MalformedXML",
        400,
      ],
      ["x".repeat(300 * 1024), "MalformedXML", 400],
    ];
    for (const [body, code, status] of cases) {
      for (const path of ["/raw/k", "/raw"]) {
        const response = await put(path, body, { "content-md5": md5Base64(body) });
        const text = await response.text();
        assertEquals([response.status, xmlField(text, "Code")], [status, code], body.slice(0, 60));
      }
    }
    const good = "<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>";
    const wrongDigest = await put("/raw/k", good, { "content-md5": md5Base64("other") });
    assertEquals([wrongDigest.status, xmlField(await wrongDigest.text(), "Code")], [
      400,
      "BadDigest",
    ]);
    // PutBucketTagging requires a digest of its body, as AWS.
    const noDigest = await put("/raw", good);
    assertEquals([noDigest.status, xmlField(await noDigest.text(), "Code")], [
      400,
      "InvalidRequest",
    ]);
    assertEquals(await tagsOf(client, Bucket, "k"), [["keep", "me"]]);
    await assertS3Error(
      () => client.send(new GetBucketTaggingCommand({ Bucket })),
      "NoSuchTagSet",
      404,
    );
  });
});

function md5Base64(text: string): string {
  return createHash("md5").update(text).digest("base64");
}

Deno.test("tagging: tags of each version, multipart uploads and copies", async () => {
  await withServer(async (_server, client) => {
    const Bucket = "versions";
    await client.send(new CreateBucketCommand({ Bucket }));
    await client.send(
      new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: "Enabled" } }),
    );
    const v1 = (await client.send(
      new PutObjectCommand({ Bucket, Key: "k", Body: "one", Tagging: "v=1" }),
    )).VersionId!;
    const v2 = (await client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "two" })))
      .VersionId!;
    assertEquals(await tagsOf(client, Bucket, "k"), []);
    assertEquals(await tagsOf(client, Bucket, "k", v1), [["v", "1"]]);
    const put = await client.send(
      new PutObjectTaggingCommand({
        Bucket,
        Key: "k",
        VersionId: v1,
        Tagging: { TagSet: [{ Key: "old", Value: "yes" }] },
      }),
    );
    assertEquals(put.VersionId, v1);
    assertEquals(await tagsOf(client, Bucket, "k", v1), [["old", "yes"]]);
    assertEquals(await tagsOf(client, Bucket, "k", v2), []);
    const tagged = await client.send(new GetObjectTaggingCommand({ Bucket, Key: "k" }));
    assertEquals(tagged.VersionId, v2);
    await client.send(new DeleteObjectTaggingCommand({ Bucket, Key: "k", VersionId: v1 }));
    assertEquals(await tagsOf(client, Bucket, "k", v1), []);
    await assertS3Error(
      () => tagsOf(client, Bucket, "k", "00000000-0000-4000-8000-000000000000"),
      "NoSuchVersion",
      404,
    );
    await assertS3Error(() => tagsOf(client, Bucket, "k", "not-a-version"), "InvalidArgument", 400);

    const upload = await client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: "mp", Tagging: "from=multipart" }),
    );
    const part = await client.send(
      new UploadPartCommand({
        Bucket,
        Key: "mp",
        UploadId: upload.UploadId,
        PartNumber: 1,
        Body: "part",
      }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: "mp",
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    assertEquals(await tagsOf(client, Bucket, "mp"), [["from", "multipart"]]);

    await client.send(
      new PutObjectTaggingCommand({
        Bucket,
        Key: "k",
        Tagging: { TagSet: [{ Key: "src", Value: "current" }] },
      }),
    );
    await client.send(
      new CopyObjectCommand({
        Bucket,
        Key: "copied",
        CopySource: `${Bucket}/k`,
        Tagging: "no=use",
      }),
    );
    assertEquals(await tagsOf(client, Bucket, "copied"), [["src", "current"]]);
    await client.send(
      new CopyObjectCommand({
        Bucket,
        Key: "replaced",
        CopySource: `${Bucket}/k?versionId=${v1}`,
        TaggingDirective: "REPLACE",
        Tagging: "new=set",
      }),
    );
    assertEquals(await tagsOf(client, Bucket, "replaced"), [["new", "set"]]);
    await client.send(
      new CopyObjectCommand({
        Bucket,
        Key: "bare",
        CopySource: `${Bucket}/k`,
        TaggingDirective: "REPLACE",
      }),
    );
    assertEquals(await tagsOf(client, Bucket, "bare"), []);
    await assertS3Error(
      () =>
        client.send(
          new CopyObjectCommand({
            Bucket,
            Key: "bad",
            CopySource: `${Bucket}/k`,
            // deno-lint-ignore no-explicit-any
            TaggingDirective: "MERGE" as any,
          }),
        ),
      "InvalidArgument",
      400,
    );
  });
});

Deno.test("tagging: bucket tags, 50 at most, NoSuchTagSet when none", async () => {
  await withServer(async (_server, client) => {
    const Bucket = "bucket-tags";
    await client.send(new CreateBucketCommand({ Bucket }));
    await assertS3Error(
      () => client.send(new GetBucketTaggingCommand({ Bucket })),
      "NoSuchTagSet",
      404,
    );
    const put = await client.send(
      new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: tagSet(50) } }),
    );
    assertEquals(put.$metadata.httpStatusCode, 204);
    const got = await client.send(new GetBucketTaggingCommand({ Bucket }));
    assertEquals(got.TagSet, tagSet(50));
    await assertS3Error(
      () => client.send(new PutBucketTaggingCommand({ Bucket, Tagging: { TagSet: tagSet(51) } })),
      "InvalidTag",
      400,
    );
    await assertS3Error(
      () =>
        client.send(
          new PutBucketTaggingCommand({
            Bucket,
            Tagging: { TagSet: [{ Key: "aws:cloudformation", Value: "x" }] },
          }),
        ),
      "InvalidTag",
      400,
    );
    assertEquals((await client.send(new GetBucketTaggingCommand({ Bucket }))).TagSet?.length, 50);
    const deleted = await client.send(new DeleteBucketTaggingCommand({ Bucket }));
    assertEquals(deleted.$metadata.httpStatusCode, 204);
    await assertS3Error(
      () => client.send(new GetBucketTaggingCommand({ Bucket })),
      "NoSuchTagSet",
      404,
    );
    await assertS3Error(
      () => client.send(new GetBucketTaggingCommand({ Bucket: "no-such-bucket" })),
      "NoSuchBucket",
      404,
    );
  });
});
