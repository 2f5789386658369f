/**
 * Bucket operations through the AWS SDK (default settings) against a real server: ListBuckets,
 * CreateBucket with and without a location constraint, HeadBucket, DeleteBucket,
 * GetBucketLocation and GetBucketVersioning, with S3's error codes and statuses.
 */

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ACCESS_KEY, s3Client, SECRET_KEY, startServer } from "./helpers/server.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(promise);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}

Deno.test({
  name: "bucket operations through the AWS SDK",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    try {
      await t.step("ListBuckets on a fresh server names the owner and no bucket", async () => {
        const out = await client.send(new ListBucketsCommand({}));
        assertEquals(out.Buckets ?? [], []);
        assertEquals(out.Owner?.DisplayName, ACCESS_KEY);
        assert(/^[0-9a-f]{64}$/.test(out.Owner?.ID ?? ""), `owner id ${out.Owner?.ID}`);
      });

      await t.step("CreateBucket, then ListBuckets lists it in name order", async () => {
        const before = Date.now() - 2000;
        const created = await client.send(new CreateBucketCommand({ Bucket: "zeta" }));
        assertEquals(created.Location, "/zeta");
        await client.send(new CreateBucketCommand({ Bucket: "alpha.bucket-1" }));
        const out = await client.send(new ListBucketsCommand({}));
        assertEquals(out.Buckets?.map((b) => b.Name), ["alpha.bucket-1", "zeta"]);
        const created0 = out.Buckets![0].CreationDate!.getTime();
        assert(created0 >= before && created0 <= Date.now() + 2000, "creation date is now");
      });

      await t.step("creating an existing bucket is BucketAlreadyOwnedByYou", async () => {
        await rejectsWith(
          () => client.send(new CreateBucketCommand({ Bucket: "zeta" })),
          "BucketAlreadyOwnedByYou",
          409,
        );
      });

      await t.step("with no region configured, any location constraint is accepted", async () => {
        await client.send(
          new CreateBucketCommand({
            Bucket: "located",
            CreateBucketConfiguration: { LocationConstraint: "us-east-1" as "EU" },
          }),
        );
        // As MinIO without a region: the bucket is made, and us-east-1 is still reported.
        await client.send(
          new CreateBucketCommand({
            Bucket: "elsewhere",
            CreateBucketConfiguration: { LocationConstraint: "eu-west-1" },
          }),
        );
        const location = await client.send(new GetBucketLocationCommand({ Bucket: "elsewhere" }));
        assertEquals(location.LocationConstraint, undefined);
        await client.send(new DeleteBucketCommand({ Bucket: "elsewhere" }));
      });

      await t.step("a malformed CreateBucketConfiguration is MalformedXML", async () => {
        const response = await signedFetch(server, {
          method: "PUT",
          path: "/malformed",
          body: "<CreateBucketConfiguration><LocationConstraint>",
        });
        assertEquals(response.status, 400);
        assertEquals(xmlField(await response.text(), "Code"), "MalformedXML");
        await rejectsWith(
          () => client.send(new HeadBucketCommand({ Bucket: "malformed" })),
          "NotFound",
          404,
        );
      });

      await t.step("HeadBucket: 200 with the region, 404 without a body", async () => {
        const out = await client.send(new HeadBucketCommand({ Bucket: "zeta" }));
        assertEquals(out.$metadata.httpStatusCode, 200);
        assertEquals(out.BucketRegion, "us-east-1");
        await rejectsWith(
          () => client.send(new HeadBucketCommand({ Bucket: "missing" })),
          "NotFound",
          404,
        );
      });

      await t.step("GetBucketLocation is empty for us-east-1; versioning unset", async () => {
        const location = await client.send(new GetBucketLocationCommand({ Bucket: "zeta" }));
        assertEquals(location.LocationConstraint ?? "", "");
        const versioning = await client.send(new GetBucketVersioningCommand({ Bucket: "zeta" }));
        assertEquals([versioning.Status, versioning.MFADelete], [undefined, undefined]);
        await rejectsWith(
          () => client.send(new GetBucketLocationCommand({ Bucket: "missing" })),
          "NoSuchBucket",
          404,
        );
        await rejectsWith(
          () => client.send(new GetBucketVersioningCommand({ Bucket: "missing" })),
          "NoSuchBucket",
          404,
        );
      });

      await t.step("DeleteBucket: BucketNotEmpty keeps the data, then 204", async () => {
        await client.send(new PutObjectCommand({ Bucket: "zeta", Key: "k", Body: "data" }));
        await rejectsWith(
          () => client.send(new DeleteBucketCommand({ Bucket: "zeta" })),
          "BucketNotEmpty",
          409,
        );
        const head = await client.send(new HeadObjectCommand({ Bucket: "zeta", Key: "k" }));
        assertEquals(head.ContentLength, 4);
        await client.send(new DeleteObjectCommand({ Bucket: "zeta", Key: "k" }));
        const deleted = await client.send(new DeleteBucketCommand({ Bucket: "zeta" }));
        assertEquals(deleted.$metadata.httpStatusCode, 204);
        await rejectsWith(
          () => client.send(new HeadBucketCommand({ Bucket: "zeta" })),
          "NotFound",
          404,
        );
        await rejectsWith(
          () => client.send(new DeleteBucketCommand({ Bucket: "zeta" })),
          "NoSuchBucket",
          404,
        );
      });

      await t.step("invalid bucket names are InvalidBucketName", async () => {
        for (const name of ["ab", "Upper", "under_score", "a..b", "10.0.0.1", "flashstor"]) {
          await rejectsWith(
            () => client.send(new CreateBucketCommand({ Bucket: name })),
            "InvalidBucketName",
            400,
          );
        }
        const out = await client.send(new ListBucketsCommand({}));
        assertEquals(out.Buckets?.map((b) => b.Name), ["alpha.bucket-1", "located"]);
      });

      await t.step("unsupported bucket subresources are NotImplemented", async () => {
        const cases: [string, string][] = [
          ["GET", "accelerate"],
          ["GET", "notification"],
          ["GET", "website"],
          ["GET", "replication"],
          ["GET", "made-up-subresource"],
        ];
        for (const [method, sub] of cases) {
          const response = await signedFetch(server, {
            method,
            path: "/located",
            query: [[sub, ""]],
          });
          const body = await response.text();
          assertEquals([response.status, xmlField(body, "Code")], [501, "NotImplemented"], sub);
        }
        // Nothing above was taken for another operation: the bucket is still there.
        await client.send(new HeadBucketCommand({ Bucket: "located" }));
      });

      await t.step("anonymous requests are AccessDenied", async () => {
        const response = await fetch(`${server.endpoint}/located`);
        assertEquals(response.status, 403);
        assertEquals(xmlField(await response.text(), "Code"), "AccessDenied");
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "buckets of a server in another region",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startServer({ env: { FLASHSTOR_REGION: "eu-central-1" } });
    const client = new S3Client({
      endpoint: server.endpoint,
      region: "eu-central-1",
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    });
    try {
      await client.send(
        new CreateBucketCommand({
          Bucket: "euro",
          CreateBucketConfiguration: { LocationConstraint: "eu-central-1" },
        }),
      );
      const location = await client.send(new GetBucketLocationCommand({ Bucket: "euro" }));
      assertEquals(location.LocationConstraint, "eu-central-1");
      const head = await client.send(new HeadBucketCommand({ Bucket: "euro" }));
      assertEquals(head.BucketRegion, "eu-central-1");
      await rejectsWith(
        () =>
          client.send(
            new CreateBucketCommand({
              Bucket: "other",
              CreateBucketConfiguration: { LocationConstraint: "us-west-2" },
            }),
          ),
        "InvalidLocationConstraint",
        400,
      );
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});
