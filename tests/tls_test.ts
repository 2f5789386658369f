/**
 * HTTPS end to end: the real server started with a certs dir holding a self-signed
 * certificate, driven by @aws-sdk/client-s3 that trusts only that certificate, on both HTTP
 * engines; SIGHUP swaps the certificate of the flashstor engine without a restart (and is
 * harmless on the deno engine).
 */

import https from "node:https";
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { assertEquals } from "./helpers/assert.ts";
import { ignoreWithout, opensslUnavailable } from "./helpers/capabilities.ts";
import { selfSignedCert } from "./helpers/tls.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";

/** Writes a self-signed certificate for 127.0.0.1 as public.crt + private.key. */
async function makeCert(certsDir: string, name: string): Promise<string> {
  await Deno.mkdir(certsDir, { recursive: true });
  return (await selfSignedCert(`${certsDir}/public.crt`, `${certsDir}/private.key`, name)).cert;
}

/** Status of GET /flashstor/health/live over TLS trusting only `cert` (throws if untrusted). */
async function liveStatus(server: TestServer, cert: string): Promise<number> {
  const client = Deno.createHttpClient({ caCerts: [cert] });
  try {
    const response = await fetch(`${server.endpoint}/flashstor/health/live`, { client });
    await response.body?.cancel();
    return response.status;
  } finally {
    client.close();
  }
}

async function waitLive(server: TestServer, cert: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if (await liveStatus(server, cert) === 200) return;
    } catch { /* not yet */ }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server not live over TLS:\n${server.output()}`);
}

const noOpenssl = await opensslUnavailable();

for (const engine of ["flashstor", "deno"]) {
  const name = `tls: AWS SDK round trip over HTTPS (${engine} engine)`;
  Deno.test({ name, ignore: ignoreWithout(name, noOpenssl) }, async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "flashstor-tls-" });
    const certsDir = `${dir}/certs`;
    const cert = await makeCert(certsDir, "first");
    const server = await startServer({
      drives: [`${dir}/d1`, `${dir}/d2`, `${dir}/d3`, `${dir}/d4`],
      args: ["--certs-dir", certsDir, "--http-engine", engine],
      scheme: "https",
    });
    const client = new S3Client({
      endpoint: server.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      requestHandler: { httpsAgent: new https.Agent({ ca: cert }) },
    });
    try {
      await waitLive(server, cert);
      assertEquals(/listening on https:\/\//.test(server.output()), true);

      await t.step("bucket, put and get through the SDK", async () => {
        await client.send(new CreateBucketCommand({ Bucket: "secure" }));
        const body = new TextEncoder().encode("sent over TLS ".repeat(10_000));
        await client.send(
          new PutObjectCommand({ Bucket: "secure", Key: "tls dir/obj.txt", Body: body }),
        );
        const got = await client.send(
          new GetObjectCommand({ Bucket: "secure", Key: "tls dir/obj.txt" }),
        );
        const bytes = await got.Body!.transformToByteArray();
        assertEquals(bytes.length, body.length);
        assertEquals(bytes, body);
      });

      if (engine === "deno") {
        await t.step("SIGHUP: Deno.serve cannot reload, and the server keeps running", async () => {
          server.process.kill("SIGHUP");
          for (let i = 0; i < 100 && !/no certificate to reload/.test(server.output()); i++) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          assertEquals(/no certificate to reload/.test(server.output()), true);
          assertEquals(await liveStatus(server, cert), 200);
        });
      }
      if (engine === "flashstor") {
        await t.step("SIGHUP: new connections get the new certificate", async () => {
          const second = await makeCert(certsDir, "second");
          server.process.kill("SIGHUP");
          for (let i = 0; i < 100 && !/reloaded the TLS certificate/.test(server.output()); i++) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          assertEquals(/reloaded the TLS certificate/.test(server.output()), true);
          assertEquals(await liveStatus(server, second), 200);
          let oldTrusted = true;
          try {
            await liveStatus(server, cert);
          } catch {
            oldTrusted = false;
          }
          assertEquals(oldTrusted, false);
        });
      }
    } finally {
      client.destroy();
      await server.cleanup();
    }
  });
}

const scopedRead =
  "tls: with scoped read, the certs dir is revoked after loading; SIGHUP keeps the loaded certificate";
Deno.test({ name: scopedRead, ignore: ignoreWithout(scopedRead, noOpenssl) }, async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-tls-scoped-" });
  const certsDir = `${dir}/certs`;
  const cert = await makeCert(certsDir, "first");
  const drives = [`${dir}/d1`, `${dir}/d2`, `${dir}/d3`, `${dir}/d4`];
  const server = await startServer({
    drives,
    args: ["--certs-dir", certsDir],
    env: { FLASHSTOR_DATA_PATHS: drives.join(","), FLASHSTOR_CONFIG_PATHS: certsDir },
    scheme: "https",
  });
  try {
    await waitLive(server, cert);
    await makeCert(certsDir, "second");
    server.process.kill("SIGHUP");
    for (let i = 0; i < 100 && !/certificate reload failed/.test(server.output()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assertEquals(/reload failed, keeping the old one: NotCapable/.test(server.output()), true);
    assertEquals(await liveStatus(server, cert), 200);
  } finally {
    await server.cleanup();
  }
});
