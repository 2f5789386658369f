/**
 * IAM users' S3 requests against a real server, users made through the IAM API as an operator
 * would: the built-in readonly policy (GET and LIST, not PUT or DELETE) with the JS SDK and the
 * AWS CLI; a group's policy, until the user leaves the group; an explicit Deny in a user's
 * policy; ${aws:username} home folders (boto3 too); a bucket policy granting a second user one
 * prefix; ListBuckets without s3:ListAllMyBuckets; NoSuchKey only with s3:ListBucket; a disabled
 * key, a deleted key and a detached policy refused on the next request of an open keep-alive
 * connection; the admin API refuses users; all of it after a restart that lost m drives.
 */

import {
  AddUserToGroupCommand,
  AttachGroupPolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DetachUserPolicyCommand,
  IAMClient,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  SetDefaultPolicyVersionCommand,
  UpdateAccessKeyCommand,
} from "@aws-sdk/client-iam";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { clientPresent, run, runOk } from "./helpers/clients.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { RawClient } from "./http_client.ts";
import { signedFetch, signRequest, xmlField } from "./s3_raw.ts";

const REGION = "us-east-1";
const READONLY = "arn:aws:iam::aws:policy/readonly";
const READWRITE = "arn:aws:iam::aws:policy/readwrite";
const AWS = "/usr/bin/aws";
const awsPresent = clientPresent("iam_authorize_users_test", AWS);
const botoPresent = await run("python3", ["-c", "import boto3"], {
  PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
}).then((r) => r.code === 0, () => false);
if (!botoPresent) console.log("iam_authorize_users_test: boto3 parts skipped, no python3 boto3");

interface User {
  name: string;
  arn: string;
  accessKey: string;
  secretKey: string;
}

class Deployment {
  readonly iam: IAMClient;
  readonly root: S3Client;
  readonly #clients: S3Client[] = [];

  constructor(readonly server: TestServer) {
    this.iam = new IAMClient({
      endpoint: server.endpoint,
      region: REGION,
      maxAttempts: 1,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
    });
    this.root = s3Client(server);
  }

  async user(name: string): Promise<User> {
    const created = await this.iam.send(new CreateUserCommand({ UserName: name }));
    const key = await this.iam.send(new CreateAccessKeyCommand({ UserName: name }));
    assert(created.User?.Arn && key.AccessKey?.AccessKeyId && key.AccessKey.SecretAccessKey);
    return {
      name,
      arn: created.User.Arn,
      accessKey: key.AccessKey.AccessKeyId,
      secretKey: key.AccessKey.SecretAccessKey,
    };
  }

  s3(user: User): S3Client {
    const client = new S3Client({
      endpoint: this.server.endpoint,
      region: REGION,
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secretKey },
    });
    this.#clients.push(client);
    return client;
  }

  close(): void {
    for (const client of [this.iam, this.root, ...this.#clients]) client.destroy();
  }
}

async function withDeployment(
  fn: (d: Deployment) => Promise<void>,
  server?: TestServer,
): Promise<void> {
  const running = server ?? await startServer();
  const d = new Deployment(running);
  try {
    await d.root.send(new CreateBucketCommand({ Bucket: "data" }));
    for (const key of ["home/alice/a", "home/bob/b", "shared/s", "private/p"]) {
      await d.root.send(new PutObjectCommand({ Bucket: "data", Key: key, Body: key }));
    }
    await d.root.send(new CreateBucketCommand({ Bucket: "other" }));
    await fn(d);
  } finally {
    d.close();
    await running.cleanup();
  }
}

/** The AWS error name a call fails with. */
async function code(call: () => Promise<unknown>): Promise<string> {
  const err = await assertRejects(call);
  return err.name;
}

async function read(s3: S3Client, key: string, bucket = "data"): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return await out.Body!.transformToString();
}

