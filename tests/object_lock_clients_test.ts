/**
 * Object lock with boto3 1.43 (the pyenv python3) and the AWS CLI 2.9 against a real server: a
 * bucket created with object lock, its default retention, lock parameters on put_object and
 * create_multipart_upload, retention and legal hold calls, and a locked version that
 * delete_object (with the bypass too) and delete_objects cannot remove while a DELETE without a
 * version id only adds a marker.
 */

import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import {
  awsEnv,
  BOTO3_PRELUDE,
  boto3Json,
  clientPresent,
  modernBoto3,
  run,
  runOk,
} from "./helpers/clients.ts";
import { startServer } from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const hasCli = clientPresent("object_lock_clients_test (aws cli)", AWS);
const PYTHON = await modernBoto3("object_lock_clients_test");

const SCRIPT = BOTO3_PRELUDE + String.raw`

now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
later = now + datetime.timedelta(days=2)
out = {}
s3.create_bucket(Bucket="vault", ObjectLockEnabledForBucket=True)
out["versioning"] = s3.get_bucket_versioning(Bucket="vault")["Status"]
s3.put_object_lock_configuration(Bucket="vault", ObjectLockConfiguration={
    "ObjectLockEnabled": "Enabled",
    "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}}})
out["config"] = s3.get_object_lock_configuration(Bucket="vault")["ObjectLockConfiguration"]
d = s3.put_object(Bucket="vault", Key="default", Body=b"d")["VersionId"]
head = s3.head_object(Bucket="vault", Key="default")
out["default_mode"] = head["ObjectLockMode"]
out["default_years"] = round((head["ObjectLockRetainUntilDate"] - now).days / 365)

v = s3.put_object(Bucket="vault", Key="k", Body=b"kept", ObjectLockMode="COMPLIANCE",
                  ObjectLockRetainUntilDate=later)["VersionId"]
r = s3.get_object_retention(Bucket="vault", Key="k", VersionId=v)["Retention"]
out["retention"] = [r["Mode"], r["RetainUntilDate"] == later]
out["shorten"] = code(lambda: s3.put_object_retention(
    Bucket="vault", Key="k", VersionId=v, BypassGovernanceRetention=True,
    Retention={"Mode": "COMPLIANCE", "RetainUntilDate": now + datetime.timedelta(days=1)}))
s3.put_object_retention(Bucket="vault", Key="k", VersionId=v,
    Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later + datetime.timedelta(days=1)})
s3.put_object_legal_hold(Bucket="vault", Key="k", VersionId=v, LegalHold={"Status": "ON"})
out["hold"] = s3.get_object_legal_hold(Bucket="vault", Key="k", VersionId=v)["LegalHold"]["Status"]
out["delete_version"] = code(lambda: s3.delete_object(
    Bucket="vault", Key="k", VersionId=v, BypassGovernanceRetention=True))
errors = s3.delete_objects(Bucket="vault", BypassGovernanceRetention=True,
    Delete={"Objects": [{"Key": "k", "VersionId": v}]}).get("Errors", [])
out["delete_objects"] = [[e["Key"], e["Code"]] for e in errors]
out["marker"] = s3.delete_object(Bucket="vault", Key="k")["DeleteMarker"]
out["still"] = s3.get_object(Bucket="vault", Key="k", VersionId=v)["Body"].read().decode()

up = s3.create_multipart_upload(Bucket="vault", Key="mp", ObjectLockLegalHoldStatus="ON")
part = s3.upload_part(Bucket="vault", Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p")
mp = s3.complete_multipart_upload(Bucket="vault", Key="mp", UploadId=up["UploadId"],
    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})["VersionId"]
out["mp_hold"] = s3.head_object(Bucket="vault", Key="mp")["ObjectLockLegalHoldStatus"]
out["mp_delete"] = code(lambda: s3.delete_object(Bucket="vault", Key="mp", VersionId=mp))
out["default_delete"] = code(lambda: s3.delete_object(Bucket="vault", Key="default", VersionId=d))
s3.delete_object(Bucket="vault", Key="default", VersionId=d, BypassGovernanceRetention=True)
out["default_gone"] = code(lambda: s3.head_object(Bucket="vault", Key="default", VersionId=d))

s3.create_bucket(Bucket="plain")
out["plain_config"] = code(lambda: s3.get_object_lock_configuration(Bucket="plain"))
out["plain_put"] = code(lambda: s3.put_object(Bucket="plain", Key="k", Body=b"k",
                                              ObjectLockLegalHoldStatus="ON"))
print(json.dumps(out))
`;

