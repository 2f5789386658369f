/**
 * Put/Get/DeleteBucketLifecycleConfiguration against a real server with the JS SDK v3, boto3
 * and the AWS CLI; AWS's errors for bad documents sent raw (signed, with Content-MD5), which
 * leave the stored configuration as it was; x-amz-expiration on PUT, HEAD, GET, CopyObject and
 * CompleteMultipartUpload; the IAM actions that guard the configuration.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { awsEnv, clientPresent, run, runOk } from "./helpers/clients.ts";
import { s3Client, startServer, type TestServer } from "./helpers/server.ts";
import { BUCKET, code, s3, world } from "./helpers/sts.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

const AWS = "/usr/bin/aws";
const awsPresent = clientPresent("lifecycle_api_test", AWS);
const PYTHON_ENV = {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
  HOME: Deno.env.get("HOME") ?? "/root",
};
const botoPresent = await run("python3", ["-c", "import boto3"], PYTHON_ENV)
  .then((r) => r.code === 0, () => false);
if (!botoPresent) console.log("lifecycle_api_test: boto3 tests skipped, no python3 boto3");

const DAY = 86_400_000;

async function rejectsWith(call: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(call);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}

async function withServer(test: (server: TestServer, client: S3Client) => Promise<void>) {
  const server = await startServer();
  const client = s3Client(server);
  try {
    await test(server, client);
  } finally {
    client.destroy();
    await server.cleanup();
  }
}

/** PUT ?lifecycle with a raw document: [status, error code]. */
async function putRaw(
  server: TestServer,
  bucket: string,
  document: string,
  md5: "right" | "wrong" | "none" = "right",
): Promise<[number, string | undefined]> {
  const headers: Record<string, string> = {};
  const digest = createHash("md5").update(md5 === "wrong" ? `${document}!` : document);
  if (md5 !== "none") headers["content-md5"] = digest.digest("base64");
  const response = await signedFetch(server, {
    method: "PUT",
    path: `/${bucket}`,
    query: [["lifecycle", ""]],
    headers,
    body: document,
  });
  return [response.status, xmlField(await response.text(), "Code")];
}

const document = (rules: string) =>
  `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules}</LifecycleConfiguration>`;
const rule = (inner: string) =>
  `<Rule><ID>r</ID><Filter><Prefix>a/</Prefix></Filter><Status>Enabled</Status>${inner}</Rule>`;

Deno.test("lifecycle API: JS SDK put, get and delete; x-amz-expiration on PUT, HEAD, GET, copy and Complete", async () => {
  await withServer(async (_server, client) => {
    const Bucket = "lifecycle-sdk";
    await client.send(new CreateBucketCommand({ Bucket }));
    await rejectsWith(
      () => client.send(new GetBucketLifecycleConfigurationCommand({ Bucket })),
      "NoSuchLifecycleConfiguration",
      404,
    );
    await client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket,
        LifecycleConfiguration: {
          Rules: [
            { ID: "logs", Status: "Enabled", Filter: { Prefix: "logs/" }, Expiration: { Days: 3 } },
            {
              ID: "tagged",
              Status: "Disabled",
              Filter: {
                And: {
                  Prefix: "t/",
                  Tags: [{ Key: "k", Value: "v" }],
                  ObjectSizeGreaterThan: 5,
                },
              },
              NoncurrentVersionExpiration: { NoncurrentDays: 2, NewerNoncurrentVersions: 3 },
            },
            {
              ID: "uploads",
              Status: "Enabled",
              Filter: { Prefix: "" },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
              Expiration: { ExpiredObjectDeleteMarker: true },
            },
          ],
        },
      }),
    );
    const { Rules } = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket }));
    assertEquals(Rules?.map((r) => [r.ID, r.Status]), [
      ["logs", "Enabled"],
      ["tagged", "Disabled"],
      ["uploads", "Enabled"],
    ]);
    assertEquals(Rules?.[0].Filter?.Prefix, "logs/");
    assertEquals(Rules?.[0].Expiration?.Days, 3);
    assertEquals(Rules?.[1].Filter?.And?.Tags, [{ Key: "k", Value: "v" }]);
    assertEquals(Rules?.[1].Filter?.And?.ObjectSizeGreaterThan, 5);
    assertEquals(Rules?.[1].NoncurrentVersionExpiration, {
      NoncurrentDays: 2,
      NewerNoncurrentVersions: 3,
    });
    assertEquals(Rules?.[2].AbortIncompleteMultipartUpload?.DaysAfterInitiation, 1);
    assertEquals(Rules?.[2].Expiration?.ExpiredObjectDeleteMarker, true);

    const put = await client.send(new PutObjectCommand({ Bucket, Key: "logs/a", Body: "x" }));
    const head = await client.send(new HeadObjectCommand({ Bucket, Key: "logs/a" }));
    const modified = head.LastModified!.getTime();
    // Three days after Last-Modified, rounded up to the next midnight UTC.
    const due = new Date((Math.floor(modified / DAY) + 4) * DAY).toUTCString();
    const expected = `expiry-date="${due}", rule-id="logs"`;
    assertEquals(put.Expiration, expected);
    assertEquals(head.Expiration, expected);
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "logs/a" }));
    await got.Body!.transformToString();
    assertEquals(got.Expiration, expected);
    const other = await client.send(new PutObjectCommand({ Bucket, Key: "data/a", Body: "x" }));
    assertEquals(other.Expiration, undefined);
    // Copies and completed uploads say when the version they wrote expires too.
    const copied = await client.send(
      new CopyObjectCommand({ Bucket, Key: "logs/copy", CopySource: `${Bucket}/data/a` }),
    );
    assertStringIncludes(copied.Expiration ?? "", 'rule-id="logs"');
    const { UploadId } = await client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: "logs/multi" }),
    );
    const part = await client.send(
      new UploadPartCommand({ Bucket, Key: "logs/multi", UploadId, PartNumber: 1, Body: "p" }),
    );
    const completed = await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: "logs/multi",
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    assertStringIncludes(completed.Expiration ?? "", 'rule-id="logs"');

    await client.send(new DeleteBucketLifecycleCommand({ Bucket }));
    await rejectsWith(
      () => client.send(new GetBucketLifecycleConfigurationCommand({ Bucket })),
      "NoSuchLifecycleConfiguration",
      404,
    );
    const after = await client.send(new HeadObjectCommand({ Bucket, Key: "logs/a" }));
    assertEquals(after.Expiration, undefined);
    await rejectsWith(
      () => client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: "no-such-bucket" })),
      "NoSuchBucket",
      404,
    );
  });
});

