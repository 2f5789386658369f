/**
 * Bucket CORS against a real server: Put/Get/DeleteBucketCors with the JS SDK, boto3 and the AWS
 * CLI and AWS's errors (no checksum, bad XML, oversized, unsupported method, two wildcards,
 * missing bucket), which leave the stored rules as they were; the unsigned OPTIONS preflight
 * (allowed, refused, no CORS, no bucket, missing headers); the Access-Control-* headers of
 * actual requests, error responses included; users without the CORS actions are refused.
 */

import {
  type CORSRule,
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  GetBucketCorsCommand,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { awsEnv, clientPresent, run, runOk } from "./helpers/clients.ts";
import { rawRequest, signedFetch, xmlField } from "./s3_raw.ts";
import { s3Client, startServer, type TestServer } from "./helpers/server.ts";
import { BUCKET, s3 as userS3, world } from "./helpers/sts.ts";

const AWS = "/usr/bin/aws";
const awsPresent = clientPresent("cors_server_test", AWS);
const botoPresent = await run("python3", ["-c", "import boto3"], awsEnv())
  .then((r) => r.code === 0, () => false);
if (!botoPresent) console.log("cors_server_test: boto3 test skipped, no python3 boto3");

const APP = "http://app.test:8080";
const RULES = {
  CORSRules: [{
    ID: "app",
    AllowedOrigins: [APP],
    AllowedMethods: ["PUT", "GET"],
    AllowedHeaders: ["content-type", "x-amz-*"],
    ExposeHeaders: ["ETag", "x-amz-request-id"],
    MaxAgeSeconds: 600,
  }, {
    AllowedOrigins: ["*"],
    AllowedMethods: ["GET", "HEAD"],
  }],
};
const VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

async function withServer(
  fn: (server: TestServer, s3: S3Client) => Promise<void>,
  args: string[] = [],
) {
  const server = await startServer({ args });
  const s3 = s3Client(server);
  try {
    await fn(server, s3);
  } finally {
    s3.destroy();
    await server.cleanup();
  }
}

async function rejectsWith(promise: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(promise);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}

/** The Access-Control-* and Vary headers of a response, by name. */
function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries(
    [...response.headers].filter(([name]) => name.startsWith("access-control-") || name === "vary"),
  );
}

function putCors(server: TestServer, body: string, headers: Record<string, string> = {}) {
  const md5 = createHash("md5").update(body).digest("base64");
  return signedFetch(server, {
    method: "PUT",
    path: "/web",
    query: [["cors", ""]],
    headers: { "content-md5": md5, ...headers },
    body,
  });
}

async function preflight(
  server: TestServer,
  path: string,
  headers: Record<string, string>,
): Promise<[Response, string]> {
  const response = await fetch(`${server.endpoint}${path}`, { method: "OPTIONS", headers });
  return [response, await response.text()];
}

Deno.test("cors api: JS SDK put/get/delete, AWS's errors leave the rules as they were", async () => {
  await withServer(async (server, s3) => {
    await s3.send(new CreateBucketCommand({ Bucket: "web" }));
    await rejectsWith(
      () => s3.send(new GetBucketCorsCommand({ Bucket: "web" })),
      "NoSuchCORSConfiguration",
      404,
    );
    await s3.send(new PutBucketCorsCommand({ Bucket: "web", CORSConfiguration: RULES }));
    const got = await s3.send(new GetBucketCorsCommand({ Bucket: "web" }));
    assertEquals(got.CORSRules, [
      { ...RULES.CORSRules[0] },
      { AllowedOrigins: ["*"], AllowedMethods: ["GET", "HEAD"] },
    ]);

    const bad = (rule: CORSRule) => ({ Bucket: "web", CORSConfiguration: { CORSRules: [rule] } });
    await rejectsWith(
      () =>
        s3.send(
          new PutBucketCorsCommand(bad({ AllowedOrigins: ["*"], AllowedMethods: ["PATCH"] })),
        ),
      "InvalidRequest",
      400,
    );
    await rejectsWith(
      () =>
        s3.send(
          new PutBucketCorsCommand(
            bad({ AllowedOrigins: ["http://*.*.a"], AllowedMethods: ["GET"] }),
          ),
        ),
      "InvalidRequest",
      400,
    );
    await rejectsWith(
      () =>
        s3.send(
          new PutBucketCorsCommand({ Bucket: "nope", CORSConfiguration: RULES }),
        ),
      "NoSuchBucket",
      404,
    );

    const rule = "<CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin>" +
      "</CORSRule>";
    const doc = (rules: string) => `<CORSConfiguration>${rules}</CORSConfiguration>`;
    const refusals: [Promise<Response>, number, string][] = [
      [
        signedFetch(server, {
          method: "PUT",
          path: "/web",
          query: [["cors", ""]],
          body: doc(rule),
        }),
        400,
        "InvalidRequest",
      ],
      [putCors(server, doc(rule), { "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==" }), 400, "BadDigest"],
      [putCors(server, "<CORSConfiguration><CORSRule>"), 400, "MalformedXML"],
      [putCors(server, "<Other/>"), 400, "MalformedXML"],
      [putCors(server, doc("")), 400, "MalformedXML"],
      [putCors(server, doc(rule.repeat(101))), 400, "MalformedXML"],
      [putCors(server, doc(rule + " ".repeat(64 * 1024))), 400, "MalformedXML"],
    ];
    for (const [pending, status, code] of refusals) {
      const response = await pending;
      const text = await response.text();
      assertEquals([response.status, xmlField(text, "Code")], [status, code], text);
    }
    assertEquals(
      (await s3.send(new GetBucketCorsCommand({ Bucket: "web" }))).CORSRules?.length,
      2,
    );

    // The largest legal document: 100 rules.
    assertEquals((await putCors(server, doc(rule.repeat(100)))).status, 200);
    assertEquals(
      (await s3.send(new GetBucketCorsCommand({ Bucket: "web" }))).CORSRules?.length,
      100,
    );
    const deleted = await s3.send(new DeleteBucketCorsCommand({ Bucket: "web" }));
    assertEquals(deleted.$metadata.httpStatusCode, 204);
    await rejectsWith(
      () => s3.send(new GetBucketCorsCommand({ Bucket: "web" })),
      "NoSuchCORSConfiguration",
      404,
    );
    // Deleting what is not there is still 204, as AWS.
    await s3.send(new DeleteBucketCorsCommand({ Bucket: "web" }));
  });
});

