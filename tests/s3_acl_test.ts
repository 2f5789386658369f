/**
 * Bucket and object ACLs through the AWS SDK against a real server: the owner holds
 * FULL_CONTROL, `private` is accepted (canned or as a policy), and missing buckets or keys keep
 * their S3 errors. ACLs that share data: tests/acl_server_test.ts.
 */

import {
  CreateBucketCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  ListBucketsCommand,
  PutBucketAclCommand,
  PutObjectAclCommand,
  PutObjectCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { s3Client, startServer } from "./helpers/server.ts";

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(promise);
  assertEquals(err.name, code, err.message);
  assertEquals(err.$metadata?.httpStatusCode, status);
}

Deno.test({
  name: "ACLs through the AWS SDK",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    const Bucket = "acls";
    try {
      await client.send(new CreateBucketCommand({ Bucket }));
      await client.send(new PutObjectCommand({ Bucket, Key: "doc", Body: "hello" }));

      const bucketAcl = await client.send(new GetBucketAclCommand({ Bucket }));
      await t.step("the owner has FULL_CONTROL of buckets and objects", async () => {
        const owner = bucketAcl.Owner!;
        assertEquals(owner.DisplayName, "testadmin");
        assert(/^[0-9a-f]{64}$/.test(owner.ID!), owner.ID);
        assertEquals(bucketAcl.Grants?.length, 1);
        assertEquals(bucketAcl.Grants?.[0].Permission, "FULL_CONTROL");
        assertEquals(bucketAcl.Grants?.[0].Grantee?.ID, owner.ID);
        assertEquals(bucketAcl.Grants?.[0].Grantee?.Type, "CanonicalUser");
        const objectAcl = await client.send(new GetObjectAclCommand({ Bucket, Key: "doc" }));
        assertEquals(objectAcl.Owner, owner);
        assertEquals(objectAcl.Grants, bucketAcl.Grants);
        const buckets = await client.send(new ListBucketsCommand({}));
        assertEquals(buckets.Owner?.ID, owner.ID, "the same owner as ListBuckets");
      });

      await t.step("private is accepted, canned or as a policy", async () => {
        await client.send(new PutBucketAclCommand({ Bucket, ACL: "private" }));
        await client.send(new PutObjectAclCommand({ Bucket, Key: "doc", ACL: "private" }));
        await client.send(
          new PutBucketAclCommand({
            Bucket,
            AccessControlPolicy: { Owner: bucketAcl.Owner, Grants: bucketAcl.Grants },
          }),
        );
        await client.send(
          new PutObjectAclCommand({
            Bucket,
            Key: "doc",
            AccessControlPolicy: { Owner: bucketAcl.Owner, Grants: bucketAcl.Grants },
          }),
        );
      });

      await t.step("missing buckets and keys", async () => {
        await rejectsWith(
          () => client.send(new GetBucketAclCommand({ Bucket: "missing-bucket" })),
          "NoSuchBucket",
          404,
        );
        await rejectsWith(
          () => client.send(new GetObjectAclCommand({ Bucket, Key: "missing" })),
          "NoSuchKey",
          404,
        );
        await rejectsWith(
          () => client.send(new PutObjectAclCommand({ Bucket, Key: "missing", ACL: "private" })),
          "NoSuchKey",
          404,
        );
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});
