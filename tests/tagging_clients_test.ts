/**
 * Tagging with boto3 1.43 (the pyenv python3 first on PATH) and the AWS CLI 2.9 against a real
 * server: object tags on PUT, POST Object and by the tagging calls, counts on HEAD, copies with the
 * directive (and the CLI's s3-to-s3 copy, which carries tags along), bucket tags, and AWS's
 * error codes as the clients report them.
 */

import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import {
  awsEnv,
  BOTO3_PRELUDE,
  boto3Json,
  clientPresent,
  MiB,
  modernBoto3,
  patterned,
  run,
  runOk,
} from "./helpers/clients.ts";
import { startServer } from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const hasCli = clientPresent("tagging_clients_test (aws cli)", AWS);

const PYTHON = await modernBoto3("tagging_clients_test");

const SCRIPT = BOTO3_PRELUDE + String.raw`

def tags(key, **kw):
    return [[t["Key"], t["Value"]] for t in s3.get_object_tagging(Bucket="boto", Key=key, **kw)["TagSet"]]

def tag_set(n):
    return {"TagSet": [{"Key": "k%d" % i, "Value": "v"} for i in range(n)]}

out = {}
s3.create_bucket(Bucket="boto")
s3.put_bucket_versioning(Bucket="boto", VersioningConfiguration={"Status": "Enabled"})
v1 = s3.put_object(Bucket="boto", Key="k", Body=b"one", Tagging="a=1&b=two%20words")["VersionId"]
out["put"] = tags("k")
out["count"] = s3.head_object(Bucket="boto", Key="k")["TagCount"]
v2 = s3.put_object(Bucket="boto", Key="k", Body=b"two")["VersionId"]
r = s3.put_object_tagging(Bucket="boto", Key="k", VersionId=v1, Tagging={"TagSet": [{"Key": "x", "Value": "y"}]})
out["put_version"] = r["VersionId"] == v1
out["v1"] = tags("k", VersionId=v1)
out["v2"] = tags("k", VersionId=v2)
out["ten"] = s3.put_object_tagging(Bucket="boto", Key="k", Tagging=tag_set(10))["ResponseMetadata"]["HTTPStatusCode"]
out["eleven"] = code(lambda: s3.put_object_tagging(Bucket="boto", Key="k", Tagging=tag_set(11)))
out["reserved"] = code(lambda: s3.put_object_tagging(Bucket="boto", Key="k", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]}))
out["dup_header"] = code(lambda: s3.put_object(Bucket="boto", Key="d", Body=b"d", Tagging="a=1&a=2"))
out["missing"] = code(lambda: s3.get_object_tagging(Bucket="boto", Key="nope"))
s3.copy_object(Bucket="boto", Key="c", CopySource={"Bucket": "boto", "Key": "k", "VersionId": v1},
               TaggingDirective="REPLACE", Tagging="new=1")
out["copy_replace"] = tags("c")
s3.copy_object(Bucket="boto", Key="c2", CopySource={"Bucket": "boto", "Key": "k", "VersionId": v1})
out["copy_copy"] = tags("c2")
s3.delete_object_tagging(Bucket="boto", Key="k", VersionId=v1)
out["deleted"] = tags("k", VersionId=v1)
out["no_bucket_tags"] = code(lambda: s3.get_bucket_tagging(Bucket="boto"))
s3.put_bucket_tagging(Bucket="boto", Tagging={"TagSet": [{"Key": "team", "Value": "core"}]})
out["bucket"] = s3.get_bucket_tagging(Bucket="boto")["TagSet"]
out["bucket_51"] = code(lambda: s3.put_bucket_tagging(Bucket="boto", Tagging=tag_set(51)))
s3.delete_bucket_tagging(Bucket="boto")
out["bucket_deleted"] = code(lambda: s3.get_bucket_tagging(Bucket="boto"))

# POST Object: the form's tagging field is a Tagging document.
xml = "<Tagging><TagSet><Tag><Key>via</Key><Value>form</Value></Tag></TagSet></Tagging>"
signer = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
form = signer.generate_presigned_post(Bucket="boto", Key="posted", Fields={"tagging": xml},
                                      Conditions=[{"tagging": xml}])
boundary = "----flashstor-form"
body = b"".join(('--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n'
                 % (boundary, k, v)).encode() for k, v in form["fields"].items())
body += ('--%s\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\n'
         % boundary).encode() + b"posted" + ("\r\n--%s--\r\n" % boundary).encode()
request = urllib.request.Request(form["url"], data=body, method="POST",
                                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
out["post_status"] = urllib.request.urlopen(request).status
out["post"] = tags("posted")
print(json.dumps(out))
`;

