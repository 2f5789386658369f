/**
 * Put/Get/DeleteBucketEncryption against the real server, with the JS SDK, the AWS CLI and raw
 * signed requests: without a key service a configuration is refused with a clear 501 (MinIO's
 * answer) while Get and Delete still work; with FLASHSTOR_KMS_SECRET_KEY SSE-S3 and SSE-KMS
 * configurations round-trip (BucketKeyEnabled too) and an unknown KMS key is refused; AWS's
 * errors for a missing configuration, a missing bucket, malformed documents, and a body without
 * Content-MD5 or with a wrong one; the IAM actions s3:GetEncryptionConfiguration and
 * s3:PutEncryptionConfiguration (which Delete needs too); and --default-encryption giving new
 * buckets SSE-S3, where buckets otherwise start with none.
 */

import { createHash } from "node:crypto";
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from "@aws-sdk/client-iam";
import {
  CreateBucketCommand,
  DeleteBucketEncryptionCommand,
  GetBucketEncryptionCommand,
  PutBucketEncryptionCommand,
  S3Client,
  type ServerSideEncryptionConfiguration,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertS3Error, assertStringIncludes } from "./helpers/assert.ts";
import { awsEnv, clientPresent, run } from "./helpers/clients.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

const AWS = "/usr/bin/aws";
const awsPresent = clientPresent("bucket_encryption_api_test", AWS);
const KMS_SECRET_KEY = "test-key:" + btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
const KMS_ENV = { FLASHSTOR_KMS_SECRET_KEY: KMS_SECRET_KEY };
const NOT_CONFIGURED = "Server side encryption specified but KMS is not configured";

const SSE_S3: ServerSideEncryptionConfiguration = {
  Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
};

const xmlRule = (apply: string) =>
  `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule>` +
  `<ApplyServerSideEncryptionByDefault>${apply}</ApplyServerSideEncryptionByDefault>` +
  `</Rule></ServerSideEncryptionConfiguration>`;
const AES256_XML = xmlRule("<SSEAlgorithm>AES256</SSEAlgorithm>");

