/**
 * IAM and bucket metadata across the nodes of a real 4-node cluster: a change made through one
 * node holds on every other node on the very next request (a disabled or deleted key, a bucket
 * policy put or deleted, a new bucket), and a node stopped (SIGSTOP) while a change was made
 * refuses the disabled key on its first request after SIGCONT.
 */
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  IAMClient,
  UpdateAccessKeyCommand,
} from "@aws-sdk/client-iam";
import {
  CreateBucketCommand,
  DeleteBucketPolicyCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { nodeClient, startCluster, type TestCluster } from "./helpers/cluster.ts";
import { ACCESS_KEY, SECRET_KEY, type TestServer } from "./helpers/server.ts";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";

const BUCKET = "synced";

function iamClient(node: TestServer): IAMClient {
  return new IAMClient({
    endpoint: node.endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
}

function userClient(node: TestServer, key: { id: string; secret: string }): S3Client {
  return new S3Client({
    endpoint: node.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
}

async function anonymousGet(node: TestServer, key: string): Promise<number> {
  const response = await fetch(`${node.endpoint}/${BUCKET}/${key}`);
  await response.body?.cancel();
  return response.status;
}

function publicRead(prefix: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: `arn:aws:s3:::${BUCKET}/${prefix}*`,
    }],
  });
}

Deno.test({
  name: "cluster metadata: a change through one node holds on every node at once",
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  let cluster: TestCluster | undefined;
  let stopped: number | undefined;
  try {
    cluster = await startCluster();
    const nodes = [0, 1, 2, 3].map((i) => cluster!.node(i));
    const iam = iamClient(nodes[0]);
    await nodeClient(nodes[0]).send(new CreateBucketCommand({ Bucket: BUCKET }));
    await iam.send(new CreateUserCommand({ UserName: "carol" }));
    await iam.send(
      new AttachUserPolicyCommand({
        UserName: "carol",
        PolicyArn: "arn:aws:iam::aws:policy/readwrite",
      }),
    );
    const created = await iam.send(new CreateAccessKeyCommand({ UserName: "carol" }));
    const key = {
      id: created.AccessKey!.AccessKeyId!,
      secret: created.AccessKey!.SecretAccessKey!,
    };
    const list = (i: number) =>
      userClient(nodes[i], key).send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const setStatus = (status: "Active" | "Inactive") =>
      iam.send(
        new UpdateAccessKeyCommand({ UserName: "carol", AccessKeyId: key.id, Status: status }),
      );

    await t.step("a key disabled through node 1 is refused by nodes 2 and 4 at once", async () => {
      for (const i of [1, 3]) await list(i);
      await setStatus("Inactive");
      for (const i of [1, 3]) await assertS3Error(() => list(i), "InvalidAccessKeyId", 403);
      await setStatus("Active");
      for (const i of [1, 3]) await list(i);
    });

    await t.step("a bucket policy put through node 1 holds on node 3 at once", async () => {
      await nodeClient(nodes[0]).send(
        new PutObjectCommand({ Bucket: BUCKET, Key: "public/a", Body: "a" }),
      );
      assertEquals(await anonymousGet(nodes[2], "public/a"), 403);
      await nodeClient(nodes[0]).send(
        new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: publicRead("public/") }),
      );
      assertEquals(await anonymousGet(nodes[2], "public/a"), 200);
      await nodeClient(nodes[0]).send(new DeleteBucketPolicyCommand({ Bucket: BUCKET }));
      assertEquals(await anonymousGet(nodes[2], "public/a"), 403);
    });

    await t.step("a bucket created through node 2 is usable through node 3", async () => {
      await nodeClient(nodes[1]).send(new CreateBucketCommand({ Bucket: "made-on-two" }));
      await userClient(nodes[2], key).send(
        new PutObjectCommand({ Bucket: "made-on-two", Key: "k", Body: "v" }),
      );
      const listed = await userClient(nodes[2], key).send(
        new ListObjectsV2Command({ Bucket: "made-on-two" }),
      );
      assertEquals(listed.Contents?.map((o) => o.Key), ["k"]);
    });

    await t.step("a node stopped during a change refuses the key right after SIGCONT", async () => {
      await list(2);
      stopped = nodes[2].process.pid;
      Deno.kill(stopped, "SIGSTOP");
      // Long enough for the others' pings to find it unresponsive.
      await new Promise((r) => setTimeout(r, 3_000));
      await setStatus("Inactive");
      Deno.kill(stopped, "SIGCONT");
      stopped = undefined;
      await assertS3Error(() => list(2), "InvalidAccessKeyId", 403);
      assert(
        /stalled|reachable again/.test(nodes[2].output()),
        "node 3 says why it reloaded",
      );
    });

    await t.step("a key deleted through node 1 is refused by every node", async () => {
      await setStatus("Active");
      for (const i of [1, 2, 3]) await list(i);
      await iam.send(new DeleteAccessKeyCommand({ UserName: "carol", AccessKeyId: key.id }));
      for (const i of [0, 1, 2, 3]) {
        await assertS3Error(() => list(i), "InvalidAccessKeyId", 403);
      }
    });
  } finally {
    if (stopped !== undefined) Deno.kill(stopped, "SIGCONT");
    await cluster?.cleanup();
  }
});