Deno.test({
  name: "boto3: object and bucket tagging, and AWS's errors",
  ignore: PYTHON === undefined,
  async fn() {
    const server = await startServer();
    try {
      const out = await boto3Json(PYTHON!, SCRIPT, server);
      assertEquals(out, {
        put: [["a", "1"], ["b", "two words"]],
        count: 2,
        put_version: true,
        v1: [["x", "y"]],
        v2: [],
        ten: 200,
        eleven: ["InvalidTag", 400],
        reserved: ["InvalidTag", 400],
        dup_header: ["InvalidArgument", 400],
        missing: ["NoSuchKey", 404],
        copy_replace: [["new", "1"]],
        copy_copy: [["x", "y"]],
        deleted: [],
        no_bucket_tags: ["NoSuchTagSet", 404],
        bucket: [{ Key: "team", Value: "core" }],
        bucket_51: ["InvalidTag", 400],
        bucket_deleted: ["NoSuchTagSet", 404],
        post_status: 204,
        post: [["via", "form"]],
      });
    } finally {
      await server.cleanup();
    }
  },
});

const ENV_TAGS = [{ Key: "env", Value: "prod" }, { Key: "team", Value: "core" }];
const BIG = [{ Key: "size", Value: "big" }];

Deno.test({
  name: "aws cli: s3api tagging calls and an s3-to-s3 copy that carries tags",
  ignore: !hasCli,
  async fn() {
    const server = await startServer();
    const env = { ...awsEnv(), HOME: server.dir };
    const aws = async (...args: string[]) => {
      const out = await runOk(
        AWS,
        ["--endpoint-url", server.endpoint, "--output", "json", ...args],
        env,
      );
      return out.trim() === "" ? {} : JSON.parse(out);
    };
    try {
      await aws("s3api", "create-bucket", "--bucket", "cli");
      const file = `${server.dir}/body.txt`;
      await Deno.writeTextFile(file, "hello");
      await aws(
        "s3api",
        "put-object",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--body",
        file,
        "--tagging",
        "env=prod&team=core",
      );
      // CLI 2.9's model reads x-amz-tagging-count from GET only.
      const got = await aws("s3api", "get-object", "--bucket", "cli", "--key", "k", `${file}.out`);
      assertEquals(got.TagCount, 2);
      // Above its 8 MiB threshold the CLI copies in parts and carries the tags itself
      // (GetObjectTagging, then x-amz-tagging on CreateMultipartUpload).
      await Deno.writeFile(`${file}.big`, patterned(9 * MiB, 13));
      await aws(
        "s3api",
        "put-object",
        "--bucket",
        "cli",
        "--key",
        "big",
        "--body",
        `${file}.big`,
        "--tagging",
        "size=big",
      );
      const copies: [string, string, typeof BIG][] = [
        ["k", "copied", ENV_TAGS],
        ["big", "big-copy", BIG],
      ];
      for (const [source, target, tags] of copies) {
        await runOk(AWS, [
          "--endpoint-url",
          server.endpoint,
          "s3",
          "cp",
          "--no-progress",
          `s3://cli/${source}`,
          `s3://cli/${target}`,
        ], env);
        const copied = await aws("s3api", "get-object-tagging", "--bucket", "cli", "--key", target);
        assertEquals(copied.TagSet, tags, target);
      }
      const big = await aws("s3api", "head-object", "--bucket", "cli", "--key", "big-copy");
      assert(/-\d+"$/.test(big.ETag), `a multipart copy's ETag: ${big.ETag}`);
      await aws(
        "s3api",
        "put-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--tagging",
        "TagSet=[{Key=only,Value=one}]",
      );
      const tagged = await aws("s3api", "get-object-tagging", "--bucket", "cli", "--key", "k");
      assertEquals(tagged.TagSet, [{ Key: "only", Value: "one" }]);
      await aws(
        "s3api",
        "put-bucket-tagging",
        "--bucket",
        "cli",
        "--tagging",
        "TagSet=[{Key=a,Value=b}]",
      );
      const bucket = await aws("s3api", "get-bucket-tagging", "--bucket", "cli");
      assertEquals(bucket.TagSet, [{ Key: "a", Value: "b" }]);
      await aws("s3api", "delete-bucket-tagging", "--bucket", "cli");
      const refused = await run(
        AWS,
        ["--endpoint-url", server.endpoint, "s3api", "get-bucket-tagging", "--bucket", "cli"],
        env,
      );
      assert(refused.code !== 0);
      assertStringIncludes(refused.stderr, "(NoSuchTagSet)");
      const tooLong = await run(AWS, [
        "--endpoint-url",
        server.endpoint,
        "s3api",
        "put-object-tagging",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--tagging",
        `TagSet=[{Key=${"k".repeat(129)},Value=v}]`,
      ], env);
      assert(tooLong.code !== 0);
      assertStringIncludes(tooLong.stderr, "(InvalidTag)");
    } finally {
      await server.cleanup();
    }
  },
});