function identityPolicy(...statements: object[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

Deno.test("users: readonly can GET and LIST, not PUT or DELETE; ListBuckets; 404 vs 403", async () => {
  await withDeployment(async (d) => {
    const alice = await d.user("alice");
    const s3 = d.s3(alice);
    assertEquals(await code(() => read(s3, "shared/s")), "AccessDenied");
    await d.iam.send(new AttachUserPolicyCommand({ UserName: "alice", PolicyArn: READONLY }));
    assertEquals(await read(s3, "shared/s"), "shared/s");
    await s3.send(new HeadObjectCommand({ Bucket: "data", Key: "shared/s" }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "data", Prefix: "home/" }));
    assertEquals(listed.Contents?.map((o) => o.Key), ["home/alice/a", "home/bob/b"]);
    const put = () =>
      s3.send(new PutObjectCommand({ Bucket: "data", Key: "shared/new", Body: "x" }));
    assertEquals(await code(put), "AccessDenied");
    const del = () => s3.send(new DeleteObjectCommand({ Bucket: "data", Key: "shared/s" }));
    assertEquals(await code(del), "AccessDenied");
    assertEquals(await read(d.root, "shared/s"), "shared/s");
    // With s3:ListBucket a missing key is told as such.
    assertEquals(await code(() => read(s3, "shared/missing")), "NoSuchKey");

    // Without s3:ListAllMyBuckets: the buckets the user may list (readonly: all of them).
    const buckets = await s3.send(new ListBucketsCommand({}));
    assertEquals(buckets.Buckets?.map((b) => b.Name), ["data", "other"]);

    // The admin API stays root's, whatever a user's policies allow.
    await d.iam.send(new AttachUserPolicyCommand({ UserName: "alice", PolicyArn: READWRITE }));
    const admin = await signedFetch(d.server, {
      method: "GET",
      path: "/flashstor/admin/v1/info",
      credentials: { accessKey: alice.accessKey, secretKey: alice.secretKey },
    });
    assertEquals([admin.status, xmlField(await admin.text(), "Code")], [403, "AccessDenied"]);

    // A user who may only read one prefix: a missing key is AccessDenied, ListBuckets empty.
    const bob = await d.user("bob");
    await d.iam.send(
      new PutUserPolicyCommand({
        UserName: "bob",
        PolicyName: "get-shared",
        PolicyDocument: identityPolicy({
          Effect: "Allow",
          Action: "s3:GetObject",
          Resource: "arn:aws:s3:::data/shared/*",
        }),
      }),
    );
    const bobS3 = d.s3(bob);
    assertEquals(await read(bobS3, "shared/s"), "shared/s");
    assertEquals(await code(() => read(bobS3, "shared/missing")), "AccessDenied");
    assertEquals((await bobS3.send(new ListBucketsCommand({}))).Buckets ?? [], []);
  });
});

Deno.test({
  name: "users: the AWS CLI as a readonly user (ls and cp down work, cp up is refused)",
  ignore: !awsPresent,
  async fn() {
    await withDeployment(async (d) => {
      const alice = await d.user("alice");
      await d.iam.send(new AttachUserPolicyCommand({ UserName: "alice", PolicyArn: READONLY }));
      const env = {
        AWS_ACCESS_KEY_ID: alice.accessKey,
        AWS_SECRET_ACCESS_KEY: alice.secretKey,
        AWS_DEFAULT_REGION: REGION,
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        HOME: "/tmp",
      };
      const cli = ["--endpoint-url", d.server.endpoint, "s3"];
      const ls = await runOk(AWS, [...cli, "ls", "s3://data/home/", "--recursive"], env);
      assert(ls.includes("home/alice/a") && ls.includes("home/bob/b"), ls);
      const dir = await Deno.makeTempDir();
      try {
        await runOk(AWS, [...cli, "cp", "s3://data/shared/s", `${dir}/s`], env);
        assertEquals(await Deno.readTextFile(`${dir}/s`), "shared/s");
        const up = await run(AWS, [...cli, "cp", `${dir}/s`, "s3://data/shared/up"], env);
        assert(up.code !== 0 && up.stderr.includes("AccessDenied"), up.stderr);
        const rm = await run(AWS, [...cli, "rm", "s3://data/shared/s"], env);
        assert(rm.code !== 0 && rm.stderr.includes("AccessDenied"), rm.stderr);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

Deno.test("users: a group's policy applies to its members, until they leave", async () => {
  await withDeployment(async (d) => {
    const bob = await d.user("bob");
    const s3 = d.s3(bob);
    await d.iam.send(new CreateGroupCommand({ GroupName: "readers" }));
    await d.iam.send(new AttachGroupPolicyCommand({ GroupName: "readers", PolicyArn: READONLY }));
    assertEquals(await code(() => read(s3, "shared/s")), "AccessDenied");
    await d.iam.send(new AddUserToGroupCommand({ GroupName: "readers", UserName: "bob" }));
    assertEquals(await read(s3, "shared/s"), "shared/s");
    await d.iam.send(new RemoveUserFromGroupCommand({ GroupName: "readers", UserName: "bob" }));
    assertEquals(await code(() => read(s3, "shared/s")), "AccessDenied");
  });
});

Deno.test("users: an explicit Deny in a user's policy beats an Allow", async () => {
  await withDeployment(async (d) => {
    const alice = await d.user("alice");
    await d.iam.send(
      new PutUserPolicyCommand({
        UserName: "alice",
        PolicyName: "all-but-private",
        PolicyDocument: identityPolicy(
          { Effect: "Allow", Action: "s3:*", Resource: "*" },
          { Effect: "Deny", Action: "s3:GetObject", Resource: "arn:aws:s3:::data/private/*" },
        ),
      }),
    );
    const s3 = d.s3(alice);
    assertEquals(await read(s3, "shared/s"), "shared/s");
    assertEquals(await code(() => read(s3, "private/p")), "AccessDenied");
    // A bucket policy's Allow does not lift it either.
    await d.root.send(
      new PutBucketPolicyCommand({
        Bucket: "data",
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: alice.arn },
            Action: "s3:GetObject",
            Resource: "arn:aws:s3:::data/*",
          }],
        }),
      }),
    );
    assertEquals(await code(() => read(s3, "private/p")), "AccessDenied");
  });
});

/** AWS's home-folder example: list and use only home/<your name>/. */
const HOME_FOLDERS = identityPolicy(
  {
    Effect: "Allow",
    Action: "s3:ListBucket",
    Resource: "arn:aws:s3:::data",
    Condition: { StringLike: { "s3:prefix": ["home/${aws:username}/*"] } },
  },
  {
    Effect: "Allow",
    Action: ["s3:GetObject", "s3:PutObject"],
    Resource: "arn:aws:s3:::data/home/${aws:username}/*",
  },
);

Deno.test("users: ${aws:username} home folders", async () => {
  await withDeployment(async (d) => {
    const users = [await d.user("alice"), await d.user("bob")];
    for (const user of users) {
      await d.iam.send(
        new PutUserPolicyCommand({
          UserName: user.name,
          PolicyName: "home",
          PolicyDocument: HOME_FOLDERS,
        }),
      );
    }
    const alice = d.s3(users[0]);
    assertEquals(await read(alice, "home/alice/a"), "home/alice/a");
    await alice.send(new PutObjectCommand({ Bucket: "data", Key: "home/alice/new", Body: "n" }));
    assertEquals(await code(() => read(alice, "home/bob/b")), "AccessDenied");
    const intoBob = () =>
      alice.send(new PutObjectCommand({ Bucket: "data", Key: "home/bob/x", Body: "x" }));
    assertEquals(await code(intoBob), "AccessDenied");
    const list = (prefix?: string) =>
      alice.send(new ListObjectsV2Command({ Bucket: "data", Prefix: prefix }));
    assertEquals((await list("home/alice/")).Contents?.map((o) => o.Key), [
      "home/alice/a",
      "home/alice/new",
    ]);
    assertEquals(await code(() => list("home/bob/")), "AccessDenied");
    assertEquals(await code(() => list()), "AccessDenied");

    if (!botoPresent) return;
    const script = `
import sys, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=sys.argv[1], aws_access_key_id=sys.argv[2],
    aws_secret_access_key=sys.argv[3], region_name="us-east-1",
    config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
print(s3.get_object(Bucket="data", Key="home/bob/b")["Body"].read().decode())
for key in ["home/alice/a"]:
    try:
        s3.get_object(Bucket="data", Key=key)
    except s3.exceptions.ClientError as e:
        print(e.response["Error"]["Code"])
print(len(s3.list_objects_v2(Bucket="data", Prefix="home/bob/")["Contents"]))
`;
    const bob = users[1];
    const out = await runOk(
      "python3",
      ["-c", script, d.server.endpoint, bob.accessKey, bob.secretKey],
      { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    );
    assertEquals(out.trim().split("\n"), ["home/bob/b", "AccessDenied", "1"]);
  });
});

Deno.test("users: a bucket policy grants a second user one prefix", async () => {
  await withDeployment(async (d) => {
    const carol = await d.user("carol");
    const s3 = d.s3(carol);
    assertEquals(await code(() => read(s3, "shared/s")), "AccessDenied");
    await d.root.send(
      new PutBucketPolicyCommand({
        Bucket: "data",
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: [carol.arn] },
            Action: ["s3:GetObject", "s3:PutObject"],
            Resource: "arn:aws:s3:::data/shared/*",
          }],
        }),
      }),
    );
    assertEquals(await read(s3, "shared/s"), "shared/s");
    await s3.send(new PutObjectCommand({ Bucket: "data", Key: "shared/carol", Body: "c" }));
    assertEquals(await code(() => read(s3, "home/alice/a")), "AccessDenied");
    // Another user is not named by it.
    const dave = d.s3(await d.user("dave"));
    assertEquals(await code(() => read(dave, "shared/s")), "AccessDenied");
  });
});

