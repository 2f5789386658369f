/**
 * Versioning and conditional writes with boto3 1.43 (the pyenv python3: Debian's boto3 1.26 and
 * the AWS CLI 2.9 predate conditional writes) and the AWS CLI against a real server: bucket
 * versioning, versions by id, delete markers (a 404 with x-amz-delete-marker), the
 * list_object_versions paginator, delete_objects with versions, copies from a version, the MFA
 * delete refusal, and If-None-Match: * on put_object and complete_multipart_upload.
 *
 * The boto3 script prints what it observed as JSON; the assertions are here.
 */

import { assert, assertEquals } from "./helpers/assert.ts";
import { awsEnv, clientPresent, modernBoto3, run, runOk } from "./helpers/clients.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const awsPresent = clientPresent("versioning_clients_test", AWS);

const python = await modernBoto3("versioning_clients_test", 35);

const SCRIPT = String.raw`
import json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
out = {}

def error(call):
    try:
        call()
    except ClientError as e:
        headers = e.response["ResponseMetadata"].get("HTTPHeaders", {})
        return [e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"],
                headers.get("x-amz-delete-marker")]
    return None

s3.create_bucket(Bucket="pyver")
s3.put_bucket_versioning(Bucket="pyver", VersioningConfiguration={"Status": "Enabled"})
out["status"] = s3.get_bucket_versioning(Bucket="pyver").get("Status")
out["mfa"] = error(lambda: s3.put_bucket_versioning(
    Bucket="pyver", MFA="arn:aws:iam::123456789012:mfa/root 123456",
    VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}))
ids = [s3.put_object(Bucket="pyver", Key="k", Body=b"v%d" % i)["VersionId"] for i in range(3)]
out["ids"] = ids
out["first"] = s3.get_object(Bucket="pyver", Key="k", VersionId=ids[0])["Body"].read().decode()
marker = s3.delete_object(Bucket="pyver", Key="k")
out["marker"] = [marker.get("DeleteMarker"), marker.get("VersionId")]
out["head_deleted"] = error(lambda: s3.head_object(Bucket="pyver", Key="k"))
out["get_marker"] = error(lambda: s3.get_object(Bucket="pyver", Key="k", VersionId=marker["VersionId"]))
for key in ["a", "b"]:
    s3.put_object(Bucket="pyver", Key=key, Body=b"x")
listed = []
for page in s3.get_paginator("list_object_versions").paginate(
        Bucket="pyver", PaginationConfig={"PageSize": 2}):
    for entry in page.get("Versions", []):
        listed.append(["V", entry["Key"], entry["VersionId"], entry["IsLatest"]])
    for entry in page.get("DeleteMarkers", []):
        listed.append(["M", entry["Key"], entry["VersionId"], entry["IsLatest"]])
out["listed"] = listed
copied = s3.copy_object(Bucket="pyver", Key="copy",
                        CopySource={"Bucket": "pyver", "Key": "k", "VersionId": ids[1]})
out["copied"] = [copied.get("CopySourceVersionId"),
                 s3.get_object(Bucket="pyver", Key="copy")["Body"].read().decode()]
deleted = s3.delete_objects(Bucket="pyver", Delete={"Objects": [
    {"Key": "k", "VersionId": ids[2]}, {"Key": "k", "VersionId": marker["VersionId"]},
    {"Key": "a"}]})
out["deleted"] = sorted(([d["Key"], d.get("VersionId"), d.get("DeleteMarker", False)]
                         for d in deleted.get("Deleted", [])), key=lambda d: (d[0], not d[2]))
out["now"] = s3.get_object(Bucket="pyver", Key="k")["Body"].read().decode()

s3.put_object(Bucket="pyver", Key="once", Body=b"1", IfNoneMatch="*")
out["put_again"] = error(lambda: s3.put_object(Bucket="pyver", Key="once", Body=b"2", IfNoneMatch="*"))
upload = s3.create_multipart_upload(Bucket="pyver", Key="once")["UploadId"]
etag = s3.upload_part(Bucket="pyver", Key="once", UploadId=upload, PartNumber=1, Body=b"mp")["ETag"]
parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
out["complete_again"] = error(lambda: s3.complete_multipart_upload(
    Bucket="pyver", Key="once", UploadId=upload, MultipartUpload=parts, IfNoneMatch="*"))
out["once"] = s3.get_object(Bucket="pyver", Key="once")["Body"].read().decode()
print(json.dumps(out))
`;