Deno.test({
  name: "boto3: object lock, retention, legal hold, and a locked version that stays",
  ignore: PYTHON === undefined,
  async fn() {
    const server = await startServer();
    try {
      const out = await boto3Json(PYTHON!, SCRIPT, server);
      assertEquals(out, {
        versioning: "Enabled",
        config: {
          ObjectLockEnabled: "Enabled",
          Rule: { DefaultRetention: { Mode: "GOVERNANCE", Years: 1 } },
        },
        default_mode: "GOVERNANCE",
        default_years: 1,
        retention: ["COMPLIANCE", true],
        shorten: ["AccessDenied", 403],
        hold: "ON",
        delete_version: ["AccessDenied", 403],
        delete_objects: [["k", "AccessDenied"]],
        marker: true,
        still: "kept",
        mp_hold: "ON",
        mp_delete: ["AccessDenied", 403],
        default_delete: ["AccessDenied", 403],
        default_gone: ["404", 404],
        plain_config: ["ObjectLockConfigurationNotFoundError", 404],
        plain_put: ["InvalidRequest", 400],
      });
    } finally {
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "aws cli: s3api object lock calls, and delete-object refused on a locked version",
  ignore: !hasCli,
  async fn() {
    const server = await startServer();
    const env = { ...awsEnv(), HOME: server.dir };
    const args = (
      rest: string[],
    ) => ["--endpoint-url", server.endpoint, "--output", "json", ...rest];
    const aws = async (...rest: string[]) => {
      const out = await runOk(AWS, args(rest), env);
      return out.trim() === "" ? {} : JSON.parse(out);
    };
    const refused = async (code: string, ...rest: string[]) => {
      const result = await run(AWS, args(rest), env);
      assert(result.code !== 0, `aws ${rest.join(" ")} should fail`);
      assertStringIncludes(result.stderr, `(${code})`);
    };
    try {
      await aws(
        "s3api",
        "create-bucket",
        "--bucket",
        "cli-vault",
        "--object-lock-enabled-for-bucket",
      );
      await aws(
        "s3api",
        "put-object-lock-configuration",
        "--bucket",
        "cli-vault",
        "--object-lock-configuration",
        '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}',
      );
      const config = await aws("s3api", "get-object-lock-configuration", "--bucket", "cli-vault");
      assertEquals(config.ObjectLockConfiguration.Rule.DefaultRetention, {
        Mode: "COMPLIANCE",
        Days: 1,
      });
      const file = `${server.dir}/body.txt`;
      await Deno.writeTextFile(file, "locked");
      const put = await aws(
        "s3api",
        "put-object",
        "--bucket",
        "cli-vault",
        "--key",
        "k",
        "--body",
        file,
      );
      const versionId: string = put.VersionId;
      const retention = await aws(
        "s3api",
        "get-object-retention",
        "--bucket",
        "cli-vault",
        "--key",
        "k",
        "--version-id",
        versionId,
      );
      assertEquals(retention.Retention.Mode, "COMPLIANCE");
      await aws(
        "s3api",
        "put-object-legal-hold",
        "--bucket",
        "cli-vault",
        "--key",
        "k",
        "--legal-hold",
        "Status=ON",
      );
      const hold = await aws(
        "s3api",
        "get-object-legal-hold",
        "--bucket",
        "cli-vault",
        "--key",
        "k",
      );
      assertEquals(hold.LegalHold.Status, "ON");
      await refused(
        "AccessDenied",
        "s3api",
        "delete-object",
        "--bucket",
        "cli-vault",
        "--key",
        "k",
        "--version-id",
        versionId,
        "--bypass-governance-retention",
      );
      await refused(
        "InvalidBucketState",
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        "cli-vault",
        "--versioning-configuration",
        "Status=Suspended",
      );
      const marker = await aws("s3api", "delete-object", "--bucket", "cli-vault", "--key", "k");
      assertEquals(marker.DeleteMarker, true);
      const kept = await aws(
        "s3api",
        "get-object",
        "--bucket",
        "cli-vault",
        "--key",
        "k",
        "--version-id",
        versionId,
        `${file}.out`,
      );
      assertEquals([kept.ObjectLockMode, kept.ObjectLockLegalHoldStatus], ["COMPLIANCE", "ON"]);
      assertEquals(await Deno.readTextFile(`${file}.out`), "locked");
      await aws("s3api", "create-bucket", "--bucket", "cli-plain");
      await refused(
        "ObjectLockConfigurationNotFoundError",
        "s3api",
        "get-object-lock-configuration",
        "--bucket",
        "cli-plain",
      );
    } finally {
      await server.cleanup();
    }
  },
});
