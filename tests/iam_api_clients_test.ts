/**
 * The IAM Query API with botocore's signer and parsers: the AWS CLI (`aws iam …`, Debian's at
 * /usr/bin/aws) and boto3 (Debian's python3-boto3), which send no x-amz-content-sha256 header,
 * decode IAM's URL-encoded policy documents and page with Marker on their own. Bad input gets
 * AWS's codes.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { awsEnv, clientPresent, run, runOk } from "./helpers/clients.ts";
import { startServer } from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const PYTHON = "/usr/bin/python3";
const hasCli = clientPresent("iam_api_clients_test (aws cli)", AWS);
const hasBoto = clientPresent("iam_api_clients_test (boto3)", PYTHON) &&
  (await run(PYTHON, ["-c", "import boto3"], {})).code === 0;

const ENV = awsEnv();

const POLICY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/*" }],
});

Deno.test({
  name: "aws cli: aws iam users, keys, policies and AWS's error codes",
  ignore: !hasCli,
  async fn() {
    const server = await startServer();
    const env = { ...ENV, HOME: server.dir };
    const iam = async (...args: string[]) =>
      JSON.parse(
        await runOk(
          AWS,
          ["--endpoint-url", server.endpoint, "--output", "json", "iam", ...args],
          env,
        ) ||
          "{}",
      );
    const refused = async (code: string, ...args: string[]) => {
      const result = await run(AWS, ["--endpoint-url", server.endpoint, "iam", ...args], env);
      assert(result.code !== 0, `aws iam ${args.join(" ")} should fail`);
      assertStringIncludes(result.stderr, `(${code})`);
    };
    try {
      const user = await iam("create-user", "--user-name", "cli-user", "--path", "/cli/");
      assert(/^arn:aws:iam::\d{12}:user\/cli\/cli-user$/.test(user.User.Arn), user.User.Arn);
      await refused("EntityAlreadyExists", "create-user", "--user-name", "cli-user");
      await refused("ValidationError", "create-user", "--user-name", "no spaces please");
      for (const name of ["u1", "u2", "u3"]) await iam("create-user", "--user-name", name);
      // --page-size 1: the CLI follows IsTruncated/Marker through four pages.
      const users = await iam("list-users", "--page-size", "1");
      assertEquals(users.Users.map((u: { UserName: string }) => u.UserName), [
        "cli-user",
        "u1",
        "u2",
        "u3",
      ]);
      const key = await iam("create-access-key", "--user-name", "cli-user");
      assertEquals(key.AccessKey.SecretAccessKey.length, 40);
      const keys = await iam("list-access-keys", "--user-name", "cli-user");
      assertEquals(keys.AccessKeyMetadata[0].AccessKeyId, key.AccessKey.AccessKeyId);
      await refused("DeleteConflict", "delete-user", "--user-name", "cli-user");

      const policyFile = `${server.dir}/policy.json`;
      await Deno.writeTextFile(policyFile, POLICY);
      const policy = await iam(
        "create-policy",
        "--policy-name",
        "cli-read",
        "--policy-document",
        `file://${policyFile}`,
      );
      await Deno.writeTextFile(
        policyFile,
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}',
      );
      await refused(
        "MalformedPolicyDocument",
        "create-policy",
        "--policy-name",
        "cli-bad",
        "--policy-document",
        `file://${policyFile}`,
      );
      await iam("attach-user-policy", "--user-name", "cli-user", "--policy-arn", policy.Policy.Arn);
      const attached = await iam("list-attached-user-policies", "--user-name", "cli-user");
      assertEquals(attached.AttachedPolicies, [{
        PolicyName: "cli-read",
        PolicyArn: policy.Policy.Arn,
      }]);
      await iam(
        "put-user-policy",
        "--user-name",
        "u1",
        "--policy-name",
        "inline",
        "--policy-document",
        POLICY,
      );
      const inline = await iam("get-user-policy", "--user-name", "u1", "--policy-name", "inline");
      assertEquals(inline.PolicyDocument, JSON.parse(POLICY), "the CLI decodes the document");
      await refused("NoSuchEntity", "get-user", "--user-name", "nobody");
      await iam(
        "attach-user-policy",
        "--user-name",
        "u2",
        "--policy-arn",
        "arn:aws:iam::aws:policy/readonly",
      );
    } finally {
      await server.cleanup();
    }
  },
});

const BOTO_SCRIPT = `
import json, sys, boto3
from botocore.exceptions import ClientError
iam = boto3.client("iam", endpoint_url=sys.argv[1])
def code(call, **kw):
    try:
        call(**kw)
    except ClientError as e:
        return [e.response["Error"]["Code"], e.response["Error"]["Type"], e.response["ResponseMetadata"]["HTTPStatusCode"]]
    return None
trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"}]})
out = {}
out["role"] = iam.create_role(RoleName="boto-role", AssumeRolePolicyDocument=trust, MaxSessionDuration=7200)["Role"]["Arn"]
out["trust"] = iam.get_role(RoleName="boto-role")["Role"]["AssumeRolePolicyDocument"]
out["badDuration"] = code(iam.create_role, RoleName="r2", AssumeRolePolicyDocument=trust, MaxSessionDuration=43201)
out["badName"] = code(iam.create_user, UserName="x" * 65)
iam.create_user(UserName="boto-user")
iam.put_user_policy(UserName="boto-user", PolicyName="p", PolicyDocument=policy)
out["inline"] = iam.get_user_policy(UserName="boto-user", PolicyName="p")["PolicyDocument"]
out["oversized"] = code(iam.put_user_policy, UserName="boto-user", PolicyName="big", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"] * 200, "Resource": "*"}]}))
out["unknownAction"] = code(iam.put_user_policy, UserName="boto-user", PolicyName="bad", PolicyDocument=policy.replace("ListBucket", "ListBuckett"))
out["noUser"] = code(iam.delete_user, UserName="ghost")
pages = iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1})
for i in range(3):
    iam.create_user(UserName="page%d" % i)
out["users"] = [u["UserName"] for p in pages for u in p["Users"]]
print(json.dumps(out))
`;

Deno.test({
  name: "boto3: roles, inline policies, pagination and error codes",
  ignore: !hasBoto,
  async fn() {
    const server = await startServer();
    try {
      const out = JSON.parse(await runOk(PYTHON, ["-c", BOTO_SCRIPT, server.endpoint], ENV));
      assert(/^arn:aws:iam::\d{12}:role\/boto-role$/.test(out.role), out.role);
      assertEquals(out.trust.Statement[0].Principal, { AWS: "*" }, "boto3 decodes the document");
      assertEquals(out.badDuration, ["ValidationError", "Sender", 400]);
      assertEquals(out.badName, ["ValidationError", "Sender", 400]);
      assertEquals(out.inline.Statement[0].Action, "s3:ListBucket");
      assertEquals(out.oversized, ["LimitExceeded", "Sender", 409]);
      assertEquals(out.unknownAction, ["MalformedPolicyDocument", "Sender", 400]);
      assertEquals(out.noUser, ["NoSuchEntity", "Sender", 404]);
      assertEquals(out.users, ["boto-user", "page0", "page1", "page2"]);
    } finally {
      await server.cleanup();
    }
  },
});
