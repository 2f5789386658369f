/**
 * Real S3 clients against a 4-node × 2-drive cluster (real processes on loopback): what one client
 * writes through node 1 is read, listed and removed through the other nodes — the AWS SDK v3
 * (put, get, ranged get, list, multipart with parts sent to different nodes, copy, delete,
 * versioning), the AWS CLI (s3 cp/sync/ls/rm), boto3, rclone, s3cmd and minio-js. One cluster is
 * shared by every step (a cluster start costs several seconds of CPU). The single-node client
 * suites also run against a cluster node as they are: `deno task test:cluster`.
 */

import { Buffer } from "node:buffer";
import * as Minio from "minio";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import {
  awsEnv,
  clientPresent,
  md5Hex,
  MiB,
  multipartEtag,
  patterned,
  readTree,
  runOk,
  TREE,
  writeS3cmdConfig,
  writeTree,
} from "./helpers/clients.ts";
import { nodeClient, startCluster, type TestCluster } from "./helpers/cluster.ts";
import { ACCESS_KEY, SECRET_KEY } from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const PYTHON = "/usr/bin/python3";
const RCLONE = "/usr/bin/rclone";
const S3CMD = "/usr/bin/s3cmd";
const TEST = "cluster_clients_test";
const hasAws = clientPresent(TEST, AWS);
const hasBoto3 = clientPresent(TEST, PYTHON) &&
  clientPresent(TEST, "/usr/lib/python3/dist-packages/boto3");
const hasRclone = clientPresent(TEST, RCLONE);
const hasS3cmd = clientPresent(TEST, S3CMD);

const PART = 5 * MiB;
const BIG = patterned(3 * PART + 12_345, 41);

async function bytesOf(client: S3Client, bucket: string, key: string, extra = {}) {
  const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...extra }));
  return await got.Body!.transformToByteArray();
}

async function keysOf(client: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const listed = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(listed.Contents ?? []).map((o) => o.Key!));
    token = listed.NextContinuationToken;
    if (!token) break;
  }
  return keys;
}

