/**
 * Issue 10's authentication findings against the real server: unsigned x-amz-* headers are
 * refused before anything is read or written; a JS SDK v3 presigned PUT stores the x-amz-*
 * parameters it signed into its query; boto3's default (SigV2) presigned URLs and a SigV2 POST
 * form work; a client signing for another region works unless a region is configured; non-ASCII
 * metadata as boto3 sends it is signed and returned byte for byte, through both HTTP engines.
 */
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { createHmac } from "node:crypto";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";
import { signedFetch } from "./s3_raw.ts";

const hasBoto = (() => {
  try {
    return new Deno.Command("python3", {
      args: ["-c", "import boto3"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync().success;
  } catch {
    return false;
  }
})();
const AWS_CLI = "/usr/bin/aws";
const hasCli = (() => {
  try {
    return Deno.statSync(AWS_CLI).isFile;
  } catch {
    console.log(`auth_requests_test: AWS CLI step skipped, ${AWS_CLI} is absent`);
    return false;
  }
})();
if (!hasBoto) {
  console.log("auth_requests_test: boto3 steps skipped, python3 -c 'import boto3' fails");
}

/** Runs `script` with boto3 against `server` (path style, no retries); returns its stdout. */
async function boto(server: TestServer, script: string, region = "us-east-1"): Promise<string> {
  const prelude = `
import sys, json, urllib.request, urllib.error, boto3
from botocore.config import Config
def client(**config):
    return boto3.client("s3", endpoint_url=sys.argv[1], region_name=${JSON.stringify(region)},
        aws_access_key_id=${JSON.stringify(ACCESS_KEY)}, aws_secret_access_key=${
    JSON.stringify(SECRET_KEY)
  },
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config))
def fetch(url, method="GET", data=None, headers={}):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method, headers=headers)) as r:
            return {"status": r.status, "body": r.read().decode("latin1")}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode("latin1")}
`;
  const out = await new Deno.Command("python3", {
    args: ["-c", prelude + script, server.endpoint],
    env: { AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!out.success) throw new Error(`python3 failed: ${decoder.decode(out.stderr)}`);
  return decoder.decode(out.stdout);
}

async function withServer(
  options: Parameters<typeof startServer>[0],
  fn: (server: TestServer, client: S3Client) => Promise<void>,
) {
  const server = await startServer(options);
  const client = s3Client(server);
  try {
    if (options?.env?.FLASHSTOR_REGION === undefined) {
      await signedFetch(server, { method: "PUT", path: "/auth" }).then((r) => r.body?.cancel());
    }
    await fn(server, client);
  } finally {
    client.destroy();
    await server.cleanup();
  }
}

Deno.test({
  name: "unsigned x-amz-* headers are refused; a presigned URL's signed x-amz-* parameters apply",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withServer({}, async (server, client) => {
      await client.send(
        new PutObjectCommand({ Bucket: "auth", Key: "private.txt", Body: "secret" }),
      );
      const presign = (command: PutObjectCommand) =>
        getSignedUrl(client, command, { expiresIn: 300 });

      await t.step(
        "a presigned PUT plus unsigned x-amz-copy-source is refused, nothing written",
        async () => {
          const url = await presign(new PutObjectCommand({ Bucket: "auth", Key: "upload-slot" }));
          const response = await fetch(url, {
            method: "PUT",
            headers: { "x-amz-copy-source": "/auth/private.txt", "x-amz-meta-evil": "1" },
          });
          const body = await response.text();
          assertEquals(response.status, 403, body);
          assertStringIncludes(body, "<Code>AccessDenied</Code>");
          assertStringIncludes(
            body,
            "There were headers present in the request which were not signed",
          );
          assertStringIncludes(
            body,
            "<HeadersNotSigned>x-amz-copy-source, x-amz-meta-evil</HeadersNotSigned>",
          );
          const head = await signedFetch(server, { method: "HEAD", path: "/auth/upload-slot" });
          assertEquals(head.status, 404, "nothing was written");
        },
      );

      await t.step("header auth: an x-amz-* header outside SignedHeaders is refused", async () => {
        const response = await signedFetch(server, {
          method: "PUT",
          path: "/auth/header-signed",
          body: "data",
        });
        assertEquals(response.status, 200, await response.text());
        // x-amzn-trace-id is not S3's: SDKs never sign it and it is let through.
        const { signRequest } = await import("./s3_raw.ts");
        const host = `127.0.0.1:${server.port}`;
        const signed = signRequest(
          { method: "PUT", path: "/auth/header-signed", body: "data" },
          host,
        );
        const sent = await fetch(`${server.endpoint}${signed.target}`, {
          method: "PUT",
          body: "data",
          headers: { ...signed.headers, "x-amzn-trace-id": "Root=1", "x-amz-tagging": "a=b" },
        });
        const body = await sent.text();
        assertEquals(sent.status, 403, body);
        assertStringIncludes(body, "<HeadersNotSigned>x-amz-tagging</HeadersNotSigned>");
      });

      await t.step(
        "a JS SDK v3 presigned PUT stores the metadata it signed into its query",
        async () => {
          const url = await presign(
            new PutObjectCommand({
              Bucket: "auth",
              Key: "with-meta",
              Metadata: { colour: "blue" },
              ACL: "private",
              ContentType: "text/plain",
            }),
          );
          assert(url.includes("x-amz-meta-colour=blue"), url);
          const response = await fetch(url, { method: "PUT", body: "" });
          assertEquals(response.status, 200, await response.text());
          const head = await client.send(
            new HeadObjectCommand({ Bucket: "auth", Key: "with-meta" }),
          );
          assertEquals(head.Metadata, { colour: "blue" });
          // The SDK also signs the CRC32 of an empty body into the URL: not applied, so any body
          // may go to it (see src/auth/amz-headers.ts).
          assert(url.includes("x-amz-checksum-crc32=AAAAAA%3D%3D"), url);
          const other = await fetch(url, { method: "PUT", body: "not empty" });
          assertEquals(other.status, 200, await other.text());
          const again = await client.send(
            new HeadObjectCommand({ Bucket: "auth", Key: "with-meta" }),
          );
          assertEquals([again.Metadata, again.ContentLength], [{ colour: "blue" }, 9]);
        },
      );

      await t.step({
        name: "an AWS CLI presigned GET works, and fails with an added x-amz-* header",
        ignore: !hasCli,
        fn: async () => {
          const out = await new Deno.Command(AWS_CLI, {
            args: ["s3", "presign", "s3://auth/private.txt", "--endpoint-url", server.endpoint],
            env: {
              AWS_ACCESS_KEY_ID: ACCESS_KEY,
              AWS_SECRET_ACCESS_KEY: SECRET_KEY,
              AWS_DEFAULT_REGION: "us-east-1",
              AWS_CONFIG_FILE: "/dev/null",
              AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
            },
            stdout: "piped",
            stderr: "piped",
          }).output();
          const url = new TextDecoder().decode(out.stdout).trim();
          assert(out.success && url.includes("X-Amz-Signature="), url);
          const get = await fetch(url);
          assertEquals([get.status, await get.text()], [200, "secret"]);
          const added = await fetch(url, { headers: { "x-amz-server-side-encryption": "AES256" } });
          assertEquals(added.status, 403, await added.text());
        },
      });

      await t.step(
        "signed with requestChecksumCalculation WHEN_REQUIRED, a presigned PUT of any body keeps its metadata",
        async () => {
          const signer = new S3Client({
            endpoint: server.endpoint,
            region: "us-east-1",
            forcePathStyle: true,
            credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
            requestChecksumCalculation: "WHEN_REQUIRED",
          });
          const url = await getSignedUrl(
            signer,
            new PutObjectCommand({ Bucket: "auth", Key: "via-url", Metadata: { n: "1" } }),
            { expiresIn: 300 },
          );
          signer.destroy();
          const response = await fetch(url, { method: "PUT", body: "uploaded" });
          assertEquals(response.status, 200, await response.text());
          const head = await client.send(new HeadObjectCommand({ Bucket: "auth", Key: "via-url" }));
          assertEquals([head.Metadata, head.ContentLength], [{ n: "1" }, 8]);
        },
      );
    });
  },
});

Deno.test({
  name: "SigV2: boto3's default presigned GET and PUT, a SigV2 POST form, and FLASHSTOR_SIGV2=off",
  ignore: !hasBoto,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await withServer({}, async (server) => {
      await t.step("boto3 generate_presigned_url (SigV2 by default) GET and PUT", async () => {
        const seen = JSON.parse(
          await boto(
            server,
            `
s3 = client()
put = s3.generate_presigned_url("put_object", Params={"Bucket": "auth", "Key": "v2/put me"}, ExpiresIn=300)
get = s3.generate_presigned_url("get_object", Params={"Bucket": "auth", "Key": "v2/put me"}, ExpiresIn=300)
# urllib would send a form Content-Type, which SigV2 signs: send none, as curl -T does.
bare = {"Content-Type": ""}
print(json.dumps({"put_url": put, "put": fetch(put, "PUT", b"sigv2 body", bare), "get": fetch(get),
                  "tampered": fetch(get.replace("put%20me", "other")),
                  "added": fetch(put, "PUT", b"x", {**bare, "x-amz-meta-added": "1"}),
                  "meta": fetch(s3.generate_presigned_url("put_object", ExpiresIn=300,
                      Params={"Bucket": "auth", "Key": "v2/meta", "Metadata": {"colour": "red"}}),
                      "PUT", b"m", bare),
                  "head": s3.head_object(Bucket="auth", Key="v2/meta")["Metadata"]}))
`,
          ),
        );
        assert(new URL(seen.put_url).searchParams.has("AWSAccessKeyId"), seen.put_url);
        assertEquals(seen.put.status, 200, seen.put.body);
        assertEquals([seen.get.status, seen.get.body], [200, "sigv2 body"]);
        assertEquals(seen.tampered.status, 403, seen.tampered.body);
        assertEquals(seen.added.status, 403, seen.added.body);
        assertStringIncludes(seen.added.body, "SignatureDoesNotMatch");
        // botocore moves x-amz-meta-* into a SigV2 URL's query: signed, and applied.
        assertEquals(seen.meta.status, 200, seen.meta.body);
        assertEquals(seen.head, { colour: "red" });
      });

      await t.step(
        "a browser form signed with AWSAccessKeyId + signature (HMAC-SHA1)",
        async () => {
          const expiration = new Date(Date.now() + 300_000).toISOString();
          const policy = btoa(JSON.stringify({
            expiration,
            conditions: [{ bucket: "auth" }, ["starts-with", "$key", "form/"]],
          }));
          const sign = (secret: string) =>
            createHmac("sha1", secret).update(policy).digest("base64");
          const post = (signature: string) => {
            const form = new FormData();
            form.set("key", "form/v2.txt");
            form.set("AWSAccessKeyId", ACCESS_KEY);
            form.set("policy", policy);
            form.set("signature", signature);
            form.set("file", new Blob(["posted with sigv2"]), "v2.txt");
            return fetch(`${server.endpoint}/auth`, { method: "POST", body: form });
          };
          const bad = await post(sign("not-the-secret"));
          assertEquals(bad.status, 403, await bad.text());
          const ok = await post(sign(SECRET_KEY));
          assertEquals(ok.status, 204, await ok.text());
          const get = await signedFetch(server, { method: "GET", path: "/auth/form/v2.txt" });
          assertEquals(await get.text(), "posted with sigv2");
        },
      );
    });

    await t.step("FLASHSTOR_SIGV2=off refuses SigV2 as AWS does", async () => {
      await withServer({ env: { FLASHSTOR_SIGV2: "off" } }, async (server) => {
        const seen = JSON.parse(
          await boto(
            server,
            `
url = client().generate_presigned_url("get_object", Params={"Bucket": "auth", "Key": "k"}, ExpiresIn=300)
print(json.dumps(fetch(url)))
`,
          ),
        );
        assertEquals(seen.status, 400, seen.body);
        assertStringIncludes(seen.body, "<Code>InvalidRequest</Code>");
        assertStringIncludes(seen.body, "Please use AWS4-HMAC-SHA256.");
      });
    });
  },
});

const REGION_SCRIPT = `
s3 = client()
out = {}
try:
    s3.create_bucket(Bucket="auth")
except Exception:
    pass
try:
    s3.put_object(Bucket="auth", Key="r", Body=b"region")
    out["put"] = "ok"
    out["location"] = s3.get_bucket_location(Bucket="auth").get("LocationConstraint")
    out["head_region"] = s3.head_bucket(Bucket="auth")["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region")
except Exception as e:
    out["error"] = getattr(e, "response", {}).get("Error", {"Message": str(e)})
print(json.dumps(out))
`;

Deno.test({
  name: "regions: any region is accepted when none is configured; a configured one is enforced",
  ignore: !hasBoto,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await t.step(
      "FLASHSTOR_REGION unset: a client for eu-west-1 works, us-east-1 is reported",
      async () => {
        await withServer({}, async (server) => {
          const seen = JSON.parse(await boto(server, REGION_SCRIPT, "eu-west-1"));
          assertEquals(seen, { put: "ok", location: null, head_region: "us-east-1" });
        });
      },
    );
    await t.step(
      "FLASHSTOR_REGION=eu-central-1: that region works, us-east-1 is refused naming it",
      async () => {
        await withServer({ env: { FLASHSTOR_REGION: "eu-central-1" } }, async (server) => {
          const right = JSON.parse(await boto(server, REGION_SCRIPT, "eu-central-1"));
          assertEquals(right, { put: "ok", location: "eu-central-1", head_region: "eu-central-1" });
          // Signed for us-east-1 (botocore would follow the Region element and sign again).
          const wrong = await signedFetch(server, { method: "GET", path: "/auth/r" });
          const body = await wrong.text();
          assertEquals(wrong.status, 400, body);
          assertStringIncludes(body, "<Code>AuthorizationHeaderMalformed</Code>");
          assertStringIncludes(body, "expecting &apos;eu-central-1&apos;");
          assertStringIncludes(body, "<Region>eu-central-1</Region>");
        });
      },
    );
  },
});

for (const engine of ["flashstor", "deno"]) {
  Deno.test({
    name: `non-ASCII metadata as boto3 sends it is signed and returned byte for byte (${engine})`,
    ignore: !hasBoto,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await withServer({ args: ["--http-engine", engine] }, async (server) => {
        const seen = JSON.parse(
          await boto(
            server,
            `
s3 = client()
value = "Hello World\\xe9 voil\\xe0"
def add(request, **kwargs):
    request.headers["x-amz-meta-x"] = value
s3.meta.events.register("before-sign.s3.PutObject", add)
out = {}
try:
    s3.put_object(Bucket="auth", Key="utf8", Body=b"x")
    head = s3.head_object(Bucket="auth", Key="utf8")
    raw = head["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-x"]
    out["returned"] = list(raw.encode("latin1"))
    out["sent"] = list(value.encode("utf-8"))
except Exception as e:
    out["error"] = str(e)
print(json.dumps(out))
`,
          ),
        );
        assertEquals(seen.error, undefined, seen.error);
        assertEquals(seen.returned, seen.sent);
      });
    },
  });
}
