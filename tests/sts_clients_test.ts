/**
 * STS with the AWS CLI and boto3 against a real server: `aws sts get-caller-identity` and
 * `aws sts assume-role` with their JSON output; boto3's sts client, then its s3 client on the
 * temporary credentials with every way botocore carries the session token: SigV4 headers, SigV2
 * headers (signature_version "s3"), SigV2 and SigV4 presigned URLs, and presigned POST forms
 * (the x-amz-security-token field) posted here.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { clientPresent, runOk } from "./helpers/clients.ts";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { s3Client } from "./helpers/server.ts";
import { BUCKET, REGION, ROOT, type World, world } from "./helpers/sts.ts";

const AWS = "/usr/bin/aws";
const PYTHON = "/usr/bin/python3";
const BOTO3 = "/usr/lib/python3/dist-packages/boto3";
const awsPresent = clientPresent("sts_clients_test", AWS);
const botoPresent = clientPresent("sts_clients_test", PYTHON) &&
  clientPresent("sts_clients_test", BOTO3);

function env(keys: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) {
  return {
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    ...(keys.sessionToken ? { AWS_SESSION_TOKEN: keys.sessionToken } : {}),
    AWS_DEFAULT_REGION: REGION,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    AWS_EC2_METADATA_DISABLED: "true",
  };
}

async function cli(w: World, keys: Parameters<typeof env>[0], ...args: string[]) {
  const out = await runOk(
    AWS,
    ["--endpoint-url", w.server.endpoint, "--output", "json", ...args],
    env(keys),
  );
  return JSON.parse(out);
}

Deno.test({
  name: "AWS CLI: aws sts get-caller-identity and assume-role",
  ignore: !awsPresent,
  async fn() {
    const w = await world();
    try {
      const root = await cli(w, ROOT, "sts", "get-caller-identity");
      assertEquals(root, {
        UserId: w.account,
        Account: w.account,
        Arn: `arn:aws:iam::${w.account}:root`,
      });
      const alice = await cli(w, w.alice, "sts", "get-caller-identity");
      assertEquals(alice.Arn, w.alice.arn);
      const assumed = await cli(
        w,
        w.alice,
        "sts",
        "assume-role",
        "--role-arn",
        w.readerRoleArn,
        "--role-session-name",
        "cli-session",
        "--duration-seconds",
        "900",
      );
      const sessionArn = `arn:aws:sts::${w.account}:assumed-role/reader/cli-session`;
      assertEquals(assumed.AssumedRoleUser.Arn, sessionArn);
      const keys = {
        accessKeyId: assumed.Credentials.AccessKeyId,
        secretAccessKey: assumed.Credentials.SecretAccessKey,
        sessionToken: assumed.Credentials.SessionToken,
      };
      assertEquals((await cli(w, keys, "sts", "get-caller-identity")).Arn, sessionArn);
      const listed = await cli(w, keys, "s3api", "list-objects-v2", "--bucket", BUCKET);
      assertEquals(listed.Contents.map((o: { Key: string }) => o.Key), ["a.txt"]);
    } finally {
      await w.server.cleanup();
    }
  },
});

const BOTO_SCRIPT = String.raw`
import json, sys, urllib.request, urllib.error
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, key, secret, role_arn, bucket = sys.argv[1:6]
config = Config(retries={"max_attempts": 1})
sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=key, aws_secret_access_key=secret, config=config)
assumed = sts.assume_role(RoleArn=role_arn, RoleSessionName="boto-session", DurationSeconds=900)
c = assumed["Credentials"]
temp = dict(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"])
me = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=config, **temp)

def s3(signature):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **temp,
                        config=Config(signature_version=signature, s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))

def fetch(url):
    try:
        with urllib.request.urlopen(url) as response:
            return [response.status, response.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]

out = {"assumed": assumed["AssumedRoleUser"]["Arn"], "me": me.get_caller_identity()["Arn"]}
for signature in ("s3v4", "s3"):
    client = s3(signature)
    client.put_object(Bucket=bucket, Key="boto-" + signature, Body=b"hello " + signature.encode())
    out["get-" + signature] = client.get_object(Bucket=bucket, Key="boto-" + signature)["Body"].read().decode()
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "boto-" + signature}, ExpiresIn=60)
    out["presigned-" + signature] = [url, fetch(url)]
    out["post-" + signature] = client.generate_presigned_post(bucket, "posted-" + signature, ExpiresIn=60)
print(json.dumps(out))
`;

Deno.test({
  name: "boto3: assume_role, then S3 with the session token in headers, URLs and forms",
  ignore: !botoPresent,
  async fn() {
    const w = await world();
    try {
      const out = JSON.parse(
        await runOk(PYTHON, [
          "-c",
          BOTO_SCRIPT,
          w.server.endpoint,
          w.alice.accessKeyId,
          w.alice.secretAccessKey,
          w.readerRoleArn,
          BUCKET,
        ], { AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null" }),
      );
      const sessionArn = `arn:aws:sts::${w.account}:assumed-role/reader/boto-session`;
      assertEquals([out.assumed, out.me], [sessionArn, sessionArn]);
      for (const signature of ["s3v4", "s3"]) {
        assertEquals(out[`get-${signature}`], `hello ${signature}`);
        const [url, [status, body]] = out[`presigned-${signature}`];
        assert(/x-amz-security-token=/i.test(url), url);
        assertEquals([status, body], [200, `hello ${signature}`], url);
        const post: { url: string; fields: Record<string, string> } = out[`post-${signature}`];
        assert("x-amz-security-token" in post.fields, JSON.stringify(post.fields));
        const form = new FormData();
        for (const [name, value] of Object.entries(post.fields)) form.append(name, value);
        form.append("file", new Blob([`posted ${signature}`]));
        const posted = await fetch(post.url, { method: "POST", body: form });
        assertEquals(posted.status, 204, await posted.text());
        const stored = await s3Client(w.server).send(
          new GetObjectCommand({ Bucket: BUCKET, Key: `posted-${signature}` }),
        );
        assertEquals(await stored.Body!.transformToString(), `posted ${signature}`);
      }
    } finally {
      await w.server.cleanup();
    }
  },
});