Deno.test("lifecycle API: AWS's errors for bad documents leave the stored rules alone", async () => {
  await withServer(async (server, client) => {
    const bucket = "lifecycle-raw";
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    const good = document(rule("<Expiration><Days>7</Days></Expiration>"));
    assertEquals(await putRaw(server, bucket, good), [200, undefined]);
    const cases: [string, string, "right" | "wrong" | "none", number, string][] = [
      ["no digest", good, "none", 400, "InvalidRequest"],
      ["wrong digest", good, "wrong", 400, "BadDigest"],
      ["not XML", "<LifecycleConfiguration><Rule>", "right", 400, "MalformedXML"],
      ["other root", "<Lifecycle/>", "right", 400, "MalformedXML"],
      ["no rules", document(""), "right", 400, "MalformedXML"],
      [
        "zero days",
        document(rule("<Expiration><Days>0</Days></Expiration>")),
        "right",
        400,
        "InvalidArgument",
      ],
      [
        "not midnight",
        document(rule("<Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration>")),
        "right",
        400,
        "InvalidArgument",
      ],
      [
        "bad status",
        document(rule("<Expiration><Days>1</Days></Expiration>").replace("Enabled", "On")),
        "right",
        400,
        "MalformedXML",
      ],
      ["no action", document(rule("")), "right", 400, "InvalidRequest"],
      [
        "marker with days",
        document(
          rule(
            "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
          ),
        ),
        "right",
        400,
        "MalformedXML",
      ],
      [
        "newer noncurrent out of range",
        document(
          rule(
            "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>0</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
          ),
        ),
        "right",
        400,
        "InvalidArgument",
      ],
      [
        "duplicate ids",
        document(rule("<Expiration><Days>1</Days></Expiration>").repeat(2)),
        "right",
        400,
        "InvalidArgument",
      ],
      [
        "transition",
        document(
          rule("<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>"),
        ),
        "right",
        501,
        "NotImplemented",
      ],
      [
        "too large",
        document(rule(`<Expiration><Days>1</Days></Expiration>${" ".repeat(1024 * 1024)}`)),
        "right",
        400,
        "MalformedXML",
      ],
    ];
    for (const [name, body, md5, status, code] of cases) {
      assertEquals(await putRaw(server, bucket, body, md5), [status, code], name);
    }
    assertEquals((await putRaw(server, "no-such-bucket", good))[0], 404);
    const { Rules } = await client.send(
      new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }),
    );
    assertEquals(Rules?.map((r) => [r.ID, r.Expiration?.Days]), [["r", 7]]);
  });
});

