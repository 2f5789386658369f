/**
 * STS against the real server with @aws-sdk/client-sts: AssumeRole (trust policy, session
 * policies, durations, refusals), GetSessionToken, GetCallerIdentity, and temporary credentials
 * used on S3 with the JS SDK (header-signed and presigned) until they expire, are altered, or
 * outlive their role, user or session policy, and across a restart. Users and roles are made through the IAM API, as an operator would.
 */
import {
  CreatePolicyCommand,
  DeleteAccessKeyCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  DeleteUserCommand,
  DetachRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  GetSessionTokenCommand,
} from "@aws-sdk/client-sts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY, startServer } from "./helpers/server.ts";
import { BUCKET, code, GET_ONLY, iam, keysOf, ROOT, s3, sts, world } from "./helpers/sts.ts";
import { SessionTokens } from "../src/sts/tokens.ts";

Deno.test("STS through @aws-sdk/client-sts, temporary credentials on S3", async (t) => {
  const w = await world();
  const { server, account } = w;
  try {
    await t.step("GetCallerIdentity names the account root and a user", async () => {
      const root = await sts(server, ROOT).send(new GetCallerIdentityCommand({}));
      assert(/^\d{12}$/.test(account), account);
      assertEquals([root.Arn, root.UserId], [`arn:aws:iam::${account}:root`, account]);
      const alice = await sts(server, w.alice).send(new GetCallerIdentityCommand({}));
      assertEquals([alice.Arn, alice.UserId, alice.Account], [
        `arn:aws:iam::${account}:user/alice`,
        w.alice.userId,
        account,
      ]);
    });

    await t.step("AssumeRole: credentials act as the role session until refused", async () => {
      const assumed = await sts(server, w.alice).send(
        new AssumeRoleCommand({
          RoleArn: w.readerRoleArn,
          RoleSessionName: "app-1",
          DurationSeconds: 900,
        }),
      );
      const sessionArn = `arn:aws:sts::${account}:assumed-role/reader/app-1`;
      assertEquals(assumed.AssumedRoleUser, {
        Arn: sessionArn,
        AssumedRoleId: `${w.readerRoleId}:app-1`,
      });
      const expiration = assumed.Credentials!.Expiration!.getTime();
      assert(Math.abs(expiration - (Date.now() + 900_000)) < 60_000, String(expiration));
      const keys = keysOf(assumed.Credentials);
      assert(/^ASIA[A-Z2-7]{16}$/.test(keys.accessKeyId), keys.accessKeyId);
      const me = await sts(server, keys).send(new GetCallerIdentityCommand({}));
      assertEquals([me.Arn, me.UserId], [sessionArn, `${w.readerRoleId}:app-1`]);
      const client = s3(server, keys);
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "role.txt", Body: "r" }));
      const got = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "role.txt" }));
      assertEquals(await got.Body!.transformToString(), "r");
      // Presigned: the token travels as X-Amz-Security-Token.
      const url = await getSignedUrl(
        client,
        new GetObjectCommand({ Bucket: BUCKET, Key: "role.txt" }),
        { expiresIn: 60 },
      );
      assert(url.includes("X-Amz-Security-Token="), url);
      const presigned = await fetch(url);
      assertEquals([presigned.status, await presigned.text()], [200, "r"]);
      // Without its token the key is unknown; with another token, or an altered one, refused.
      const { sessionToken: _, ...bare } = keys;
      assertEquals(
        await code(() => s3(server, bare).send(new ListObjectsV2Command({ Bucket: BUCKET }))),
        "InvalidAccessKeyId",
      );
      const tampered = { ...keys, sessionToken: keys.sessionToken!.slice(0, -3) + "AAA" };
      assertEquals(
        await code(() => s3(server, tampered).send(new ListObjectsV2Command({ Bucket: BUCKET }))),
        "InvalidToken",
      );
      assertEquals(
        await code(() => sts(server, tampered).send(new GetCallerIdentityCommand({}))),
        "InvalidToken",
      );
    });

    await t.step("a session policy and PolicyArns narrow the role", async () => {
      const inline = keysOf(
        (await sts(server, w.alice).send(
          new AssumeRoleCommand({
            RoleArn: w.readerRoleArn,
            RoleSessionName: "narrow",
            Policy: GET_ONLY,
          }),
        )).Credentials,
      );
      const got = await s3(server, inline).send(
        new GetObjectCommand({ Bucket: BUCKET, Key: "a.txt" }),
      );
      assertEquals(await got.Body!.transformToString(), "a");
      assertEquals(
        await code(() =>
          s3(server, inline).send(new PutObjectCommand({ Bucket: BUCKET, Key: "n", Body: "n" }))
        ),
        "AccessDenied",
      );
      const managed = await sts(server, w.alice).send(
        new AssumeRoleCommand({
          RoleArn: w.readerRoleArn,
          RoleSessionName: "managed",
          PolicyArns: [{ arn: "arn:aws:iam::aws:policy/readonly" }],
        }),
      );
      assert((managed.PackedPolicySize ?? 0) > 0);
      const readonly = keysOf(managed.Credentials);
      await s3(server, readonly).send(new ListObjectsV2Command({ Bucket: BUCKET }));
      assertEquals(
        await code(() =>
          s3(server, readonly).send(new PutObjectCommand({ Bucket: BUCKET, Key: "n", Body: "n" }))
        ),
        "AccessDenied",
      );
    });

    await t.step("AssumeRole refused: untrusted caller, missing role, root", async () => {
      const untrusted = await assertRejects(
        () =>
          sts(server, w.alice).send(
            new AssumeRoleCommand({
              RoleArn: `arn:aws:iam::${account}:role/bobs`,
              RoleSessionName: "s1",
            }),
          ),
        Error,
      );
      assertEquals(untrusted.name, "AccessDenied");
      assertEquals(
        untrusted.message,
        `User: ${w.alice.arn} is not authorized to perform: sts:AssumeRole on resource: ` +
          `arn:aws:iam::${account}:role/bobs`,
      );
      const missing = await assertRejects(
        () =>
          sts(server, w.alice).send(
            new AssumeRoleCommand({
              RoleArn: `arn:aws:iam::${account}:role/raeder`,
              RoleSessionName: "s1",
            }),
          ),
        Error,
      );
      assertEquals(missing.name, "AccessDenied");
      assertEquals(
        await code(() =>
          sts(server, ROOT).send(
            new AssumeRoleCommand({ RoleArn: w.readerRoleArn, RoleSessionName: "s1" }),
          )
        ),
        "AccessDenied",
      );
    });

    await t.step("AssumeRole's parameters are checked as AWS checks them", async () => {
      // STS answers <Code>MalformedPolicyDocument</Code>; the SDK names its exception so.
      const MALFORMED = "MalformedPolicyDocumentException";
      const attempt = (input: Partial<ConstructorParameters<typeof AssumeRoleCommand>[0]>) =>
        code(() =>
          sts(server, w.alice).send(
            new AssumeRoleCommand({
              RoleArn: w.readerRoleArn,
              RoleSessionName: "checked",
              ...input,
            }),
          )
        );
      assertEquals(await attempt({ DurationSeconds: 899 }), "ValidationError");
      // The role's MaxSessionDuration is the default hour.
      assertEquals(await attempt({ DurationSeconds: 3601 }), "ValidationError");
      assertEquals(await attempt({ RoleSessionName: "a" }), "ValidationError");
      assertEquals(await attempt({ RoleSessionName: "has space" }), "ValidationError");
      assertEquals(await attempt({ Policy: "{not json" }), MALFORMED);
      assertEquals(
        await attempt({
          Policy: JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: "s3:NoSuchAction", Resource: "*" }],
          }),
        }),
        MALFORMED,
      );
      const big = JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
          Effect: "Allow",
          Action: "s3:GetObject",
          Resource: Array.from({ length: 80 }, (_, i) => `arn:aws:s3:::${BUCKET}/prefix-${i}/*`),
        }],
      });
      assert(big.length > 2048);
      assertEquals(await attempt({ Policy: big }), "ValidationError");
      assertEquals(
        await attempt({ PolicyArns: [{ arn: `arn:aws:iam::${account}:policy/none-such` }] }),
        MALFORMED,
      );
    });

    await t.step("GetSessionToken: the caller's own permissions, refused to sessions", async () => {
      const session = await sts(server, w.alice).send(
        new GetSessionTokenCommand({ DurationSeconds: 900 }),
      );
      const keys = keysOf(session.Credentials);
      const me = await sts(server, keys).send(new GetCallerIdentityCommand({}));
      assertEquals([me.Arn, me.UserId], [w.alice.arn, w.alice.userId]);
      // alice has no policy of her own.
      assertEquals(
        await code(() => s3(server, keys).send(new ListObjectsV2Command({ Bucket: BUCKET }))),
        "AccessDenied",
      );
      assertEquals(
        await code(() => sts(server, keys).send(new GetSessionTokenCommand({}))),
        "AccessDenied",
      );
      assertEquals(
        await code(() =>
          sts(server, w.alice).send(new GetSessionTokenCommand({ DurationSeconds: 129601 }))
        ),
        "ValidationError",
      );
      const rootSession = await sts(server, ROOT).send(
        new GetSessionTokenCommand({ DurationSeconds: 7200 }),
      );
      const rootExpiry = rootSession.Credentials!.Expiration!.getTime();
      assert(rootExpiry <= Date.now() + 3600_000 + 5_000, "root sessions last an hour at most");
      const rootKeys = keysOf(rootSession.Credentials);
      await s3(server, rootKeys).send(new ListObjectsV2Command({ Bucket: BUCKET }));
    });

    await t.step("an expired token is ExpiredToken on S3 and STS", async () => {
      // The server's clock cannot be moved: a token minted here, from the same root
      // credentials, with an expiry an hour ago, is what the server would have issued then.
      const tokens = new SessionTokens({ accessKey: ACCESS_KEY, secretKey: SECRET_KEY });
      const expired = await tokens.issue({
        kind: "user",
        accountId: account,
        arn: w.alice.arn,
        userId: w.alice.userId,
        userName: "alice",
      }, new Date(Date.now() - 3600_000));
      const keys = {
        accessKeyId: expired.accessKey,
        secretAccessKey: expired.secretKey,
        sessionToken: expired.token,
      };
      const err = await assertRejects(
        () => s3(server, keys).send(new ListObjectsV2Command({ Bucket: BUCKET })),
        Error,
      );
      assertEquals([err.name, err.message], ["ExpiredToken", "The provided token has expired."]);
      assertEquals(
        await code(() => sts(server, keys).send(new GetCallerIdentityCommand({}))),
        "ExpiredToken",
      );
    });

    await t.step("a role session is refused once its role is deleted", async () => {
      const keys = keysOf(
        (await sts(server, w.bob).send(
          new AssumeRoleCommand({
            RoleArn: `arn:aws:iam::${account}:role/bobs`,
            RoleSessionName: "doomed",
          }),
        )).Credentials,
      );
      await s3(server, keys).send(new ListObjectsV2Command({ Bucket: BUCKET }));
      await iam(server).send(
        new DetachRolePolicyCommand({
          RoleName: "bobs",
          PolicyArn: "arn:aws:iam::aws:policy/readwrite",
        }),
      );
      await iam(server).send(new DeleteRoleCommand({ RoleName: "bobs" }));
      assertEquals(
        await code(() => s3(server, keys).send(new ListObjectsV2Command({ Bucket: BUCKET }))),
        "InvalidToken",
      );
    });
  } finally {
    await server.cleanup();
  }
});