Deno.test({
  name: "cors api: the AWS CLI puts and boto3 reads the rules",
  ignore: !awsPresent || !botoPresent,
  async fn() {
    await withServer(async (server, s3) => {
      await s3.send(new CreateBucketCommand({ Bucket: "web" }));
      const env = awsEnv();
      await runOk(AWS, [
        "s3api",
        "put-bucket-cors",
        "--endpoint-url",
        server.endpoint,
        "--bucket",
        "web",
        "--cors-configuration",
        JSON.stringify(RULES),
      ], env);
      const script = `
import boto3, json, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
print(json.dumps(s3.get_bucket_cors(Bucket="web")["CORSRules"]))
s3.delete_bucket_cors(Bucket="web")
try:
    s3.get_bucket_cors(Bucket="web")
except s3.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
`;
      const out = (await runOk("python3", ["-c", script, server.endpoint], env)).trim().split("\n");
      assertEquals(JSON.parse(out[0]), [
        RULES.CORSRules[0],
        { AllowedOrigins: ["*"], AllowedMethods: ["GET", "HEAD"] },
      ]);
      assertEquals(out[1], "NoSuchCORSConfiguration");
    });
  },
});

Deno.test("cors preflight: answered unsigned from the bucket's rules, AWS's refusals", async () => {
  await withServer(async (server, s3) => {
    await s3.send(new CreateBucketCommand({ Bucket: "web" }));
    const cases: [string, Record<string, string>, number, string, string][] = [
      ["/web/k", {}, 400, "BadRequest", "Insufficient information. Origin request header needed."],
      [
        "/absent/k",
        { origin: APP, "access-control-request-method": "GET" },
        403,
        "AccessForbidden",
        "CORSResponse: Bucket not found",
      ],
      [
        "/a%2F..%2F..%2Fweb/k",
        { origin: APP, "access-control-request-method": "GET" },
        403,
        "AccessForbidden",
        "CORSResponse: Bucket not found",
      ],
      [
        "/web/k",
        { origin: APP, "access-control-request-method": "GET" },
        403,
        "AccessForbidden",
        "CORSResponse: CORS is not enabled for this bucket.",
      ],
    ];
    const check = async (c: typeof cases[number]) => {
      const [response, text] = await preflight(server, c[0], c[1]);
      assertEquals(
        [
          response.status,
          xmlField(text, "Code"),
          xmlField(text, "Message")?.replaceAll("&apos;", "'"),
        ],
        [c[2], c[3], c[4]],
      );
      assertEquals(corsHeaders(response), {});
      return text;
    };
    for (const c of cases) await check(c);

    await s3.send(new PutBucketCorsCommand({ Bucket: "web", CORSConfiguration: RULES }));
    await check([
      "/web/k",
      { origin: APP },
      400,
      "BadRequest",
      "Invalid Access-Control-Request-Method: null",
    ]);
    const notAllowed =
      "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    const refusedHeader = await check([
      "/web/dir/k",
      {
        origin: APP,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type,x-custom",
      },
      403,
      "AccessForbidden",
      notAllowed,
    ]);
    assertEquals(
      [xmlField(refusedHeader, "Method"), xmlField(refusedHeader, "ResourceType")],
      ["PUT", "OBJECT"],
    );
    const refusedOrigin = await check([
      "/web",
      { origin: "http://evil.test", "access-control-request-method": "PUT" },
      403,
      "AccessForbidden",
      notAllowed,
    ]);
    assertEquals(xmlField(refusedOrigin, "ResourceType"), "BUCKET");

    const [allowed, body] = await preflight(server, "/web/dir/k", {
      origin: APP,
      "access-control-request-method": "PUT",
      "access-control-request-headers": "Content-Type, X-Amz-Meta-Note",
    });
    assertEquals([allowed.status, body], [200, ""]);
    assertEquals(corsHeaders(allowed), {
      "access-control-allow-origin": APP,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "PUT, GET",
      "access-control-allow-headers": "content-type, x-amz-meta-note",
      "access-control-expose-headers": "ETag, x-amz-request-id",
      "access-control-max-age": "600",
      vary: VARY,
    });
    const [anyOrigin] = await preflight(server, "/web/k", {
      origin: "http://other.test",
      "access-control-request-method": "HEAD",
    });
    assertEquals(corsHeaders(anyOrigin), {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, HEAD",
      vary: VARY,
    });

    // Virtual-host-style addressing names the bucket in Host.
    const hosted = await rawRequest(server, {
      method: "OPTIONS",
      path: "/dir/k",
      host: `web.s3.test:${server.port}`,
      anonymous: true,
      headers: { origin: APP, "access-control-request-method": "GET" },
    });
    assertEquals(hosted.status, 200, hosted.body);
    assertEquals(hosted.headers.get("access-control-allow-origin"), APP);
  }, ["--domain", "s3.test"]);
});