const BOTO_SCRIPT = String.raw`
import json, sys
import boto3
from botocore.exceptions import ClientError
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
bucket = sys.argv[2]
s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
  {"ID": "a", "Status": "Enabled",
   "Filter": {"And": {"Prefix": "p/", "Tags": [{"Key": "x", "Value": "1"}, {"Key": "y", "Value": "2"}],
                      "ObjectSizeLessThan": 1000}},
   "Expiration": {"Date": "2031-02-03T00:00:00Z"}},
  {"ID": "b", "Status": "Enabled", "Filter": {"ObjectSizeGreaterThan": 10},
   "NoncurrentVersionExpiration": {"NoncurrentDays": 4}},
]})
rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
try:
  s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
    {"ID": "c", "Status": "Enabled", "Filter": {"Tag": {"Key": "x", "Value": "1"}},
     "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})
  refused = None
except ClientError as e:
  refused = [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
print(json.dumps({"rules": rules, "refused": refused}, default=str))
`;

Deno.test({
  name:
    "lifecycle API: boto3 puts And/size filters and a Date, reads them back; tags with an abort are refused",
  ignore: !botoPresent,
  fn: async () => {
    await withServer(async (server, client) => {
      const bucket = "lifecycle-boto";
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const out = await runOk("python3", ["-c", BOTO_SCRIPT, server.endpoint, bucket], {
        ...PYTHON_ENV,
        ...awsEnv(),
      });
      const { rules, refused } = JSON.parse(out);
      assertEquals(rules[0].ID, "a");
      assertEquals(rules[0].Filter.And.Tags, [{ Key: "x", Value: "1" }, { Key: "y", Value: "2" }]);
      assertEquals(rules[0].Filter.And.ObjectSizeLessThan, 1000);
      assertStringIncludes(rules[0].Expiration.Date, "2031-02-03 00:00:00");
      assertEquals(rules[1].Filter, { ObjectSizeGreaterThan: 10 });
      assertEquals(rules[1].NoncurrentVersionExpiration, { NoncurrentDays: 4 });
      assertEquals(refused, ["InvalidRequest", 400]);
    });
  },
});

Deno.test({
  name: "lifecycle API: the AWS CLI puts, gets and deletes a configuration",
  ignore: !awsPresent,
  fn: async () => {
    await withServer(async (server, client) => {
      const bucket = "lifecycle-cli";
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const cli = (...args: string[]) =>
        run(
          AWS,
          ["--endpoint-url", server.endpoint, "s3api", ...args, "--bucket", bucket],
          awsEnv(),
        );
      const config = JSON.stringify({
        Rules: [{
          ID: "cli",
          Status: "Enabled",
          Filter: { Prefix: "old/" },
          Expiration: { Days: 30 },
          AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
        }],
      });
      const put = await cli(
        "put-bucket-lifecycle-configuration",
        "--lifecycle-configuration",
        config,
      );
      assertEquals(put.code, 0, put.stderr);
      const got = await cli("get-bucket-lifecycle-configuration");
      assertEquals(got.code, 0, got.stderr);
      const rules = JSON.parse(got.stdout).Rules;
      assertEquals(rules[0].ID, "cli");
      assertEquals(rules[0].Expiration, { Days: 30 });
      assertEquals(rules[0].AbortIncompleteMultipartUpload, { DaysAfterInitiation: 2 });
      assertEquals((await cli("delete-bucket-lifecycle")).code, 0);
      const gone = await cli("get-bucket-lifecycle-configuration");
      assert(gone.code !== 0, "the configuration is gone");
      assertStringIncludes(gone.stderr, "NoSuchLifecycleConfiguration");
    });
  },
});

Deno.test("lifecycle API: a user needs s3:GetLifecycleConfiguration to read the rules and s3:PutLifecycleConfiguration to put or delete them", async () => {
  const w = await world();
  const root = s3Client(w.server);
  const alice = s3(w.server, w.alice);
  try {
    const rules = {
      Bucket: BUCKET,
      LifecycleConfiguration: {
        Rules: [{ ID: "r", Status: "Enabled" as const, Filter: {}, Expiration: { Days: 9 } }],
      },
    };
    await root.send(new PutBucketLifecycleConfigurationCommand(rules));
    const get = () => alice.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKET }));
    const put = () => alice.send(new PutBucketLifecycleConfigurationCommand(rules));
    const remove = () => alice.send(new DeleteBucketLifecycleCommand({ Bucket: BUCKET }));
    for (const call of [get, put, remove]) assertEquals(await code(call), "AccessDenied");
    await root.send(
      new PutBucketPolicyCommand({
        Bucket: BUCKET,
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: "s3:GetLifecycleConfiguration",
            Resource: `arn:aws:s3:::${BUCKET}`,
          }],
        }),
      }),
    );
    assertEquals((await get()).Rules?.[0].Expiration?.Days, 9);
    for (const call of [put, remove]) assertEquals(await code(call), "AccessDenied");
    assertEquals((await get()).Rules?.[0].ID, "r");
  } finally {
    alice.destroy();
    root.destroy();
    await w.server.cleanup();
  }
});