Deno.test({
  name: "cluster 4×2: clients write through node 1 and read, list and delete through the others",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster: TestCluster = await startCluster();
    const s3 = [0, 1, 2, 3].map((i) => nodeClient(cluster.node(i)));
    const work = await Deno.makeTempDir({ prefix: "flashstor-cluster-clients-" });
    const endpoint = (i: number) => cluster.node(i).endpoint;
    try {
      await t.step(
        "SDK v3: put through node 1, get (whole, ranged) through 3, list through 4",
        async () => {
          await s3[0].send(new CreateBucketCommand({ Bucket: "sdk" }));
          const small = patterned(70_000, 1);
          for (let i = 0; i < 12; i++) {
            await s3[0].send(
              new PutObjectCommand({ Bucket: "sdk", Key: `dir/k${i}`, Body: small.slice(i) }),
            );
          }
          assertEquals(await bytesOf(s3[2], "sdk", "dir/k3"), small.slice(3));
          assertEquals(
            await bytesOf(s3[2], "sdk", "dir/k0", { Range: "bytes=1000-1999" }),
            small.slice(1000, 2000),
          );
          const keys = await keysOf(s3[3], "sdk", "dir/");
          assertEquals(keys.length, 12);
          assertEquals(keys, keys.slice().sort());
        },
      );

      await t.step("SDK v3: one multipart upload, each part sent to another node", async () => {
        const upload = await s3[0].send(
          new CreateMultipartUploadCommand({ Bucket: "sdk", Key: "multi.bin" }),
        );
        const parts = [];
        for (let n = 1; n <= 4; n++) {
          const body = BIG.subarray((n - 1) * PART, Math.min(BIG.length, n * PART));
          const part = await s3[n % 4].send(
            new UploadPartCommand({
              Bucket: "sdk",
              Key: "multi.bin",
              UploadId: upload.UploadId,
              PartNumber: n,
              Body: body,
            }),
          );
          parts.push({ PartNumber: n, ETag: part.ETag });
        }
        const done = await s3[3].send(
          new CompleteMultipartUploadCommand({
            Bucket: "sdk",
            Key: "multi.bin",
            UploadId: upload.UploadId,
            MultipartUpload: { Parts: parts },
          }),
        );
        assertEquals(done.ETag, `"${multipartEtag(BIG, PART)}"`);
        assertEquals(md5Hex(await bytesOf(s3[2], "sdk", "multi.bin")), md5Hex(BIG));
      });

      await t.step(
        "SDK v3: copy through node 2, delete through node 4, gone on node 1",
        async () => {
          await s3[1].send(
            new CopyObjectCommand({ Bucket: "sdk", Key: "copy.bin", CopySource: "sdk/multi.bin" }),
          );
          assertEquals(md5Hex(await bytesOf(s3[0], "sdk", "copy.bin")), md5Hex(BIG));
          await s3[3].send(new DeleteObjectCommand({ Bucket: "sdk", Key: "copy.bin" }));
          await assertS3Error(
            () => s3[0].send(new HeadObjectCommand({ Bucket: "sdk", Key: "copy.bin" })),
            "NotFound",
            404,
          );
        },
      );

      await t.step(
        "SDK v3: versions written through two nodes, listed and read on others",
        async () => {
          await s3[0].send(new CreateBucketCommand({ Bucket: "sdk-versions" }));
          await s3[2].send(
            new PutBucketVersioningCommand({
              Bucket: "sdk-versions",
              VersioningConfiguration: { Status: "Enabled" },
            }),
          );
          const v1 = await s3[1].send(
            new PutObjectCommand({ Bucket: "sdk-versions", Key: "doc", Body: "first" }),
          );
          const v2 = await s3[3].send(
            new PutObjectCommand({ Bucket: "sdk-versions", Key: "doc", Body: "second" }),
          );
          assert(v1.VersionId && v2.VersionId && v1.VersionId !== v2.VersionId);
          const text = async (i: number, versionId?: string) =>
            new TextDecoder().decode(
              await bytesOf(s3[i], "sdk-versions", "doc", { VersionId: versionId }),
            );
          assertEquals(await text(0), "second");
          assertEquals(await text(2, v1.VersionId), "first");
          await s3[0].send(new DeleteObjectCommand({ Bucket: "sdk-versions", Key: "doc" }));
          const listed = await s3[2].send(
            new ListObjectVersionsCommand({ Bucket: "sdk-versions" }),
          );
          assertEquals(listed.Versions?.map((v) => v.VersionId), [v2.VersionId, v1.VersionId]);
          assertEquals(listed.DeleteMarkers?.length, 1);
          assertEquals(listed.DeleteMarkers?.[0].IsLatest, true);
          await assertS3Error(
            () => s3[1].send(new GetObjectCommand({ Bucket: "sdk-versions", Key: "doc" })),
            "NoSuchKey",
            404,
          );
        },
      );

      await t.step({
        name: "AWS CLI: cp/sync up through node 1; ls, cp/sync down through 3 and 2; rm through 4",
        ignore: !hasAws,
        fn: async () => {
          const aws = (i: number, ...args: string[]) =>
            runOk(AWS, ["--endpoint-url", endpoint(i), ...args], { HOME: work, ...awsEnv() });
          await writeTree(`${work}/tree`, TREE);
          await Deno.writeFile(`${work}/big.bin`, BIG);
          await aws(0, "s3", "mb", "s3://cli");
          await aws(0, "s3", "cp", `${work}/big.bin`, "s3://cli/big.bin");
          await aws(0, "s3", "sync", `${work}/tree`, "s3://cli/tree");
          const listed = await aws(2, "s3", "ls", "--recursive", "s3://cli/");
          for (const path of [...Object.keys(TREE).map((p) => `tree/${p}`), "big.bin"]) {
            assert(listed.includes(path), `${path} not listed through node 3:\n${listed}`);
          }
          await aws(2, "s3", "cp", "s3://cli/big.bin", `${work}/big.back`);
          assertEquals(md5Hex(await Deno.readFile(`${work}/big.back`)), md5Hex(BIG));
          await aws(1, "s3", "sync", "s3://cli/tree", `${work}/tree.back`);
          assertEquals(await readTree(`${work}/tree.back`), TREE);
          await aws(3, "s3", "rm", "--recursive", "s3://cli/");
          assertEquals(await keysOf(s3[0], "cli"), []);
        },
      });

      await t.step({
        name: "boto3: upload_fileobj (multipart) through node 1; read and list through node 3",
        ignore: !hasBoto3,
        fn: async () => {
          const script = String.raw`
import io, json, sys, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
def client(url):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))
one, three = client(sys.argv[1]), client(sys.argv[2])
one.create_bucket(Bucket="boto")
data = bytes((i * 7 + (i >> 10)) & 0xff for i in range(12 * 1024 * 1024 + 3))
config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
one.upload_fileobj(io.BytesIO(data), "boto", "big.bin", Config=config)
for i in range(5):
    one.put_object(Bucket="boto", Key="small/%d" % i, Body=b"x" * (i + 1))
got = three.get_object(Bucket="boto", Key="big.bin")["Body"].read()
listed = three.list_objects_v2(Bucket="boto", Prefix="small/")
print(json.dumps({"same": got == data, "etag": three.head_object(Bucket="boto", Key="big.bin")["ETag"],
                  "keys": [o["Key"] for o in listed["Contents"]],
                  "sizes": [o["Size"] for o in listed["Contents"]]}))
`;
          const out = JSON.parse(
            await runOk(PYTHON, ["-c", script, endpoint(0), endpoint(2)], {
              HOME: work,
              ...awsEnv(),
            }),
          );
          assertEquals(out.same, true);
          assert(String(out.etag).endsWith('-3"'), `multipart ETag expected: ${out.etag}`);
          assertEquals(out.keys, [0, 1, 2, 3, 4].map((i) => `small/${i}`));
          assertEquals(out.sizes, [1, 2, 3, 4, 5]);
        },
      });

      await t.step({
        name: "rclone: copy a tree through node 1; check, lsf and cat through node 3",
        ignore: !hasRclone,
        fn: async () => {
          const env: Record<string, string> = { HOME: work, RCLONE_CONFIG: `${work}/rclone.conf` };
          await Deno.writeTextFile(`${work}/rclone.conf`, "");
          for (const i of [0, 2]) {
            const name = `RCLONE_CONFIG_N${i + 1}_`;
            Object.assign(env, {
              [`${name}TYPE`]: "s3",
              [`${name}PROVIDER`]: "Minio",
              [`${name}ENDPOINT`]: endpoint(i),
              [`${name}ACCESS_KEY_ID`]: ACCESS_KEY,
              [`${name}SECRET_ACCESS_KEY`]: SECRET_KEY,
              [`${name}REGION`]: "us-east-1",
              [`${name}FORCE_PATH_STYLE`]: "true",
            });
          }
          const rclone = (...args: string[]) =>
            runOk(RCLONE, ["--retries", "1", "--low-level-retries", "1", ...args], env);
          await writeTree(`${work}/rtree`, TREE);
          await rclone("mkdir", "n1:rcl");
          await rclone("copy", `${work}/rtree`, "n1:rcl/tree");
          await rclone("check", `${work}/rtree`, "n3:rcl/tree");
          const listed = (await rclone("lsf", "-R", "--files-only", "n3:rcl/tree"))
            .split("\n").filter((l) => l !== "").sort();
          assertEquals(listed, Object.keys(TREE).sort());
          assertEquals(await rclone("cat", "n3:rcl/tree/a/b/two.txt"), TREE["a/b/two.txt"]);
          await rclone("purge", "n3:rcl");
          await assertS3Error(
            () => s3[0].send(new ListObjectsV2Command({ Bucket: "rcl" })),
            "NoSuchBucket",
            404,
          );
        },
      });

      await t.step({
        name: "s3cmd: put through node 1; ls, get through node 3; del through node 2",
        ignore: !hasS3cmd,
        fn: async () => {
          const config = async (i: number) => {
            const path = await writeS3cmdConfig(`${work}/s3cfg${i + 1}`, cluster.node(i).port);
            return (...cmd: string[]) =>
              runOk(S3CMD, ["-c", path, "--no-progress", ...cmd], { HOME: work });
          };
          const [one, two, three] = [await config(0), await config(1), await config(2)];
          await Deno.writeFile(`${work}/s3cmd.bin`, BIG);
          await one("mb", "s3://s3c");
          await one("put", "--multipart-chunk-size-mb=5", `${work}/s3cmd.bin`, "s3://s3c/f.bin");
          assert((await three("ls", "s3://s3c/")).includes("s3://s3c/f.bin"));
          await three("get", "s3://s3c/f.bin", `${work}/s3cmd.back`);
          assertEquals(md5Hex(await Deno.readFile(`${work}/s3cmd.back`)), md5Hex(BIG));
          await two("del", "s3://s3c/f.bin");
          assertEquals(await keysOf(s3[0], "s3c"), []);
        },
      });

      await t.step("minio-js: put through node 1; stat, get, list through node 4", async () => {
        const minio = (i: number) =>
          new Minio.Client({
            endPoint: "127.0.0.1",
            port: cluster.node(i).port,
            useSSL: false,
            accessKey: ACCESS_KEY,
            secretKey: SECRET_KEY,
          });
        const [one, four] = [minio(0), minio(3)];
        await one.makeBucket("mio");
        const body = patterned(300_000, 5);
        await one.putObject("mio", "a/one.bin", Buffer.from(body));
        await one.putObject("mio", "a/two.bin", Buffer.from("two"));
        assertEquals((await four.statObject("mio", "a/one.bin")).size, body.length);
        const chunks: Uint8Array[] = [];
        for await (const chunk of await four.getObject("mio", "a/one.bin")) {
          chunks.push(chunk as Uint8Array);
        }
        assertEquals(md5Hex(...chunks), md5Hex(body));
        const names: string[] = [];
        for await (const item of four.listObjectsV2("mio", "a/", true)) {
          names.push((item as { name: string }).name);
        }
        assertEquals(names, ["a/one.bin", "a/two.bin"]);
        await four.removeObjects("mio", names);
        assertEquals(await keysOf(s3[0], "mio"), []);
      });
    } finally {
      for (const client of s3) client.destroy();
      await cluster.cleanup();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
