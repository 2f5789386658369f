/**
 * Bucket policies against a real server: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus
 * with the JS SDK, the AWS CLI and boto3; what a public-read policy lets anonymous callers do
 * with plain curl (GET, not PUT or LIST); a missing key is 404 only to a caller who may list;
 * AWS's errors for malformed, oversized and foreign-resource policies; the policy goes with its
 * bucket, and survives a restart and the loss of m drives; the public access block's
 * BlockPublicPolicy and RestrictPublicBuckets.
 */

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteBucketPolicyCommand,
  DeleteObjectCommand,
  GetBucketPolicyCommand,
  GetBucketPolicyStatusCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { clientPresent, run, runOk } from "./helpers/clients.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const CURL = "/usr/bin/curl";
const awsPresent = clientPresent("bucket_policy_api_test", AWS);
const curlPresent = clientPresent("bucket_policy_api_test", CURL);
const botoPresent = await run("python3", ["-c", "import boto3"], {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  HOME: Deno.env.get("HOME") ?? "/root",
}).then((r) => r.code === 0, () => false);
if (!botoPresent) console.log("bucket_policy_api_test: boto3 tests skipped, no python3 boto3");

function publicRead(bucket: string, extra: object[] = []): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "PublicRead",
        Effect: "Allow",
        Principal: "*",
        Action: "s3:GetObject",
        Resource: `arn:aws:s3:::${bucket}/*`,
      },
      ...extra,
    ],
  });
}

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(promise);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
  return err;
}

/** An unsigned request with plain curl: [status, body]. */
async function curl(
  server: TestServer,
  method: string,
  path: string,
  body?: string,
): Promise<[number, string]> {
  const args = ["-s", "-X", method, "-w", "\n%{http_code}", `${server.endpoint}${path}`];
  if (body !== undefined) args.push("--data-binary", body);
  if (method === "HEAD") args.splice(1, 2, "-I");
  const out = await runOk(CURL, args, {});
  const cut = out.lastIndexOf("\n");
  return [Number(out.slice(cut + 1)), out.slice(0, cut)];
}

async function withServer(
  fn: (server: TestServer, s3: S3Client) => Promise<void>,
  drives = 4,
): Promise<void> {
  const server = await startServer({ drives });
  const s3 = s3Client(server);
  try {
    await fn(server, s3);
  } finally {
    s3.destroy();
    await server.cleanup();
  }
}

Deno.test({
  name: "bucket policy: public-read lets anonymous curl GET, not PUT or LIST",
  ignore: !curlPresent,
  async fn() {
    await withServer(async (server, s3) => {
      await s3.send(new CreateBucketCommand({ Bucket: "pub" }));
      await s3.send(new PutObjectCommand({ Bucket: "pub", Key: "a/hello.txt", Body: "hello" }));
      assertEquals((await curl(server, "GET", "/pub/a/hello.txt"))[0], 403);

      await s3.send(new PutBucketPolicyCommand({ Bucket: "pub", Policy: publicRead("pub") }));
      assertEquals(await curl(server, "GET", "/pub/a/hello.txt"), [200, "hello"]);
      assertEquals((await curl(server, "HEAD", "/pub/a/hello.txt"))[0], 200);
      const [putStatus, putBody] = await curl(server, "PUT", "/pub/a/evil.txt", "x");
      assertEquals(putStatus, 403);
      assertStringIncludes(putBody, "<Code>AccessDenied</Code>");
      assertEquals((await curl(server, "GET", "/pub?list-type=2"))[0], 403);
      assertEquals((await curl(server, "DELETE", "/pub/a/hello.txt"))[0], 403);
      assertEquals((await curl(server, "GET", "/"))[0], 403);
      // No s3:ListBucket: a missing key is not told apart from a forbidden one.
      assertEquals((await curl(server, "GET", "/pub/a/missing.txt"))[0], 403);
      // Other buckets stay private.
      await s3.send(new CreateBucketCommand({ Bucket: "private" }));
      await s3.send(new PutObjectCommand({ Bucket: "private", Key: "k", Body: "secret" }));
      assertEquals((await curl(server, "GET", "/private/k"))[0], 403);

      // With s3:ListBucket granted, anonymous LIST works and a missing key is 404.
      await s3.send(
        new PutBucketPolicyCommand({
          Bucket: "pub",
          Policy: publicRead("pub", [{
            Effect: "Allow",
            Principal: { AWS: ["*"] },
            Action: ["s3:ListBucket"],
            Resource: ["arn:aws:s3:::pub"],
          }]),
        }),
      );
      const [listStatus, listing] = await curl(server, "GET", "/pub?list-type=2");
      assertEquals(listStatus, 200);
      assertStringIncludes(listing, "<Key>a/hello.txt</Key>");
      assertEquals((await curl(server, "GET", "/pub/a/missing.txt"))[0], 404);

      // Deleted: anonymous is refused again on the next request.
      await s3.send(new DeleteBucketPolicyCommand({ Bucket: "pub" }));
      assertEquals((await curl(server, "GET", "/pub/a/hello.txt"))[0], 403);
    });
  },
});

