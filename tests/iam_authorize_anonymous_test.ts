/**
 * The authorize step against a real server with unsigned requests, whose only grants are bucket
 * policies: an explicit Deny beats an Allow; conditions on aws:SourceIp, aws:SecureTransport and
 * aws:CurrentTime allow and deny as written; CopyObject also needs s3:GetObject on its source;
 * DeleteObjects is decided key by key; an unsigned browser form (POST Object) uploads only where
 * a policy lets anonymous callers put.
 */

import { createHash } from "node:crypto";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { s3Client, startServer, type TestServer } from "./helpers/server.ts";
import { xmlField } from "./s3_raw.ts";

interface Statement {
  Effect: "Allow" | "Deny";
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

function policy(...statements: Statement[]): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: statements.map((s) => ({ Principal: "*", ...s })),
  });
}

async function anonymous(
  server: TestServer,
  method: string,
  path: string,
  init: { body?: BodyInit; headers?: Record<string, string> } = {},
): Promise<[number, string]> {
  const response = await fetch(`${server.endpoint}${path}`, { method, ...init });
  return [response.status, await response.text()];
}

async function withBucket(
  fn: (server: TestServer, s3: S3Client, put: (p: string) => Promise<void>) => Promise<void>,
): Promise<void> {
  const server = await startServer();
  const s3 = s3Client(server);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: "bkt" }));
    for (const key of ["public/a", "public/secret/b", "other/c"]) {
      await s3.send(new PutObjectCommand({ Bucket: "bkt", Key: key, Body: key }));
    }
    await fn(server, s3, async (text) => {
      await s3.send(new PutBucketPolicyCommand({ Bucket: "bkt", Policy: text }));
    });
  } finally {
    s3.destroy();
    await server.cleanup();
  }
}

