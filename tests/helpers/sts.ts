/**
 * The accounts the STS tests work with, made through the IAM API as an operator would: a real
 * server, users alice and bob with access keys, a bucket with one object, and roles "reader"
 * (trusting alice) and "bobs" (trusting bob), both with the built-in readwrite policy.
 */
import {
  AttachRolePolicyCommand,
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  type Credentials as StsCredentials,
  GetCallerIdentityCommand,
  STSClient,
} from "@aws-sdk/client-sts";
import { assert, assertRejects } from "./assert.ts";
import { ACCESS_KEY, s3Client, SECRET_KEY, startServer, type TestServer } from "./server.ts";

export const REGION = "us-east-1";
export const BUCKET = "sts-data";

export interface Keys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const ROOT: Keys = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };

function clientConfig(server: TestServer, credentials: Keys) {
  return { endpoint: server.endpoint, region: REGION, credentials, maxAttempts: 1 };
}

export const sts = (server: TestServer, keys: Keys) => new STSClient(clientConfig(server, keys));
export const iam = (server: TestServer) => new IAMClient(clientConfig(server, ROOT));
export const s3 = (server: TestServer, keys: Keys) =>
  new S3Client({ ...clientConfig(server, keys), forcePathStyle: true });

export function keysOf(credentials: StsCredentials | undefined): Keys {
  assert(credentials?.AccessKeyId && credentials.SecretAccessKey && credentials.SessionToken);
  return {
    accessKeyId: credentials.AccessKeyId,
    secretAccessKey: credentials.SecretAccessKey,
    sessionToken: credentials.SessionToken,
  };
}

/** The error name (AWS code) a call fails with. */
export async function code(call: () => Promise<unknown>): Promise<string> {
  const err = await assertRejects(call, Error);
  return err.name;
}

const trust = (principalArn: string) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { AWS: principalArn }, Action: "sts:AssumeRole" }],
  });

export const GET_ONLY = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: `arn:aws:s3:::${BUCKET}/*` }],
});

export interface World {
  server: TestServer;
  account: string;
  alice: Keys & { arn: string; userId: string };
  bob: Keys & { arn: string };
  readerRoleArn: string;
  readerRoleId: string;
}

async function user(server: TestServer, name: string) {
  const created = await iam(server).send(new CreateUserCommand({ UserName: name }));
  const key = await iam(server).send(new CreateAccessKeyCommand({ UserName: name }));
  return {
    accessKeyId: key.AccessKey!.AccessKeyId!,
    secretAccessKey: key.AccessKey!.SecretAccessKey!,
    arn: created.User!.Arn!,
    userId: created.User!.UserId!,
  };
}

async function role(server: TestServer, name: string, trusted: string, policy: string) {
  const created = await iam(server).send(
    new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust(trusted) }),
  );
  await iam(server).send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: policy }));
  return created.Role!;
}

export async function world(): Promise<World> {
  const server = await startServer();
  try {
    const identity = await sts(server, ROOT).send(new GetCallerIdentityCommand({}));
    const account = identity.Account!;
    await s3Client(server).send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3Client(server).send(new PutObjectCommand({ Bucket: BUCKET, Key: "a.txt", Body: "a" }));
    const alice = await user(server, "alice");
    const bob = await user(server, "bob");
    const reader = await role(
      server,
      "reader",
      alice.arn,
      "arn:aws:iam::aws:policy/readwrite",
    );
    await role(server, "bobs", bob.arn, "arn:aws:iam::aws:policy/readwrite");
    return {
      server,
      account,
      alice,
      bob,
      readerRoleArn: reader.Arn!,
      readerRoleId: reader.RoleId!,
    };
  } catch (err) {
    await server.cleanup();
    throw err;
  }
}