Deno.test("bucket policy: Get/Delete, NoSuchBucketPolicy, PolicyStatus, errors", async () => {
  await withServer(async (server, s3) => {
    await s3.send(new CreateBucketCommand({ Bucket: "pol" }));
    await rejectsWith(
      () => s3.send(new GetBucketPolicyCommand({ Bucket: "pol" })),
      "NoSuchBucketPolicy",
      404,
    );
    await rejectsWith(
      () => s3.send(new GetBucketPolicyStatusCommand({ Bucket: "pol" })),
      "NoSuchBucketPolicy",
      404,
    );
    await rejectsWith(
      () => s3.send(new PutBucketPolicyCommand({ Bucket: "nope", Policy: publicRead("nope") })),
      "NoSuchBucket",
      404,
    );
    const policy = publicRead("pol");
    await s3.send(new PutBucketPolicyCommand({ Bucket: "pol", Policy: policy }));
    assertEquals((await s3.send(new GetBucketPolicyCommand({ Bucket: "pol" }))).Policy, policy);
    const status = await s3.send(new GetBucketPolicyStatusCommand({ Bucket: "pol" }));
    assertEquals(status.PolicyStatus?.IsPublic, true);

    // Limited to one source address: not public (AWS's rule).
    const pinned = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{
        Effect: "Allow",
        Principal: "*",
        Action: "s3:GetObject",
        Resource: "arn:aws:s3:::pol/*",
        Condition: { IpAddress: { "aws:SourceIp": "10.1.2.0/24" } },
      }],
    });
    await s3.send(new PutBucketPolicyCommand({ Bucket: "pol", Policy: pinned }));
    const pinnedStatus = await s3.send(new GetBucketPolicyStatusCommand({ Bucket: "pol" }));
    assertEquals(pinnedStatus.PolicyStatus?.IsPublic, false);

    const bad: [string, string, string][] = [
      ["{not json", "MalformedPolicy", "JSON"],
      [JSON.stringify({ Version: "2012-10-17", Statement: [] }), "MalformedPolicy", "Statement"],
      [
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::pol/*" }],
        }),
        "MalformedPolicy",
        "rincipal",
      ],
      [
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: "*",
            Action: "s3:GetObject",
            Resource: "arn:aws:s3:::other/*",
          }],
        }),
        "MalformedPolicy",
        "resource",
      ],
      [
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: "*",
            Action: "s3:GetObjectt",
            Resource: "arn:aws:s3:::pol/*",
          }],
        }),
        "MalformedPolicy",
        "GetObjectt",
      ],
      [publicRead("pol").replace("}]}", `,"Padding":"${"x".repeat(21 * 1024)}"}]}`), "", ""],
    ];
    for (const [text, code, reason] of bad) {
      const expected = code === "" ? "PolicyTooLarge" : code;
      const err = await rejectsWith(
        () => s3.send(new PutBucketPolicyCommand({ Bucket: "pol", Policy: text })),
        expected,
        400,
      );
      assertStringIncludes(err.message, reason);
    }
    // A body that does not match its Content-MD5 is refused too.
    const mismatched = await signedFetch(server, {
      method: "PUT",
      path: "/pol",
      query: [["policy", ""]],
      headers: { "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==" },
      body: publicRead("pol"),
    });
    assertEquals(
      [mismatched.status, xmlField(await mismatched.text(), "Code")],
      [400, "BadDigest"],
    );
    // None of them replaced the stored policy.
    assertEquals((await s3.send(new GetBucketPolicyCommand({ Bucket: "pol" }))).Policy, pinned);

    await s3.send(new DeleteBucketPolicyCommand({ Bucket: "pol" }));
    await s3.send(new DeleteBucketPolicyCommand({ Bucket: "pol" }));
    await rejectsWith(
      () => s3.send(new GetBucketPolicyCommand({ Bucket: "pol" })),
      "NoSuchBucketPolicy",
      404,
    );

    // The policy goes with its bucket: a bucket created again under the name has none.
    await s3.send(new PutBucketPolicyCommand({ Bucket: "pol", Policy: publicRead("pol") }));
    await s3.send(new DeleteBucketCommand({ Bucket: "pol" }));
    await s3.send(new CreateBucketCommand({ Bucket: "pol" }));
    await rejectsWith(
      () => s3.send(new GetBucketPolicyCommand({ Bucket: "pol" })),
      "NoSuchBucketPolicy",
      404,
    );
    assert(server.output().indexOf("InternalError") < 0, server.output());
  });
});

Deno.test({
  name: "bucket policy: the AWS CLI and boto3 put, read and delete it",
  ignore: !awsPresent || !botoPresent,
  async fn() {
    await withServer(async (server, s3) => {
      await s3.send(new CreateBucketCommand({ Bucket: "cli" }));
      const env = {
        AWS_ACCESS_KEY_ID: ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: SECRET_KEY,
        AWS_DEFAULT_REGION: "us-east-1",
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        HOME: "/tmp",
      };
      const cli = (...args: string[]) =>
        runOk(AWS, ["--endpoint-url", server.endpoint, "s3api", ...args], env);
      await cli("put-bucket-policy", "--bucket", "cli", "--policy", publicRead("cli"));
      const got = JSON.parse(await cli("get-bucket-policy", "--bucket", "cli"));
      assertEquals(JSON.parse(got.Policy), JSON.parse(publicRead("cli")));
      const status = JSON.parse(await cli("get-bucket-policy-status", "--bucket", "cli"));
      assertEquals(status.PolicyStatus.IsPublic, true);

      const script = `
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], config=Config(s3={"addressing_style": "path"}))
print(s3.get_bucket_policy_status(Bucket="cli")["PolicyStatus"]["IsPublic"])
s3.delete_bucket_policy(Bucket="cli")
try:
    s3.get_bucket_policy(Bucket="cli")
except s3.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
`;
      const out = await runOk("python3", ["-c", script, server.endpoint], {
        ...env,
        PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      });
      assertEquals(out.trim().split("\n"), ["True", "NoSuchBucketPolicy"]);
    });
  },
});

Deno.test({
  name: "bucket policy: survives a restart and the loss of m drives",
  ignore: !curlPresent,
  async fn() {
    let server = await startServer({ drives: 4 });
    const dir = server.dir;
    try {
      const s3 = s3Client(server);
      await s3.send(new CreateBucketCommand({ Bucket: "keep" }));
      await s3.send(new PutObjectCommand({ Bucket: "keep", Key: "k", Body: "kept" }));
      await s3.send(new PutBucketPolicyCommand({ Bucket: "keep", Policy: publicRead("keep") }));
      s3.destroy();
      await server.stop();
      // 4 drives: 2 data + 2 parity; lose two of them.
      await Deno.remove(`${dir}/d1`, { recursive: true });
      await Deno.remove(`${dir}/d3`, { recursive: true });
      await Deno.mkdir(`${dir}/d1`);
      await Deno.mkdir(`${dir}/d3`);
      server = await startServer({ dir, drives: 4 });
      assertEquals(await curl(server, "GET", "/keep/k"), [200, "kept"]);
      assertEquals((await curl(server, "PUT", "/keep/x", "x"))[0], 403);
      const again = s3Client(server);
      await again.send(new DeleteObjectCommand({ Bucket: "keep", Key: "k" }));
      again.destroy();
    } finally {
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "bucket policy: BlockPublicPolicy refuses a public one, RestrictPublicBuckets voids it",
  ignore: !curlPresent,
  async fn() {
    await withServer(async (server, s3) => {
      await s3.send(new CreateBucketCommand({ Bucket: "blocked" }));
      await s3.send(new PutObjectCommand({ Bucket: "blocked", Key: "k", Body: "v" }));
      const block = (switches: { BlockPublicPolicy?: boolean; RestrictPublicBuckets?: boolean }) =>
        s3.send(
          new PutPublicAccessBlockCommand({
            Bucket: "blocked",
            PublicAccessBlockConfiguration: switches,
          }),
        );
      await block({ BlockPublicPolicy: true });
      await rejectsWith(
        () =>
          s3.send(new PutBucketPolicyCommand({ Bucket: "blocked", Policy: publicRead("blocked") })),
        "AccessDenied",
        403,
      );
      await block({ BlockPublicPolicy: false, RestrictPublicBuckets: true });
      await s3.send(
        new PutBucketPolicyCommand({ Bucket: "blocked", Policy: publicRead("blocked") }),
      );
      assertEquals((await curl(server, "GET", "/blocked/k"))[0], 403);
      await block({ RestrictPublicBuckets: false });
      assertEquals(await curl(server, "GET", "/blocked/k"), [200, "v"]);
    });
  },
});