Deno.test({
  name: "versioning clients: boto3 1.43",
  ignore: python === undefined,
  async fn() {
    const server = await startServer();
    try {
      const out = JSON.parse(await runOk(python!, ["-c", SCRIPT, server.endpoint], awsEnv()));
      assertEquals(out.status, "Enabled");
      assertEquals(out.mfa?.slice(0, 2), ["NotImplemented", 501]);
      const [v0, v1, v2] = out.ids as string[];
      assertEquals(new Set([v0, v1, v2]).size, 3);
      assertEquals(out.first, "v0");
      const marker = out.marker[1] as string;
      assertEquals(out.marker[0], true);
      assertEquals(out.head_deleted, ["404", 404, "true"]);
      assertEquals(out.get_marker, ["MethodNotAllowed", 405, "true"]);
      // boto3 merges the pages' Versions and DeleteMarkers; per kind, the order is the server's.
      const listed = out.listed as [string, string, string, boolean][];
      assertEquals(listed.filter((e) => e[0] === "V").map((e) => [e[1], e[2] === v2, e[3]]), [
        ["a", false, true],
        ["b", false, true],
        ["k", true, false],
        ["k", false, false],
        ["k", false, false],
      ]);
      assertEquals(listed.filter((e) => e[0] === "M"), [["M", "k", marker, true]]);
      assertEquals(out.copied, [v1, "v1"]);
      assertEquals(out.deleted, [["a", null, true], ["k", marker, true], ["k", v2, false]]);
      assertEquals(out.now, "v1");
      assertEquals(out.put_again, ["PreconditionFailed", 412, null]);
      assertEquals(out.complete_again, ["PreconditionFailed", 412, null]);
      assertEquals(out.once, "1");
    } finally {
      await server.cleanup();
    }
  },
});

async function aws(server: TestServer, ...args: string[]): Promise<Record<string, unknown>> {
  const out = await runOk(AWS, ["--endpoint-url", server.endpoint, "s3api", ...args], awsEnv());
  return out.trim() === "" ? {} : JSON.parse(out);
}

Deno.test({
  name: "versioning clients: the AWS CLI",
  ignore: !awsPresent,
  async fn() {
    const server = await startServer();
    const dir = await Deno.makeTempDir({ prefix: "flashstor-versioning-cli-" });
    try {
      await aws(server, "create-bucket", "--bucket", "cli");
      await aws(
        server,
        "put-bucket-versioning",
        "--bucket",
        "cli",
        "--versioning-configuration",
        "Status=Enabled",
      );
      assertEquals(await aws(server, "get-bucket-versioning", "--bucket", "cli"), {
        Status: "Enabled",
      });
      const ids: string[] = [];
      for (const content of ["one", "two"]) {
        await Deno.writeTextFile(`${dir}/body`, content);
        const put = await aws(
          server,
          "put-object",
          "--bucket",
          "cli",
          "--key",
          "k",
          "--body",
          `${dir}/body`,
        );
        ids.push(put.VersionId as string);
      }
      const got = await aws(
        server,
        "get-object",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--version-id",
        ids[0],
        `${dir}/out`,
      );
      assertEquals([got.VersionId, await Deno.readTextFile(`${dir}/out`)], [ids[0], "one"]);
      const marker = await aws(server, "delete-object", "--bucket", "cli", "--key", "k");
      assertEquals(marker.DeleteMarker, true);
      const listed = await aws(server, "list-object-versions", "--bucket", "cli");
      const versions = listed.Versions as { VersionId: string; IsLatest: boolean }[];
      const markers = listed.DeleteMarkers as { VersionId: string; IsLatest: boolean }[];
      assertEquals(versions.map((v) => [v.VersionId, v.IsLatest]), [[ids[1], false], [
        ids[0],
        false,
      ]]);
      assertEquals(markers.map((m) => [m.VersionId, m.IsLatest]), [[marker.VersionId, true]]);
      const head = await run(
        AWS,
        [
          "--endpoint-url",
          server.endpoint,
          "s3api",
          "head-object",
          "--bucket",
          "cli",
          "--key",
          "k",
        ],
        awsEnv(),
      );
      assert(head.code !== 0 && head.stderr.includes("404"), head.stderr);
      await aws(
        server,
        "delete-object",
        "--bucket",
        "cli",
        "--key",
        "k",
        "--version-id",
        marker.VersionId as string,
      );
      const current = await aws(server, "head-object", "--bucket", "cli", "--key", "k");
      assertEquals(current.VersionId, ids[1]);
      const refused = await run(
        AWS,
        [
          "--endpoint-url",
          server.endpoint,
          "s3api",
          "put-bucket-versioning",
          "--bucket",
          "cli",
          "--versioning-configuration",
          "Status=Suspended,MFADelete=Enabled",
          "--mfa",
          "arn:aws:iam::123456789012:mfa/root 123456",
        ],
        awsEnv(),
      );
      assert(refused.code !== 0 && refused.stderr.includes("NotImplemented"), refused.stderr);
      assertEquals(await aws(server, "get-bucket-versioning", "--bucket", "cli"), {
        Status: "Enabled",
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
      await server.cleanup();
    }
  },
});