Deno.test("users: a detached policy, a managed policy's new default version, a disabled key and a deleted key hold on the next keep-alive request", async () => {
  await withDeployment(async (d) => {
    const alice = await d.user("alice");
    await d.iam.send(new AttachUserPolicyCommand({ UserName: "alice", PolicyArn: READONLY }));
    const client = await RawClient.connect(d.server.port);
    const host = `127.0.0.1:${d.server.port}`;
    const get = async (user: User, key = "shared/s") => {
      const credentials = { accessKey: user.accessKey, secretKey: user.secretKey };
      const { target, headers } = signRequest(
        { method: "GET", path: `/data/${key}`, credentials },
        host,
      );
      const head = [
        `GET ${target} HTTP/1.1`,
        ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`),
      ];
      await client.send(head.join("\r\n") + "\r\n\r\n");
      const response = await client.response();
      assertEquals(response.headers.get("connection") === "close", false, "kept alive");
      return response.status;
    };
    try {
      assertEquals(await get(alice), 200);
      await d.iam.send(new DetachUserPolicyCommand({ UserName: "alice", PolicyArn: READONLY }));
      assertEquals(await get(alice), 403);
      await d.iam.send(new AttachUserPolicyCommand({ UserName: "alice", PolicyArn: READONLY }));
      assertEquals(await get(alice), 200);

      // A managed policy edited through a new default version: it holds on the next request.
      const allowShared = (effect: string) =>
        identityPolicy({ Effect: effect, Action: "s3:GetObject", Resource: "arn:aws:s3:::data/*" });
      const created = await d.iam.send(
        new CreatePolicyCommand({
          PolicyName: "shared-reader",
          PolicyDocument: allowShared("Allow"),
        }),
      );
      const policyArn = created.Policy!.Arn!;
      await d.iam.send(new AttachUserPolicyCommand({ UserName: "alice", PolicyArn: policyArn }));
      await d.iam.send(
        new CreatePolicyVersionCommand({
          PolicyArn: policyArn,
          PolicyDocument: allowShared("Deny"),
          SetAsDefault: true,
        }),
      );
      assertEquals(await get(alice), 403, "the new default version denies");
      await d.iam.send(
        new SetDefaultPolicyVersionCommand({ PolicyArn: policyArn, VersionId: "v1" }),
      );
      assertEquals(await get(alice), 200, "back to v1");
      await d.iam.send(new DetachUserPolicyCommand({ UserName: "alice", PolicyArn: policyArn }));

      await d.iam.send(
        new UpdateAccessKeyCommand({
          UserName: "alice",
          AccessKeyId: alice.accessKey,
          Status: "Inactive",
        }),
      );
      assertEquals(await get(alice), 403);
      await d.iam.send(
        new UpdateAccessKeyCommand({
          UserName: "alice",
          AccessKeyId: alice.accessKey,
          Status: "Active",
        }),
      );
      assertEquals(await get(alice), 200);
      await d.iam.send(
        new DeleteAccessKeyCommand({ UserName: "alice", AccessKeyId: alice.accessKey }),
      );
      assertEquals(await get(alice), 403);
    } finally {
      client.close();
    }
  });
});

Deno.test("users: policies, groups and bucket policies survive a restart that lost m drives", async () => {
  const server = await startServer({ drives: 4 });
  const dir = server.dir;
  let restarted: TestServer | undefined;
  await withDeployment(async (d) => {
    const alice = await d.user("alice");
    await d.iam.send(new CreateGroupCommand({ GroupName: "readers" }));
    await d.iam.send(new AttachGroupPolicyCommand({ GroupName: "readers", PolicyArn: READONLY }));
    await d.iam.send(new AddUserToGroupCommand({ GroupName: "readers", UserName: "alice" }));
    const carol = await d.user("carol");
    await d.root.send(
      new PutBucketPolicyCommand({
        Bucket: "data",
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: carol.arn },
            Action: "s3:GetObject",
            Resource: "arn:aws:s3:::data/shared/*",
          }],
        }),
      }),
    );
    await d.server.stop();
    // 4 drives are 2 data + 2 parity: lose two.
    for (const lost of ["d2", "d4"]) {
      await Deno.remove(`${dir}/${lost}`, { recursive: true });
      await Deno.mkdir(`${dir}/${lost}`);
    }
    restarted = await startServer({ dir, drives: 4 });
    const after = new Deployment(restarted);
    try {
      const aliceS3 = after.s3(alice);
      assertEquals(await read(aliceS3, "shared/s"), "shared/s");
      const put = () =>
        aliceS3.send(new PutObjectCommand({ Bucket: "data", Key: "shared/x", Body: "x" }));
      assertEquals(await code(put), "AccessDenied");
      const carolS3 = after.s3(carol);
      assertEquals(await read(carolS3, "shared/s"), "shared/s");
      assertEquals(await code(() => read(carolS3, "private/p")), "AccessDenied");
    } finally {
      after.close();
      await restarted.stop();
    }
  }, server);
});
