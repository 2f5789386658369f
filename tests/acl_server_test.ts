/**
 * ACLs, ownership controls and public access blocks against a real server, with the AWS CLI,
 * s3cmd, the JS SDK and plain fetch for anonymous requests: canned ACLs on upload and later,
 * grants by header and by XML, Get*Acl, what a public ACL lets anonymous callers do (GET, not
 * PUT or LIST), BucketOwnerEnforced (AccessControlListNotSupported), the public access block's
 * switches, bad grantees with AWS's codes, and the server settings for new buckets.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketOwnershipControlsCommand,
  DeletePublicAccessBlockCommand,
  GetBucketAclCommand,
  GetBucketOwnershipControlsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutBucketOwnershipControlsCommand,
  PutBucketPolicyCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import * as Minio from "minio";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { awsEnv, clientPresent, runOk, writeS3cmdConfig } from "./helpers/clients.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const S3CMD = "/usr/bin/s3cmd";
const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const awsPresent = clientPresent("acl_server_test", AWS);
const s3cmdPresent = clientPresent("acl_server_test", S3CMD);

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(promise);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}

/** An unsigned request, as a browser or curl sends it; answers its status (body consumed). */
async function anonymous(
  server: TestServer,
  method: string,
  path: string,
  body?: string,
): Promise<[number, string]> {
  const response = await fetch(`${server.endpoint}${path}`, { method, body });
  return [response.status, await response.text()];
}

