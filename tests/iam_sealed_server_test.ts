/**
 * IAM secrets sealed by the key service, end to end: a user's secret made through the IAM API
 * while the server runs with FLASHSTOR_KMS_SECRET_KEY is in no file of any drive (a user made
 * before, without it, is found there in plain until the server starts with it, which seals
 * it); after a restart both users authenticate; restarted without the key, the server serves
 * root and says which users' keys it cannot open, and those fail to authenticate.
 */
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";
import { foundUnder, kmsEnv, rootKey } from "./kms_util.ts";

interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
}

const ROOT: Keys = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
const config = (server: TestServer, credentials: Keys) => ({
  endpoint: server.endpoint,
  region: "us-east-1",
  maxAttempts: 1,
  credentials,
});

async function newUser(server: TestServer, name: string): Promise<Keys> {
  const iam = new IAMClient(config(server, ROOT));
  await iam.send(new CreateUserCommand({ UserName: name }));
  const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: name }));
  assert(AccessKey?.AccessKeyId && AccessKey.SecretAccessKey);
  return { accessKeyId: AccessKey.AccessKeyId, secretAccessKey: AccessKey.SecretAccessKey };
}

/** The ARN the server authenticates `keys` as. */
async function whoAmI(server: TestServer, keys: Keys): Promise<string | undefined> {
  return (await new STSClient(config(server, keys)).send(new GetCallerIdentityCommand({}))).Arn;
}

Deno.test({
  name:
    "iam sealed: secrets made through the IAM API are sealed on disk, open after a restart, and fail without the key",
  fn: async () => {
    const root = rootKey();
    // Two drives, one data shard: every drive holds each record whole.
    let server = await startServer({ drives: 2 });
    const restart = async (env: Record<string, string>) => {
      await server.stop();
      server = await startServer({ drives: 2, env, dir: server.dir });
    };
    try {
      const legacy = await newUser(server, "legacy");
      const secretOf = (keys: Keys) => new TextEncoder().encode(keys.secretAccessKey);
      assertEquals((await foundUnder(server.dir, { legacy: secretOf(legacy) })).length, 2);

      await restart(kmsEnv(root));
      const alice = await newUser(server, "alice");
      const secrets = { legacy: secretOf(legacy), alice: secretOf(alice), root: root.key };
      assertEquals(await foundUnder(server.dir, secrets), []);

      await restart(kmsEnv(root));
      for (const [name, keys] of [["legacy", legacy], ["alice", alice]] as const) {
        assert((await whoAmI(server, keys))?.endsWith(`:user/${name}`), name);
      }

      await restart({});
      assert((await whoAmI(server, ROOT))?.endsWith(":root"));
      await new S3Client({ ...config(server, ROOT), forcePathStyle: true })
        .send(new ListBucketsCommand({}));
      for (const [name, keys] of [["legacy", legacy], ["alice", alice]] as const) {
        const err = await assertRejects(() => whoAmI(server, keys));
        assertEquals(err.name, "InvalidClientTokenId", `${name}: ${err.message}`);
        assert(
          server.output().includes(
            `IAM user ${name}: the secret of access key ${keys.accessKeyId}`,
          ),
          `${name} logged`,
        );
      }
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server.cleanup();
    }
  },
});