Deno.test("temporary credentials outlive a restart, not their user or session policy", async () => {
  const w = await world();
  let server = w.server;
  try {
    const policy = await iam(server).send(
      new CreatePolicyCommand({ PolicyName: "get-only", PolicyDocument: GET_ONLY }),
    );
    const narrowed = keysOf(
      (await sts(server, w.alice).send(
        new AssumeRoleCommand({
          RoleArn: w.readerRoleArn,
          RoleSessionName: "restart",
          PolicyArns: [{ arn: policy.Policy!.Arn! }],
        }),
      )).Credentials,
    );
    const bobs = keysOf(
      (await sts(server, w.bob).send(new GetSessionTokenCommand({}))).Credentials,
    );
    await server.stop();
    server = await startServer({ dir: w.server.dir });
    // Stateless tokens: the restarted server derives the same keys from the root credentials.
    const got = await s3(server, narrowed).send(
      new GetObjectCommand({ Bucket: BUCKET, Key: "a.txt" }),
    );
    assertEquals(await got.Body!.transformToString(), "a");
    assertEquals((await sts(server, bobs).send(new GetCallerIdentityCommand({}))).Arn, w.bob.arn);
    // The session's managed policy is resolved at each use: deleted, it allows nothing.
    await iam(server).send(new DeletePolicyCommand({ PolicyArn: policy.Policy!.Arn! }));
    assertEquals(
      await code(() =>
        s3(server, narrowed).send(new GetObjectCommand({ Bucket: BUCKET, Key: "a.txt" }))
      ),
      "AccessDenied",
    );
    await iam(server).send(
      new DeleteAccessKeyCommand({ UserName: "bob", AccessKeyId: w.bob.accessKeyId }),
    );
    await iam(server).send(new DeleteUserCommand({ UserName: "bob" }));
    assertEquals(
      await code(() => sts(server, bobs).send(new GetCallerIdentityCommand({}))),
      "InvalidToken",
    );
  } finally {
    await server.cleanup();
    await w.server.cleanup();
  }
});