Deno.test({
  name: "ACLs: canned and granted, by CLI, s3cmd and SDK; anonymous access as they say",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const s3 = s3Client(server);
    const Bucket = "acl-data";
    try {
      await s3.send(new CreateBucketCommand({ Bucket }));
      const owner = (await s3.send(new GetBucketAclCommand({ Bucket }))).Owner!;

      await t.step("owner: the account, in ACLs and listings", async () => {
        assert(/^[0-9a-f]{64}$/.test(owner.ID!), owner.ID);
        await s3.send(new PutObjectCommand({ Bucket, Key: "private.txt", Body: "private" }));
        const listed = await s3.send(new ListObjectsV2Command({ Bucket, FetchOwner: true }));
        assertEquals(listed.Contents?.[0].Owner?.ID, owner.ID);
        const acl = await s3.send(new GetObjectAclCommand({ Bucket, Key: "private.txt" }));
        assertEquals(acl.Owner?.ID, owner.ID);
        assertEquals(acl.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.ID, g.Permission]), [
          ["CanonicalUser", owner.ID, "FULL_CONTROL"],
        ]);
        assertEquals((await anonymous(server, "GET", `/${Bucket}/private.txt`))[0], 403);
      });

      await t.step({
        name: "aws s3 cp --acl public-read: anonymous GET works, PUT and LIST do not",
        ignore: !awsPresent,
        fn: async () => {
          const file = `${server.dir}/page.html`;
          await Deno.writeTextFile(file, "<h1>public</h1>");
          await runOk(AWS, [
            "--endpoint-url",
            server.endpoint,
            "s3",
            "cp",
            file,
            `s3://${Bucket}/site/page.html`,
            "--acl",
            "public-read",
          ], awsEnv());
          assertEquals(await anonymous(server, "GET", `/${Bucket}/site/page.html`), [
            200,
            "<h1>public</h1>",
          ]);
          assertEquals((await anonymous(server, "HEAD", `/${Bucket}/site/page.html`))[0], 200);
          assertEquals((await anonymous(server, "PUT", `/${Bucket}/site/page.html`, "x"))[0], 403);
          assertEquals((await anonymous(server, "GET", `/${Bucket}`))[0], 403);
          assertEquals((await anonymous(server, "GET", `/${Bucket}/site/page.html?acl`))[0], 403);
          const acl = await s3.send(new GetObjectAclCommand({ Bucket, Key: "site/page.html" }));
          assertEquals(acl.Grants?.map((g) => [g.Grantee?.Type, g.Grantee?.URI, g.Permission]), [
            ["CanonicalUser", undefined, "FULL_CONTROL"],
            ["Group", ALL_USERS, "READ"],
          ]);
        },
      });

      await t.step({
        name: "s3cmd setacl --acl-public, then --acl-private",
        ignore: !s3cmdPresent,
        fn: async () => {
          const config = await writeS3cmdConfig(`${server.dir}/s3cfg`, server.port);
          const env = { HOME: server.dir };
          await runOk(
            S3CMD,
            ["-c", config, "setacl", "--acl-public", `s3://${Bucket}/private.txt`],
            env,
          );
          assertEquals(await anonymous(server, "GET", `/${Bucket}/private.txt`), [200, "private"]);
          const info = await runOk(
            S3CMD,
            ["-c", config, "info", `s3://${Bucket}/private.txt`],
            env,
          );
          assert(/ACL:\s+\*anon\*: READ/.test(info), info);
          await runOk(S3CMD, [
            "-c",
            config,
            "setacl",
            "--acl-private",
            `s3://${Bucket}/private.txt`,
          ], env);
          assertEquals((await anonymous(server, "GET", `/${Bucket}/private.txt`))[0], 403);
        },
      });

      await t.step("grants by header and by AccessControlPolicy body", async () => {
        await s3.send(new PutObjectCommand({ Bucket, Key: "granted", Body: "granted" }));
        await s3.send(
          new PutObjectAclCommand({ Bucket, Key: "granted", GrantRead: `uri="${ALL_USERS}"` }),
        );
        assertEquals(await anonymous(server, "GET", `/${Bucket}/granted`), [200, "granted"]);
        const byHeader = await s3.send(new GetObjectAclCommand({ Bucket, Key: "granted" }));
        assertEquals(byHeader.Grants?.map((g) => [g.Grantee?.URI, g.Permission]), [
          [ALL_USERS, "READ"],
        ]);

        await s3.send(
          new PutObjectAclCommand({
            Bucket,
            Key: "granted",
            AccessControlPolicy: {
              Owner: owner,
              Grants: [
                { Grantee: { Type: "CanonicalUser", ID: owner.ID }, Permission: "FULL_CONTROL" },
                { Grantee: { Type: "Group", URI: ALL_USERS }, Permission: "READ_ACP" },
              ],
            },
          }),
        );
        assertEquals((await anonymous(server, "GET", `/${Bucket}/granted`))[0], 403);
        const [status, xml] = await anonymous(server, "GET", `/${Bucket}/granted?acl`);
        assertEquals(status, 200, xml);
        assert(xml.includes("<Permission>READ_ACP</Permission>"), xml);
        assert(xml.includes('xsi:type="Group"'), xml);
      });

      await t.step("a bucket ACL: public-read lists, public-read-write takes uploads", async () => {
        await s3.send(new PutBucketAclCommand({ Bucket, ACL: "public-read" }));
        const [listed, xml] = await anonymous(server, "GET", `/${Bucket}?list-type=2`);
        assertEquals(listed, 200, xml);
        assert(xml.includes("<Key>granted</Key>"), xml);
        assertEquals((await anonymous(server, "PUT", `/${Bucket}/dropped`, "x"))[0], 403);
        assertEquals((await anonymous(server, "GET", `/${Bucket}/granted`))[0], 403);
        await s3.send(new PutBucketAclCommand({ Bucket, ACL: "public-read-write" }));
        assertEquals((await anonymous(server, "PUT", `/${Bucket}/dropped`, "x"))[0], 200);
        const acl = await s3.send(new GetBucketAclCommand({ Bucket }));
        assertEquals(acl.Grants?.map((g) => g.Permission), ["FULL_CONTROL", "READ", "WRITE"]);
        await s3.send(new PutBucketAclCommand({ Bucket, ACL: "private" }));
        assertEquals((await anonymous(server, "GET", `/${Bucket}?list-type=2`))[0], 403);
      });

      await t.step("ACLs on copy, multipart (at Complete) and POST", async () => {
        await s3.send(
          new CopyObjectCommand({
            Bucket,
            Key: "copied",
            CopySource: `${Bucket}/granted`,
            ACL: "public-read",
          }),
        );
        assertEquals(await anonymous(server, "GET", `/${Bucket}/copied`), [200, "granted"]);
        // A copy does not keep its source's ACL.
        await s3.send(
          new CopyObjectCommand({ Bucket, Key: "copy2", CopySource: `${Bucket}/copied` }),
        );
        assertEquals((await anonymous(server, "GET", `/${Bucket}/copy2`))[0], 403);

        const { UploadId } = await s3.send(
          new CreateMultipartUploadCommand({ Bucket, Key: "multi", ACL: "public-read" }),
        );
        const part = await s3.send(
          new UploadPartCommand({ Bucket, Key: "multi", UploadId, PartNumber: 1, Body: "parts" }),
        );
        assertEquals((await anonymous(server, "GET", `/${Bucket}/multi`))[0], 403);
        await s3.send(
          new CompleteMultipartUploadCommand({
            Bucket,
            Key: "multi",
            UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
          }),
        );
        assertEquals(await anonymous(server, "GET", `/${Bucket}/multi`), [200, "parts"]);

        const minio = new Minio.Client({
          endPoint: "127.0.0.1",
          port: server.port,
          useSSL: false,
          accessKey: ACCESS_KEY,
          secretKey: SECRET_KEY,
        });
        const policy = minio.newPostPolicy();
        policy.setBucket(Bucket);
        policy.setKey("posted");
        policy.setExpires(new Date(Date.now() + 300_000));
        policy.policy.conditions.push(["eq", "$acl", "public-read"]);
        policy.formData.acl = "public-read";
        const { postURL, formData } = await minio.presignedPostPolicy(policy);
        const form = new FormData();
        for (const [name, value] of Object.entries(formData)) form.append(name, value);
        form.append("file", new Blob(["by form"]), "posted.txt");
        const posted = await fetch(postURL, { method: "POST", body: form });
        assertEquals(posted.status, 204, await posted.text());
        assertEquals(await anonymous(server, "GET", `/${Bucket}/posted`), [200, "by form"]);
      });

      await t.step("bad grantees and bad ACLs get AWS's codes, and change nothing", async () => {
        const put = (input: Omit<ConstructorParameters<typeof PutObjectAclCommand>[0], "Bucket">) =>
          s3.send(new PutObjectAclCommand({ Bucket, ...input }));
        await rejectsWith(
          () => put({ Key: "copied", GrantRead: `id="${"0".repeat(64)}"` }),
          "InvalidArgument",
          400,
        );
        await rejectsWith(
          () => put({ Key: "copied", GrantRead: 'emailAddress="someone@example.com"' }),
          "UnresolvableGrantByEmailAddress",
          400,
        );
        await rejectsWith(
          () => put({ Key: "copied", GrantRead: 'uri="http://acs.amazonaws.com/groups/nobody"' }),
          "InvalidArgument",
          400,
        );
        await rejectsWith(
          () => put({ Key: "copied", ACL: "public-read", GrantRead: `uri="${ALL_USERS}"` }),
          "InvalidRequest",
          400,
        );
        await rejectsWith(
          () =>
            put({
              Key: "copied",
              AccessControlPolicy: {
                Owner: owner,
                Grants: [{ Grantee: { Type: "Group", URI: ALL_USERS }, Permission: undefined }],
              },
            }),
          "MalformedACLError",
          400,
        );
        await rejectsWith(
          () =>
            s3.send(
              new PutObjectCommand({ Bucket, Key: "new", Body: "x", GrantRead: 'id="nobody"' }),
            ),
          "InvalidArgument",
          400,
        );
        await rejectsWith(
          () => put({ Key: "missing", ACL: "public-read" }),
          "NoSuchKey",
          404,
        );
        assertEquals(await anonymous(server, "GET", `/${Bucket}/copied`), [200, "granted"]);
        assertEquals((await anonymous(server, "GET", `/${Bucket}/new`))[0], 403);
      });
    } finally {
      s3.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "ownership controls and public access blocks: stored, enforced, and server defaults",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const s3: S3Client = s3Client(server);
    const Bucket = "acl-settings";
    try {
      await s3.send(new CreateBucketCommand({ Bucket }));
      await s3.send(
        new PutObjectCommand({ Bucket, Key: "public", Body: "public", ACL: "public-read" }),
      );
      assertEquals((await anonymous(server, "GET", `/${Bucket}/public`))[0], 200);

      await t.step("ownership controls: none, then BucketOwnerEnforced disables ACLs", async () => {
        await rejectsWith(
          () => s3.send(new GetBucketOwnershipControlsCommand({ Bucket })),
          "OwnershipControlsNotFoundError",
          404,
        );
        const enforce = () =>
          s3.send(
            new PutBucketOwnershipControlsCommand({
              Bucket,
              OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
            }),
          );
        // A bucket ACL that shares the bucket must go before ACLs can be disabled.
        await s3.send(new PutBucketAclCommand({ Bucket, ACL: "public-read" }));
        await rejectsWith(enforce, "InvalidBucketAclWithObjectOwnership", 400);
        await s3.send(new PutBucketAclCommand({ Bucket, ACL: "private" }));
        await enforce();
        const got = await s3.send(new GetBucketOwnershipControlsCommand({ Bucket }));
        assertEquals(got.OwnershipControls?.Rules?.[0].ObjectOwnership, "BucketOwnerEnforced");
        assertEquals((await anonymous(server, "GET", `/${Bucket}/public`))[0], 403);
        await rejectsWith(
          () => s3.send(new PutObjectAclCommand({ Bucket, Key: "public", ACL: "public-read" })),
          "AccessControlListNotSupported",
          400,
        );
        await rejectsWith(
          () => s3.send(new PutBucketAclCommand({ Bucket, ACL: "authenticated-read" })),
          "AccessControlListNotSupported",
          400,
        );
        await rejectsWith(
          () =>
            s3.send(new PutObjectCommand({ Bucket, Key: "other", Body: "x", ACL: "public-read" })),
          "AccessControlListNotSupported",
          400,
        );
        await s3.send(
          new PutObjectCommand({
            Bucket,
            Key: "other",
            Body: "x",
            ACL: "bucket-owner-full-control",
          }),
        );
        await s3.send(new PutObjectAclCommand({ Bucket, Key: "public", ACL: "private" }));
        const acl = await s3.send(new GetObjectAclCommand({ Bucket, Key: "other" }));
        assertEquals(acl.Grants?.map((g) => g.Permission), ["FULL_CONTROL"]);
        await rejectsWith(
          () =>
            s3.send(
              new PutBucketOwnershipControlsCommand({
                Bucket,
                OwnershipControls: { Rules: [{ ObjectOwnership: "Everybody" as "ObjectWriter" }] },
              }),
            ),
          "MalformedXML",
          400,
        );
        await s3.send(new DeleteBucketOwnershipControlsCommand({ Bucket }));
        await rejectsWith(
          () => s3.send(new GetBucketOwnershipControlsCommand({ Bucket })),
          "OwnershipControlsNotFoundError",
          404,
        );
      });

      await t.step("malformed settings and ACL requests get AWS's codes", async () => {
        const refused = async (query: string, body: string, headers = {}) => {
          const response = await signedFetch(server, {
            method: "PUT",
            path: `/${Bucket}`,
            query: [[query, ""]],
            headers,
            body,
          });
          return [response.status, xmlField(await response.text(), "Code")];
        };
        const block = (value: string) =>
          `<PublicAccessBlockConfiguration><BlockPublicAcls>${value}</BlockPublicAcls>` +
          `</PublicAccessBlockConfiguration>`;
        assertEquals(await refused("publicAccessBlock", block("yes")), [400, "MalformedXML"]);
        assertEquals(await refused("publicAccessBlock", "<Nothing/>"), [400, "MalformedXML"]);
        assertEquals(await refused("publicAccessBlock", "<PublicAccess"), [400, "MalformedXML"]);
        assertEquals(await refused("ownershipControls", "<OwnershipControls/>"), [
          400,
          "MalformedXML",
        ]);
        assertEquals(await refused("acl", ""), [400, "MissingSecurityHeader"]);
        assertEquals(await refused("acl", "<AccessControlPolicy/>", { "x-amz-acl": "private" }), [
          400,
          "UnexpectedContent",
        ]);
        assertEquals(await refused("acl", "", { "x-amz-acl": "world" }), [400, "InvalidArgument"]);
        assertEquals(await refused("acl", "<AccessControlPolicy><Owner>"), [
          400,
          "MalformedACLError",
        ]);
        await rejectsWith(
          () => s3.send(new GetPublicAccessBlockCommand({ Bucket })),
          "NoSuchPublicAccessBlockConfiguration",
          404,
        );
      });

      await t.step(
        "public access block: BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy",
        async () => {
          await rejectsWith(
            () => s3.send(new GetPublicAccessBlockCommand({ Bucket })),
            "NoSuchPublicAccessBlockConfiguration",
            404,
          );
          await s3.send(new PutObjectAclCommand({ Bucket, Key: "public", ACL: "public-read" }));
          assertEquals((await anonymous(server, "GET", `/${Bucket}/public`))[0], 200);

          await s3.send(
            new PutPublicAccessBlockCommand({
              Bucket,
              PublicAccessBlockConfiguration: { BlockPublicAcls: true },
            }),
          );
          const got = await s3.send(new GetPublicAccessBlockCommand({ Bucket }));
          assertEquals(got.PublicAccessBlockConfiguration, {
            BlockPublicAcls: true,
            IgnorePublicAcls: false,
            BlockPublicPolicy: false,
            RestrictPublicBuckets: false,
          });
          await rejectsWith(
            () =>
              s3.send(new PutObjectCommand({ Bucket, Key: "more", Body: "x", ACL: "public-read" })),
            "AccessDenied",
            403,
          );
          await rejectsWith(
            () => s3.send(new PutBucketAclCommand({ Bucket, GrantRead: `uri="${ALL_USERS}"` })),
            "AccessDenied",
            403,
          );
          // Blocking new public ACLs leaves the existing ones in force…
          assertEquals((await anonymous(server, "GET", `/${Bucket}/public`))[0], 200);
          await s3.send(
            new PutPublicAccessBlockCommand({
              Bucket,
              PublicAccessBlockConfiguration: { IgnorePublicAcls: true, BlockPublicPolicy: true },
            }),
          );
          // …ignoring them does not.
          assertEquals((await anonymous(server, "GET", `/${Bucket}/public`))[0], 403);
          await rejectsWith(
            () =>
              s3.send(
                new PutBucketPolicyCommand({
                  Bucket,
                  Policy: JSON.stringify({
                    Version: "2012-10-17",
                    Statement: [{
                      Effect: "Allow",
                      Principal: "*",
                      Action: "s3:GetObject",
                      Resource: `arn:aws:s3:::${Bucket}/*`,
                    }],
                  }),
                }),
              ),
            "AccessDenied",
            403,
          );
          await s3.send(new DeletePublicAccessBlockCommand({ Bucket }));
          assertEquals((await anonymous(server, "GET", `/${Bucket}/public`))[0], 200);
        },
      );
    } finally {
      s3.destroy();
      await server.cleanup();
    }

    await t.step(
      "server settings: BucketOwnerEnforced and the public access block for new buckets",
      async () => {
        const configured = await startServer({
          args: ["--object-ownership", "BucketOwnerEnforced"],
          env: { FLASHSTOR_BLOCK_PUBLIC_ACCESS: "on" },
        });
        const client = s3Client(configured);
        try {
          await client.send(new CreateBucketCommand({ Bucket }));
          const ownership = await client.send(new GetBucketOwnershipControlsCommand({ Bucket }));
          assertEquals(
            ownership.OwnershipControls?.Rules?.[0].ObjectOwnership,
            "BucketOwnerEnforced",
          );
          const block = await client.send(new GetPublicAccessBlockCommand({ Bucket }));
          assertEquals(block.PublicAccessBlockConfiguration, {
            BlockPublicAcls: true,
            IgnorePublicAcls: true,
            BlockPublicPolicy: true,
            RestrictPublicBuckets: true,
          });
          await rejectsWith(
            () => client.send(new CreateBucketCommand({ Bucket: "acl-open", ACL: "public-read" })),
            "InvalidBucketAclWithObjectOwnership",
            400,
          );
          await client.send(
            new CreateBucketCommand({ Bucket: "acl-writer", ObjectOwnership: "ObjectWriter" }),
          );
          const writer = await client.send(
            new GetBucketOwnershipControlsCommand({ Bucket: "acl-writer" }),
          );
          assertEquals(writer.OwnershipControls?.Rules?.[0].ObjectOwnership, "ObjectWriter");
        } finally {
          client.destroy();
          await configured.cleanup();
        }
      },
    );
  },
});

