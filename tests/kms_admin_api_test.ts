/**
 * The key service's admin API (and `flashstor admin kms`) against a real server: without
 * FLASHSTOR_KMS_SECRET_KEY, kms/status says so and every other kms/* API answers 501 naming the
 * setting; with it, master keys are listed, created (once), looked at and rotated, each rotation
 * re-wraps the KEKs of the objects under its key in the background, and every object —
 * SSE-S3, SSE-KMS, plain — reads back the same, also after a restart. Bad key ids and unknown
 * APIs are 4xx.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import {
  ACCESS_KEY,
  FLASHSTOR,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { client, equalBytes, pattern, waitUntil } from "./fault_util.ts";
import { xmlField } from "./s3_raw.ts";
import { adminCall, kmsEnv, rootKey } from "./kms_util.ts";

const BUCKET = "kmsadmin";

async function cli(server: TestServer, ...args: string[]) {
  const out = await new Deno.Command(FLASHSTOR, {
    args: ["admin", "kms", ...args, "--endpoint", server.endpoint],
    env: { FLASHSTOR_ROOT_USER: ACCESS_KEY, FLASHSTOR_ROOT_PASSWORD: SECRET_KEY },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

async function refused(
  server: TestServer,
  method: string,
  api: string,
  status: number,
  code: string,
): Promise<string> {
  const answer = await adminCall(server, method, api);
  assertEquals([answer.status, xmlField(answer.text, "Code")], [status, code], answer.text);
  return xmlField(answer.text, "Message") ?? "";
}

Deno.test("kms admin: without a key service, status says so and the rest is 501 naming the setting", async () => {
  const server = await startServer({ drives: 2 });
  try {
    const status = await adminCall(server, "GET", "kms/status");
    assertEquals(status.status, 200, status.text);
    assertEquals(status.json?.configured, false);
    const apis = [
      ["GET", "kms/keys"],
      ["POST", "kms/keys/k"],
      ["GET", "kms/keys/k"],
      ["POST", "kms/keys/k/rotate"],
      ["GET", "kms/rewrap"],
    ];
    for (const [method, api] of apis) {
      const message = await refused(server, method, api, 501, "NotImplemented");
      assertEquals(message, "the key service is not configured: set FLASHSTOR_KMS_SECRET_KEY");
    }
    const out = await cli(server, "list");
    assertEquals(out.code, 1);
    assertStringIncludes(out.stderr, "501 NotImplemented: the key service is not configured");
    const usage = await cli(server, "create");
    assertEquals(usage.code, 2);
    assertStringIncludes(usage.stderr, "kms create needs a key id");
  } finally {
    await server.cleanup();
  }
});

Deno.test({
  name: "kms admin: keys listed, created, rotated; rotation re-wraps and every object reads back",
  fn: async () => {
    const root = rootKey();
    let server = await startServer({ drives: 2, env: kmsEnv(root) });
    try {
      const status = await adminCall(server, "GET", "kms/status");
      assertEquals(status.json, { configured: true, defaultKeyId: "test-root" });
      const listed = await adminCall(server, "GET", "kms/keys");
      assertEquals(
        (listed.json?.keys as { keyId: string; version: number }[]).map((
          k,
        ) => [k.keyId, k.version]),
        [["test-root", 1]],
      );

      // Creation: once; ids with "/" travel as %2F; bad ids and unknown APIs are 4xx.
      const created = await adminCall(server, "POST", "kms/keys/app%2Fone");
      assertEquals([created.status, created.json?.keyId, created.json?.version], [
        200,
        "app/one",
        1,
      ]);
      await refused(server, "POST", "kms/keys/app%2Fone", 409, "XFlashstorKMSKeyExists");
      assertEquals((await adminCall(server, "GET", "kms/keys/app%2Fone")).json?.keyId, "app/one");
      await refused(server, "GET", "kms/keys/missing", 404, "XFlashstorNoSuchKMSKey");
      await refused(server, "POST", "kms/keys/missing/rotate", 404, "XFlashstorNoSuchKMSKey");
      await refused(server, "POST", "kms/keys/bad%20id", 400, "InvalidArgument");
      await refused(server, "POST", `kms/keys/${"x".repeat(129)}`, 400, "InvalidArgument");
      await refused(server, "POST", "kms/keys/%E0%A4%A", 400, "InvalidArgument");
      await refused(server, "POST", "kms/keys/app/one", 400, "InvalidRequest");
      await refused(server, "DELETE", "kms/keys/app%2Fone", 405, "MethodNotAllowed");
      await refused(server, "GET", "kms/keys/app%2Fone/rotate", 405, "MethodNotAllowed");
      const byCli = await cli(server, "create", "cli/key");
      assertEquals(byCli.code, 0, byCli.stderr);
      assertEquals(JSON.parse(byCli.stdout).keyId, "cli/key");

      // Objects under each key, and plain ones.
      const s3 = client(server);
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const objects = new Map<string, [Uint8Array, Partial<PutObjectCommandInput>]>();
      for (let i = 0; i < 3; i++) {
        objects.set(`s3-${i}`, [pattern(1000 + i, i), { ServerSideEncryption: "AES256" }]);
        objects.set(`kms-${i}`, [pattern(200_000 + i, i), {
          ServerSideEncryption: "aws:kms",
          SSEKMSKeyId: "app/one",
        }]);
        objects.set(`plain-${i}`, [pattern(10 + i, i), {}]);
      }
      for (const [Key, [Body, sse]] of objects) {
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ...sse }));
      }
      const readsBack = async (s3Server: TestServer) => {
        const reader = client(s3Server);
        for (const [Key, [body]] of objects) {
          const got = await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
          assert(equalBytes(await got.Body!.transformToByteArray(), body), `${Key} reads back`);
        }
      };

      // Rotating each key re-wraps its objects, and only them.
      for (
        const [keyId, encoded, count] of [["test-root", "test-root", 3], [
          "app/one",
          "app%2Fone",
          3,
        ]] as const
      ) {
        const rotated = await adminCall(server, "POST", `kms/keys/${encoded}/rotate`);
        assertEquals(rotated.status, 200, rotated.text);
        const key = rotated.json?.key as { keyId: string; version: number; rotatedAt?: string };
        assertEquals([key.keyId, key.version], [keyId, 2]);
        assert(key.rotatedAt, "rotatedAt");
        let pass: Record<string, unknown> | undefined;
        await waitUntil(`the re-wrap pass of ${keyId}`, async () => {
          const passes = (await adminCall(server, "GET", "kms/rewrap")).json?.passes as Record<
            string,
            unknown
          >[];
          pass = passes.find((p) => p.keyId === keyId);
          return pass?.state !== "running";
        });
        assertEquals(
          [pass?.state, pass?.version, pass?.versionsRewrapped, pass?.versionsFailed],
          ["done", 2, count, 0],
          JSON.stringify(pass),
        );
        await readsBack(server);
      }
      const rotatedCli = await cli(server, "rotate", "cli/key");
      assertEquals(rotatedCli.code, 0, rotatedCli.stderr);
      assertEquals(JSON.parse(rotatedCli.stdout).key.version, 2);

      // A restart: the keys and their versions are kept, every object still reads back.
      await server.stop();
      server = await startServer({ drives: 2, env: kmsEnv(root), dir: server.dir });
      const after = await cli(server, "list");
      assertEquals(after.code, 0, after.stderr);
      assertEquals(
        JSON.parse(after.stdout).keys.map((
          k: { keyId: string; version: number },
        ) => [k.keyId, k.version]),
        [["app/one", 2], ["cli/key", 2], ["test-root", 2]],
      );
      await readsBack(server);
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server.cleanup();
    }
  },
});
