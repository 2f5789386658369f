/**
 * A locked version cannot be removed by any S3 API (real server, JS SDK v3, IAM users): not by
 * DeleteObject with its version id nor by DeleteObjects, whatever the mode, with or without
 * x-amz-bypass-governance-retention, except GOVERNANCE by a principal allowed
 * s3:BypassGovernanceRetention who asks for the bypass; a legal hold blocks even that. A DELETE
 * without a version id only adds a delete marker (as AWS), overwrites add versions, versioning
 * cannot be suspended, and the bucket is not empty. The lock shows on HEAD only to readers
 * allowed s3:GetObjectRetention / s3:GetObjectLegalHold, and setting one on a PUT needs the
 * matching Put permission.
 */

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import { s3Client } from "./helpers/server.ts";
import { s3, world } from "./helpers/sts.ts";

const BUCKET = "vault";
const DAY = 24 * 3600 * 1000;

async function body(client: S3Client, Key: string, VersionId?: string): Promise<string> {
  const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key, VersionId }));
  return await got.Body!.transformToString();
}

function policy(statements: Record<string, unknown>[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

Deno.test("object lock: no S3 API removes a locked version", async () => {
  const w = await world();
  const root = s3Client(w.server);
  const alice = s3(w.server, w.alice);
  const bob = s3(w.server, w.bob);
  try {
    await root.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }));
    const deleter = ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"];
    await root.send(
      new PutBucketPolicyCommand({
        Bucket: BUCKET,
        Policy: policy([
          {
            Effect: "Allow",
            Principal: { AWS: [w.alice.arn, w.bob.arn] },
            Action: [...deleter, "s3:DeleteObjectVersion", "s3:PutObject"],
            Resource: `arn:aws:s3:::${BUCKET}/*`,
          },
          {
            Effect: "Allow",
            Principal: { AWS: w.bob.arn },
            Action: [
              "s3:BypassGovernanceRetention",
              "s3:GetObjectRetention",
              "s3:GetObjectLegalHold",
            ],
            Resource: `arn:aws:s3:::${BUCKET}/*`,
          },
          {
            Effect: "Deny",
            Principal: { AWS: w.bob.arn },
            Action: "s3:BypassGovernanceRetention",
            Resource: `arn:aws:s3:::${BUCKET}/kept/*`,
          },
        ]),
      }),
    );
    const put = async (Key: string, text: string, lock: Record<string, unknown> = {}) =>
      (await root.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: text, ...lock })))
        .VersionId!;
    const until = new Date(Date.now() + DAY);
    const compliance = await put("c", "compliance", {
      ObjectLockMode: "COMPLIANCE",
      ObjectLockRetainUntilDate: until,
    });
    const governance = await put("g", "governance", {
      ObjectLockMode: "GOVERNANCE",
      ObjectLockRetainUntilDate: until,
    });
    const held = await put("h", "held", { ObjectLockLegalHoldStatus: "ON" });
    const heldGovernance = await put("hg", "held+governance", {
      ObjectLockMode: "GOVERNANCE",
      ObjectLockRetainUntilDate: until,
      ObjectLockLegalHoldStatus: "ON",
    });
    const locked: [string, string][] = [
      ["c", compliance],
      ["g", governance],
      ["h", held],
      ["hg", heldGovernance],
    ];
    // The lock shows on HEAD only to readers allowed to read it; setting one takes permission.
    const lockOf = async (client: S3Client) => {
      const head = await client.send(
        new HeadObjectCommand({ Bucket: BUCKET, Key: "hg", VersionId: heldGovernance }),
      );
      return [head.ObjectLockMode, head.ObjectLockLegalHoldStatus];
    };
    assertEquals(await lockOf(alice), [undefined, undefined]);
    assertEquals(await lockOf(bob), ["GOVERNANCE", "ON"]);
    await alice.send(new PutObjectCommand({ Bucket: BUCKET, Key: "alices", Body: "a" }));
    await assertS3Error(
      () =>
        alice.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: "alices",
            Body: "a",
            ObjectLockLegalHoldStatus: "ON",
          }),
        ),
      "AccessDenied",
      403,
    );
    const remove = (client: S3Client, Key: string, VersionId: string, bypass?: boolean) =>
      client.send(
        new DeleteObjectCommand({
          Bucket: BUCKET,
          Key,
          VersionId,
          BypassGovernanceRetention: bypass,
        }),
      );

    // Root itself, with and without the bypass: only GOVERNANCE without a hold would give way.
    for (const [Key, VersionId] of locked) {
      await assertS3Error(() => remove(root, Key, VersionId), "AccessDenied", 403);
      await assertS3Error(() => remove(alice, Key, VersionId, true), "AccessDenied", 403);
      if (Key !== "g") {
        await assertS3Error(() => remove(root, Key, VersionId, true), "AccessDenied", 403);
      }
    }
    await assertS3Error(() => remove(bob, "c", compliance, true), "AccessDenied", 403);
    await assertS3Error(() => remove(bob, "hg", heldGovernance, true), "AccessDenied", 403);
    for (const client of [root, alice, bob]) {
      const result = await client.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          // Only alice asks for the bypass, which she is not allowed.
          BypassGovernanceRetention: client === alice ? true : undefined,
          Delete: { Objects: locked.map(([Key, VersionId]) => ({ Key, VersionId })) },
        }),
      );
      assertEquals(result.Deleted ?? [], []);
      assertEquals(
        result.Errors?.map((e) => [e.Key, e.Code]),
        locked.map(([k]) => [k, "AccessDenied"]),
      );
    }
    for (const [Key, VersionId] of locked) {
      assert((await body(root, Key, VersionId)).length > 0);
    }

    // A DELETE without a version id adds a marker; the locked version stays.
    const marker = await alice.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "c" }));
    assertEquals(marker.DeleteMarker, true);
    await assertS3Error(() => body(root, "c"), "NoSuchKey", 404);
    assertEquals(await body(root, "c", compliance), "compliance");
    // Removing the marker brings the locked version back as current.
    await root.send(
      new DeleteObjectCommand({ Bucket: BUCKET, Key: "c", VersionId: marker.VersionId }),
    );
    assertEquals(await body(root, "c"), "compliance");
    // An overwrite adds a version above it.
    await put("c", "newer");
    assertEquals(await body(root, "c", compliance), "compliance");
    await assertS3Error(
      () =>
        root.send(
          new PutBucketVersioningCommand({
            Bucket: BUCKET,
            VersioningConfiguration: { Status: "Suspended" },
          }),
        ),
      "InvalidBucketState",
      409,
    );
    await assertS3Error(
      () => root.send(new DeleteBucketCommand({ Bucket: BUCKET })),
      "BucketNotEmpty",
      409,
    );

    // DeleteObjects asks the bypass permission of every key: one denied withholds it from all.
    const kept = await put("kept/g", "kept", {
      ObjectLockMode: "GOVERNANCE",
      ObjectLockRetainUntilDate: until,
    });
    const batch = await bob.send(
      new DeleteObjectsCommand({
        Bucket: BUCKET,
        BypassGovernanceRetention: true,
        Delete: {
          Objects: [{ Key: "g", VersionId: governance }, { Key: "kept/g", VersionId: kept }],
        },
      }),
    );
    assertEquals(batch.Errors?.map((e) => [e.Key, e.Code]), [
      ["g", "AccessDenied"],
      ["kept/g", "AccessDenied"],
    ]);
    await assertS3Error(() => remove(bob, "kept/g", kept, true), "AccessDenied", 403);
    // GOVERNANCE gives way to a principal allowed the bypass who asks for it, and only then.
    await assertS3Error(() => remove(bob, "g", governance), "AccessDenied", 403);
    const removed = await remove(bob, "g", governance, true);
    assertEquals(removed.VersionId, governance);
    await assertS3Error(() => body(root, "g", governance), "NoSuchVersion", 404);

    // A released hold, then an expired or absent retention, no longer protects.
    await root.send(
      new PutObjectLegalHoldCommand({
        Bucket: BUCKET,
        Key: "h",
        VersionId: held,
        LegalHold: { Status: "OFF" },
      }),
    );
    await remove(alice, "h", held);
    await root.send(
      new PutObjectLegalHoldCommand({
        Bucket: BUCKET,
        Key: "hg",
        VersionId: heldGovernance,
        LegalHold: { Status: "OFF" },
      }),
    );
    await assertS3Error(() => remove(alice, "hg", heldGovernance), "AccessDenied", 403);
    await root.send(
      new PutObjectRetentionCommand({
        Bucket: BUCKET,
        Key: "hg",
        VersionId: heldGovernance,
        BypassGovernanceRetention: true,
        Retention: {},
      }),
    );
    await remove(alice, "hg", heldGovernance);
    const versions = await root.send(new ListObjectVersionsCommand({ Bucket: BUCKET }));
    assertEquals(
      (versions.Versions ?? []).filter((v) => v.Key === "c").map((v) => v.VersionId).includes(
        compliance,
      ),
      true,
    );
  } finally {
    root.destroy();
    alice.destroy();
    bob.destroy();
    await w.server.cleanup();
  }
});