/** PutBucketEncryption with `body`, signed, with its Content-MD5 unless `headers` say otherwise. */
async function putRaw(
  server: TestServer,
  bucket: string,
  body: string,
  headers: Record<string, string> = {
    "content-md5": createHash("md5").update(body).digest("base64"),
  },
): Promise<{ status: number; code?: string; message?: string }> {
  const response = await signedFetch(server, {
    method: "PUT",
    path: `/${bucket}`,
    query: [["encryption", ""]],
    headers,
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    code: xmlField(text, "Code"),
    message: xmlField(text, "Message"),
  };
}

async function getConfiguration(s3: S3Client, bucket: string) {
  const out = await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
  return out.ServerSideEncryptionConfiguration?.Rules;
}

/** put-bucket-encryption of `configuration`, then get-bucket-encryption, through the AWS CLI. */
async function cliPutThenGet(server: TestServer, bucket: string, configuration: unknown) {
  const home = await Deno.makeTempDir({ prefix: "flashstor-sse-cli-" });
  const s3api = (...args: string[]) =>
    run(AWS, ["--endpoint-url", server.endpoint, "s3api", ...args, "--bucket", bucket], {
      HOME: home,
      ...awsEnv(),
    });
  try {
    const put = await s3api(
      "put-bucket-encryption",
      "--server-side-encryption-configuration",
      JSON.stringify(configuration),
    );
    return { put, get: await s3api("get-bucket-encryption") };
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test({
  name: "bucket encryption: without a key service, Put is refused clearly; Get, Delete and errors",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const s3 = s3Client(server);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: "plain" }));

      await t.step("a bucket has no configuration: 404 NotFoundError", async () => {
        await assertS3Error(
          () => getConfiguration(s3, "plain"),
          "ServerSideEncryptionConfigurationNotFoundError",
          404,
        );
        const raw = await signedFetch(server, {
          method: "GET",
          path: "/plain",
          query: [["encryption", ""]],
        });
        const body = await raw.text();
        assertEquals(raw.status, 404);
        assertEquals(
          xmlField(body, "Message"),
          "The server side encryption configuration was not found",
        );
        assertEquals(xmlField(body, "BucketName"), "plain");
      });

      await t.step("PutBucketEncryption is 501: no key service to apply it", async () => {
        await assertS3Error(
          () =>
            s3.send(
              new PutBucketEncryptionCommand({
                Bucket: "plain",
                ServerSideEncryptionConfiguration: SSE_S3,
              }),
            ),
          "NotImplemented",
          501,
        );
        const raw = await putRaw(server, "plain", AES256_XML);
        assertEquals([raw.status, raw.code], [501, "NotImplemented"]);
        assertStringIncludes(raw.message ?? "", NOT_CONFIGURED);
        assertStringIncludes(raw.message ?? "", "FLASHSTOR_KMS_SECRET_KEY");
        await assertS3Error(
          () => getConfiguration(s3, "plain"),
          "ServerSideEncryptionConfigurationNotFoundError",
          404,
        );
      });

      await t.step("documents are checked first: AWS's errors for bad ones", async () => {
        const cases: [string, string, number, string][] = [
          ["not xml", "<ServerSideEncryptionConfiguration><Rule>", 400, "MalformedXML"],
          ["no rule", "<ServerSideEncryptionConfiguration/>", 400, "MalformedXML"],
          [
            "two rules",
            AES256_XML.replace(
              "</Rule>",
              "</Rule><Rule><ApplyServerSideEncryptionByDefault>" +
                "<SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule>",
            ),
            400,
            "MalformedXML",
          ],
          ["unknown algorithm", xmlRule("<SSEAlgorithm>SM4</SSEAlgorithm>"), 400, "MalformedXML"],
          [
            "wrong root",
            "<CORSConfiguration><Rule/></CORSConfiguration>",
            400,
            "MalformedXML",
          ],
          [
            "key with AES256",
            xmlRule("<SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>"),
            400,
            "InvalidArgument",
          ],
          ["dsse", xmlRule("<SSEAlgorithm>aws:kms:dsse</SSEAlgorithm>"), 501, "NotImplemented"],
        ];
        for (const [label, body, status, code] of cases) {
          const answer = await putRaw(server, "plain", body);
          assertEquals([answer.status, answer.code], [status, code], label);
        }
        const dsse = await putRaw(
          server,
          "plain",
          xmlRule("<SSEAlgorithm>aws:kms:dsse</SSEAlgorithm>"),
        );
        assertStringIncludes(dsse.message ?? "", "aws:kms:dsse");
      });

      await t.step("Content-MD5 (or a checksum) is required and checked", async () => {
        const missing = await putRaw(server, "plain", AES256_XML, {});
        assertEquals([missing.status, missing.code], [400, "InvalidRequest"]);
        assertStringIncludes(missing.message ?? "", "Content-MD5");
        const wrong = await putRaw(server, "plain", AES256_XML, {
          "content-md5": createHash("md5").update("other").digest("base64"),
        });
        assertEquals([wrong.status, wrong.code], [400, "BadDigest"]);
      });

      await t.step("a missing bucket is NoSuchBucket, for all three", async () => {
        await assertS3Error(() => getConfiguration(s3, "missing"), "NoSuchBucket", 404);
        await assertS3Error(
          () => s3.send(new DeleteBucketEncryptionCommand({ Bucket: "missing" })),
          "NoSuchBucket",
          404,
        );
        const put = await putRaw(server, "missing", AES256_XML);
        assertEquals([put.status, put.code], [404, "NoSuchBucket"]);
      });

      await t.step("DeleteBucketEncryption of none is 204", async () => {
        const out = await s3.send(new DeleteBucketEncryptionCommand({ Bucket: "plain" }));
        assertEquals(out.$metadata.httpStatusCode, 204);
      });

      await t.step(
        "IAM: s3:GetEncryptionConfiguration; Put and Delete need s3:PutEncryptionConfiguration",
        async () => {
          const iam = new IAMClient({
            endpoint: server.endpoint,
            region: "us-east-1",
            maxAttempts: 1,
            credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
          });
          await iam.send(new CreateUserCommand({ UserName: "auditor" }));
          const key = await iam.send(new CreateAccessKeyCommand({ UserName: "auditor" }));
          const policy = (actions: string[]) =>
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [{ Effect: "Allow", Action: actions, Resource: "arn:aws:s3:::plain" }],
            });
          await iam.send(
            new PutUserPolicyCommand({
              UserName: "auditor",
              PolicyName: "p",
              PolicyDocument: policy(["s3:GetEncryptionConfiguration"]),
            }),
          );
          const auditor = new S3Client({
            endpoint: server.endpoint,
            region: "us-east-1",
            forcePathStyle: true,
            maxAttempts: 1,
            credentials: {
              accessKeyId: key.AccessKey!.AccessKeyId!,
              secretAccessKey: key.AccessKey!.SecretAccessKey!,
            },
          });
          try {
            await assertS3Error(
              () => getConfiguration(auditor, "plain"),
              "ServerSideEncryptionConfigurationNotFoundError",
              404,
            );
            const put = () =>
              auditor.send(
                new PutBucketEncryptionCommand({
                  Bucket: "plain",
                  ServerSideEncryptionConfiguration: SSE_S3,
                }),
              );
            const del = () => auditor.send(new DeleteBucketEncryptionCommand({ Bucket: "plain" }));
            await assertS3Error(put, "AccessDenied", 403);
            await assertS3Error(del, "AccessDenied", 403);
            await iam.send(
              new PutUserPolicyCommand({
                UserName: "auditor",
                PolicyName: "p",
                PolicyDocument: policy(["s3:PutEncryptionConfiguration"]),
              }),
            );
            assertEquals((await del()).$metadata.httpStatusCode, 204);
            // Authorized now, and refused for what it is.
            await assertS3Error(put, "NotImplemented", 501);
            await assertS3Error(() => getConfiguration(auditor, "plain"), "AccessDenied", 403);
          } finally {
            auditor.destroy();
            iam.destroy();
          }
        },
      );

      if (awsPresent) {
        await t.step("the AWS CLI is told why", async () => {
          const { put, get } = await cliPutThenGet(server, "plain", SSE_S3);
          assert(put.code !== 0, put.stdout);
          assertStringIncludes(put.stderr, "NotImplemented");
          assertStringIncludes(put.stderr, NOT_CONFIGURED);
          assert(get.code !== 0, get.stdout);
          assertStringIncludes(get.stderr, "ServerSideEncryptionConfigurationNotFoundError");
        });
      }
    } finally {
      s3.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "bucket encryption: with FLASHSTOR_KMS_SECRET_KEY, SSE-S3 and SSE-KMS round-trip",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer({ env: KMS_ENV });
    const s3 = s3Client(server);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: "enc" }));

      await t.step("new buckets have no default encryption (MinIO's default)", async () => {
        await assertS3Error(
          () => getConfiguration(s3, "enc"),
          "ServerSideEncryptionConfigurationNotFoundError",
          404,
        );
      });

      await t.step("SSE-S3, then SSE-KMS with the default key and BucketKeyEnabled", async () => {
        const put = await s3.send(
          new PutBucketEncryptionCommand({
            Bucket: "enc",
            ServerSideEncryptionConfiguration: SSE_S3,
          }),
        );
        assertEquals(put.$metadata.httpStatusCode, 200);
        assertEquals(await getConfiguration(s3, "enc"), [{
          ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" },
          BucketKeyEnabled: false,
        }]);
        await s3.send(
          new PutBucketEncryptionCommand({
            Bucket: "enc",
            ServerSideEncryptionConfiguration: {
              Rules: [{
                ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms" },
                BucketKeyEnabled: true,
              }],
            },
          }),
        );
        assertEquals(await getConfiguration(s3, "enc"), [{
          ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms" },
          BucketKeyEnabled: true,
        }]);
      });

      await t.step("SSE-KMS under a named key, given as its ARN: kept as given", async () => {
        // The root key's name is the default master key's id, as MinIO's MINIO_KMS_SECRET_KEY.
        const arn = "arn:aws:kms:us-east-1:123456789012:key/test-key";
        await s3.send(
          new PutBucketEncryptionCommand({
            Bucket: "enc",
            ServerSideEncryptionConfiguration: {
              Rules: [{
                ApplyServerSideEncryptionByDefault: {
                  SSEAlgorithm: "aws:kms",
                  KMSMasterKeyID: arn,
                },
              }],
            },
          }),
        );
        assertEquals(await getConfiguration(s3, "enc"), [{
          ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "aws:kms", KMSMasterKeyID: arn },
          BucketKeyEnabled: false,
        }]);
      });

      await t.step("an unknown KMS key is refused and the configuration kept", async () => {
        const arn = "arn:aws:kms:us-east-1:123456789012:key/no-such-key";
        for (const reference of ["no-such-key", arn]) {
          const answer = await putRaw(
            server,
            "enc",
            xmlRule(
              `<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>${reference}</KMSMasterKeyID>`,
            ),
          );
          assertEquals([answer.status, answer.code], [400, "KMS.NotFoundException"], reference);
          assertStringIncludes(answer.message ?? "", "no-such-key");
        }
        assertEquals(
          (await getConfiguration(s3, "enc"))?.[0].ApplyServerSideEncryptionByDefault
            ?.KMSMasterKeyID,
          "arn:aws:kms:us-east-1:123456789012:key/test-key",
        );
      });

      await t.step("Delete removes it; Get is 404 again", async () => {
        await s3.send(new DeleteBucketEncryptionCommand({ Bucket: "enc" }));
        await assertS3Error(
          () => getConfiguration(s3, "enc"),
          "ServerSideEncryptionConfigurationNotFoundError",
          404,
        );
      });

      if (awsPresent) {
        await t.step("the AWS CLI: put-bucket-encryption and get-bucket-encryption", async () => {
          const configuration = {
            Rules: [{
              ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" },
              BucketKeyEnabled: true,
            }],
          };
          const { put, get } = await cliPutThenGet(server, "enc", configuration);
          assertEquals(put.code, 0, put.stderr);
          assertEquals(get.code, 0, get.stderr);
          assertEquals(JSON.parse(get.stdout), {
            ServerSideEncryptionConfiguration: configuration,
          });
        });
      }
    } finally {
      s3.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "bucket encryption: --default-encryption gives new buckets SSE-S3",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startServer({ args: ["--default-encryption"], env: KMS_ENV });
    const s3 = s3Client(server);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: "fresh" }));
      assertEquals(await getConfiguration(s3, "fresh"), [{
        ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" },
        BucketKeyEnabled: false,
      }]);
      // It is the bucket's own setting from then on: it can be removed like any other.
      await s3.send(new DeleteBucketEncryptionCommand({ Bucket: "fresh" }));
      await assertS3Error(
        () => getConfiguration(s3, "fresh"),
        "ServerSideEncryptionConfigurationNotFoundError",
        404,
      );
    } finally {
      s3.destroy();
      await server.cleanup();
    }
  },
});