Deno.test({
  name: "ACLs and IAM users: the owner is the account whoever asks; grants reach users; restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startServer();
    const root = s3Client(server);
    const iam = new IAMClient({
      endpoint: server.endpoint,
      region: "us-east-1",
      maxAttempts: 1,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    });
    const Bucket = "acl-users";
    let user: S3Client | undefined;
    try {
      await root.send(new CreateBucketCommand({ Bucket }));
      await root.send(
        new PutObjectCommand({ Bucket, Key: "open", Body: "open", ACL: "authenticated-read" }),
      );
      await root.send(new PutObjectCommand({ Bucket, Key: "closed", Body: "closed" }));
      const owner = (await root.send(new GetBucketAclCommand({ Bucket }))).Owner!;

      await iam.send(new CreateUserCommand({ UserName: "reader" }));
      const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "reader" }))).AccessKey!;
      user = new S3Client({
        endpoint: server.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        maxAttempts: 1,
        credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! },
      });
      // A user without any policy: an ACL grant to AuthenticatedUsers is all it has.
      const got = await user.send(new GetObjectCommand({ Bucket, Key: "open" }));
      assertEquals(await got.Body?.transformToString(), "open");
      await rejectsWith(
        () => user!.send(new GetObjectCommand({ Bucket, Key: "closed" })),
        "AccessDenied",
        403,
      );
      assertEquals((await anonymous(server, "GET", `/${Bucket}/open`))[0], 403);

      await iam.send(
        new AttachUserPolicyCommand({
          UserName: "reader",
          PolicyArn: "arn:aws:iam::aws:policy/readonly",
        }),
      );
      // Setting an ACL with a write takes s3:PutObjectAcl too, which writeonly does not give.
      await iam.send(
        new AttachUserPolicyCommand({
          UserName: "reader",
          PolicyArn: "arn:aws:iam::aws:policy/writeonly",
        }),
      );
      await user.send(new PutObjectCommand({ Bucket, Key: "written", Body: "w" }));
      await rejectsWith(
        () =>
          user!.send(
            new PutObjectCommand({ Bucket, Key: "written", Body: "w2", ACL: "public-read" }),
          ),
        "AccessDenied",
        403,
      );
      assertEquals((await anonymous(server, "GET", `/${Bucket}/written`))[0], 403);
      const listed = await user.send(new ListObjectsV2Command({ Bucket, FetchOwner: true }));
      assertEquals(listed.Contents?.map((o) => o.Owner?.ID), [owner.ID, owner.ID, owner.ID]);
      assertEquals((await user.send(new ListBucketsCommand({}))).Owner?.ID, owner.ID);

      await root.send(new PutBucketAclCommand({ Bucket, ACL: "public-read" }));
      await server.stop();
      const again = await startServer({ dir: server.dir });
      try {
        assertEquals((await anonymous(again, "GET", `/${Bucket}?list-type=2`))[0], 200);
        assertEquals((await anonymous(again, "GET", `/${Bucket}/open`))[0], 403);
        const restarted = s3Client(again);
        const after = await restarted.send(new GetObjectAclCommand({ Bucket, Key: "open" }));
        assertEquals(after.Owner?.ID, owner.ID, "the account's id is kept across restarts");
        assertEquals(after.Grants?.map((g) => [g.Grantee?.URI, g.Permission]), [
          [undefined, "FULL_CONTROL"],
          ["http://acs.amazonaws.com/groups/global/AuthenticatedUsers", "READ"],
        ]);
        restarted.destroy();
      } finally {
        await again.cleanup();
      }
    } finally {
      user?.destroy();
      root.destroy();
      iam.destroy();
      await server.cleanup();
    }
  },
});
