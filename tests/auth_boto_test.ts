/**
 * Round trips with botocore-based clients (python3-boto3 and the AWS CLI, when installed): a
 * second, independent SigV4 signer and checksum implementation against authenticate().
 */
import { assertEquals } from "./helpers/assert.ts";
import { KEYS, REGION, withServer } from "./auth_server.ts";

function works(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

const AWS_CLI = "/usr/bin/aws";
const hasBoto = works("python3", ["-c", "import boto3"]);
const hasCli = works(AWS_CLI, ["--version"]);

const env = {
  AWS_ACCESS_KEY_ID: KEYS.accessKey,
  AWS_SECRET_ACCESS_KEY: KEYS.secretKey,
  AWS_DEFAULT_REGION: REGION,
  AWS_CONFIG_FILE: "/dev/null",
  AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
};

async function run(command: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`${command} failed: ${new TextDecoder().decode(out.stderr)}`);
  return text;
}

const BOTO_SCRIPT = `
import io, sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], config=Config(s3={"addressing_style": "path"}))
data = bytes(range(256)) * 1000
s3.put_object(Bucket="bucket", Key="boto/a b+c~é.txt", Body=data)
s3.put_object(Bucket="bucket", Key="boto/sha256", Body=data, ChecksumAlgorithm="SHA256")
s3.upload_fileobj(io.BytesIO(data), "bucket", "boto/stream")
assert s3.get_object(Bucket="bucket", Key="boto/a b+c~é.txt")["Body"].read() == data
v4 = boto3.client("s3", endpoint_url=sys.argv[1], config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
params = {"Bucket": "bucket", "Key": "boto/stream"}
print(v4.generate_presigned_url("get_object", Params=params, ExpiresIn=60))
print(s3.generate_presigned_url("get_object", Params=params, ExpiresIn=60))
`;

Deno.test({
  name: "boto3: puts with its default checksums, a get and presigned URLs",
  ignore: !hasBoto,
  async fn() {
    await withServer(async (endpoint, received) => {
      const [v4Url, defaultUrl] = (await run("python3", ["-c", BOTO_SCRIPT, endpoint])).trim()
        .split("\n");
      const puts = received.filter((r) => r.method === "PUT");
      assertEquals(puts.length, 3);
      for (const put of puts) {
        assertEquals(put.data.length, 256000);
        assertEquals(Object.keys(put.checksums).length, 1, JSON.stringify(put));
      }
      assertEquals(Object.keys(puts[1].checksums), ["x-amz-checksum-sha256"]);
      const get = await fetch(v4Url);
      const body = await get.arrayBuffer();
      assertEquals(body.byteLength, 256000, `${v4Url}: ${new TextDecoder().decode(body)}`);
      // boto3's default presigned URL for us-east-1 is still SigV2, which is accepted.
      assertEquals(new URL(defaultUrl).searchParams.has("AWSAccessKeyId"), true, defaultUrl);
      const v2 = await fetch(defaultUrl);
      assertEquals((await v2.arrayBuffer()).byteLength, 256000, defaultUrl);
    });
  },
});

Deno.test({
  name: "AWS CLI: s3 cp up and down",
  ignore: !hasCli,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const data = new Uint8Array(100_000).map((_, i) => (i * 13) & 0xff);
      await Deno.writeFile(`${dir}/up.bin`, data);
      await withServer(async (endpoint, received) => {
        await run(AWS_CLI, [
          "--endpoint-url",
          endpoint,
          "s3",
          "cp",
          `${dir}/up.bin`,
          "s3://bucket/cli/up.bin",
        ]);
        await run(AWS_CLI, [
          "--endpoint-url",
          endpoint,
          "s3",
          "cp",
          "s3://bucket/cli/up.bin",
          `${dir}/down.bin`,
        ]);
        assertEquals(received[0].data, data);
      });
      assertEquals(await Deno.readFile(`${dir}/down.bin`), data);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