Deno.test("cors headers: on allowed actual requests, their errors too; none otherwise", async () => {
  await withServer(async (server, s3) => {
    await s3.send(new CreateBucketCommand({ Bucket: "web" }));
    await s3.send(new PutObjectCommand({ Bucket: "web", Key: "k", Body: "hello" }));
    const get = async (path: string, headers: Record<string, string>, signed = true) => {
      const response = signed
        ? await signedFetch(server, { method: "GET", path, headers })
        : await fetch(`${server.endpoint}${path}`, { headers });
      await response.body?.cancel();
      return response;
    };
    // No rules yet: nothing is granted.
    assertEquals(corsHeaders(await get("/web/k", { origin: APP })), {});
    await s3.send(new PutBucketCorsCommand({ Bucket: "web", CORSConfiguration: RULES }));

    const granted = {
      "access-control-allow-origin": APP,
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "PUT, GET",
      "access-control-expose-headers": "ETag, x-amz-request-id",
      "access-control-max-age": "600",
      vary: VARY,
    };
    const ok = await get("/web/k", { origin: APP });
    assertEquals(ok.status, 200);
    assertEquals(corsHeaders(ok), granted);
    assertEquals(corsHeaders(await get("/web/k", {})), {});
    const missing = await get("/web/missing", { origin: APP });
    assertEquals(missing.status, 404);
    assertEquals(corsHeaders(missing), granted);
    const anonymous = await get("/web/k", { origin: APP }, false);
    assertEquals(anonymous.status, 403);
    assertEquals(corsHeaders(anonymous), granted);
    const other = await get("/web/k", { origin: "http://other.test" });
    assertEquals(corsHeaders(other)["access-control-allow-origin"], "*");
    assert(!("access-control-allow-credentials" in corsHeaders(other)));

    // DELETE is in no rule: the response carries no grant (and the object stays).
    const del = await signedFetch(server, {
      method: "DELETE",
      path: "/web/missing",
      headers: { origin: APP },
    });
    await del.body?.cancel();
    assertEquals(del.status, 204);
    assertEquals(corsHeaders(del), {});
    // Another bucket without rules grants nothing.
    await s3.send(new CreateBucketCommand({ Bucket: "plain" }));
    const plain = await get("/plain", { origin: APP });
    assertEquals(plain.status, 200);
    assertEquals(corsHeaders(plain), {});
  });
});

Deno.test("cors api: a user needs s3:GetBucketCORS / s3:PutBucketCORS (delete too)", async () => {
  const w = await world();
  const root = s3Client(w.server);
  const alice = userS3(w.server, w.alice);
  try {
    await root.send(new PutBucketCorsCommand({ Bucket: BUCKET, CORSConfiguration: RULES }));
    const denied = (call: () => Promise<unknown>) => rejectsWith(call, "AccessDenied", 403);
    await denied(() => alice.send(new GetBucketCorsCommand({ Bucket: BUCKET })));
    await root.send(
      new PutBucketPolicyCommand({
        Bucket: BUCKET,
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: "s3:GetBucketCORS",
            Resource: `arn:aws:s3:::${BUCKET}`,
          }],
        }),
      }),
    );
    const got = await alice.send(new GetBucketCorsCommand({ Bucket: BUCKET }));
    assertEquals(got.CORSRules?.length, 2);
    const open = { CORSRules: [{ AllowedOrigins: ["*"], AllowedMethods: ["PUT" as const] }] };
    await denied(() =>
      alice.send(new PutBucketCorsCommand({ Bucket: BUCKET, CORSConfiguration: open }))
    );
    await denied(() => alice.send(new DeleteBucketCorsCommand({ Bucket: BUCKET })));
    assertEquals(
      (await root.send(new GetBucketCorsCommand({ Bucket: BUCKET }))).CORSRules?.[0].ID,
      "app",
    );
  } finally {
    alice.destroy();
    root.destroy();
    await w.server.cleanup();
  }
});