Deno.test("authorize: an explicit Deny beats an Allow", async () => {
  await withBucket(async (server, _s3, put) => {
    await put(policy(
      { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::bkt/public/*" },
      { Effect: "Deny", Action: "s3:*", Resource: "arn:aws:s3:::bkt/public/secret/*" },
    ));
    assertEquals(await anonymous(server, "GET", "/bkt/public/a"), [200, "public/a"]);
    assertEquals((await anonymous(server, "GET", "/bkt/public/secret/b"))[0], 403);
    assertEquals((await anonymous(server, "GET", "/bkt/other/c"))[0], 403);
  });
});

Deno.test("authorize: aws:SourceIp, aws:SecureTransport and aws:CurrentTime as written", async () => {
  await withBucket(async (server, _s3, put) => {
    const get = () => anonymous(server, "GET", "/bkt/public/a").then(([status]) => status);
    const only = (condition: Statement["Condition"]) =>
      put(policy({
        Effect: "Allow",
        Action: "s3:GetObject",
        Resource: "arn:aws:s3:::bkt/*",
        Condition: condition,
      }));
    await only({ IpAddress: { "aws:SourceIp": "127.0.0.0/8" } });
    assertEquals(await get(), 200);
    await only({ IpAddress: { "aws:SourceIp": ["10.0.0.0/8", "192.0.2.1/32"] } });
    assertEquals(await get(), 403);
    await only({ NotIpAddress: { "aws:SourceIp": "127.0.0.1/32" } });
    assertEquals(await get(), 403);

    // Plain HTTP here: a policy requiring TLS refuses, one refusing TLS allows.
    await only({ Bool: { "aws:SecureTransport": "true" } });
    assertEquals(await get(), 403);
    await only({ Bool: { "aws:SecureTransport": "false" } });
    assertEquals(await get(), 200);

    await only({ DateGreaterThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } });
    assertEquals(await get(), 200);
    await only({ DateLessThan: { "aws:CurrentTime": "2020-01-01T00:00:00Z" } });
    assertEquals(await get(), 403);
    // A window that closes within the test: allowed, then (not cached) refused.
    const closes = new Date(Date.now() + 2500).toISOString().replace(/\.\d+Z$/, "Z");
    await only({ DateLessThan: { "aws:CurrentTime": closes } });
    assertEquals(await get(), 200);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    assertEquals(await get(), 403);
  });
});

Deno.test("authorize: CopyObject needs s3:GetObject on its source too", async () => {
  await withBucket(async (server, s3, put) => {
    const copy = (source: string, target: string) =>
      anonymous(server, "PUT", target, { headers: { "x-amz-copy-source": source } });
    await put(
      policy({ Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::bkt/in/*" }),
    );
    assertEquals((await copy("/bkt/public/a", "/bkt/in/copied"))[0], 403);
    await put(policy(
      { Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::bkt/in/*" },
      { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::bkt/public/*" },
    ));
    assertEquals((await copy("/bkt/public/a", "/bkt/in/copied"))[0], 200);
    assertEquals((await copy("/bkt/other/c", "/bkt/in/copied2"))[0], 403);
    assertEquals((await copy("/bkt/public/a", "/bkt/out/copied"))[0], 403);
    // A missing source is told apart only with s3:ListBucket on the source's bucket.
    await s3.send(new CreateBucketCommand({ Bucket: "srcb" }));
    const sourcePolicy = (...actions: string[]) =>
      s3.send(
        new PutBucketPolicyCommand({
          Bucket: "srcb",
          Policy: policy(
            { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::srcb/*" },
            ...actions.map((action): Statement => ({
              Effect: "Allow",
              Action: action,
              Resource: "arn:aws:s3:::srcb",
            })),
          ),
        }),
      );
    await sourcePolicy();
    assertEquals((await copy("/srcb/none", "/bkt/in/none"))[0], 403);
    await sourcePolicy("s3:ListBucket");
    assertEquals((await copy("/srcb/none", "/bkt/in/none"))[0], 404);
    const copied = await s3.send(new GetObjectCommand({ Bucket: "bkt", Key: "in/copied" }));
    assertEquals(await copied.Body?.transformToString(), "public/a");
  });
});

Deno.test("authorize: DeleteObjects is decided key by key", async () => {
  await withBucket(async (server, s3, put) => {
    await put(policy({
      Effect: "Allow",
      Action: "s3:DeleteObject",
      Resource: "arn:aws:s3:::bkt/public/*",
    }));
    const body = "<Delete><Object><Key>public/a</Key></Object>" +
      "<Object><Key>other/c</Key></Object></Delete>";
    const md5 = createHash("md5").update(body).digest("base64");
    const [status, xml] = await anonymous(server, "POST", "/bkt?delete", {
      body,
      headers: { "content-md5": md5, "content-type": "application/xml" },
    });
    assertEquals(status, 200, xml);
    assertStringIncludes(xml, "<Deleted><Key>public/a</Key></Deleted>");
    assertEquals(xmlField(xml.slice(xml.indexOf("<Error>")), "Key"), "other/c");
    assertEquals(xmlField(xml.slice(xml.indexOf("<Error>")), "Code"), "AccessDenied");
    // The refused key is still there.
    const kept = await s3.send(new GetObjectCommand({ Bucket: "bkt", Key: "other/c" }));
    assertEquals(await kept.Body?.transformToString(), "other/c");
  });
});

Deno.test("authorize: an unsigned form upload only where a policy lets anonymous put", async () => {
  await withBucket(async (server, s3, put) => {
    const upload = (key: string) => {
      const form = new FormData();
      form.append("key", key);
      form.append("file", new Blob(["posted"]), "f.txt");
      return anonymous(server, "POST", "/bkt", { body: form });
    };
    assertEquals((await upload("drop/x"))[0], 403);
    await put(
      policy({ Effect: "Allow", Action: "s3:PutObject", Resource: "arn:aws:s3:::bkt/drop/*" }),
    );
    assertEquals((await upload("drop/x"))[0], 204);
    assertEquals((await upload("other/x"))[0], 403);
    const posted = await s3.send(new GetObjectCommand({ Bucket: "bkt", Key: "drop/x" }));
    assertEquals(await posted.Body?.transformToString(), "posted");
  });
});
