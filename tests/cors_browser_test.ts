/**
 * Bucket CORS in a real browser: headless Chromium (Debian's, driven by npm:puppeteer-core)
 * loads a page from another loopback origin whose script GETs an object through a presigned URL
 * and uploads one through a presigned PUT (a preflighted request: non-safelisted Content-Type).
 * The bucket's rules allow both, and the script reads the exposed ETag; after the rules change to
 * allow another origin only, both fetches reject and the refused upload never reached the server.
 */

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketCorsCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import puppeteer from "puppeteer-core";
import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { clientPresent } from "./helpers/clients.ts";
import { ACCESS_KEY, s3Client, SECRET_KEY, startServer } from "./helpers/server.ts";

const CHROMIUM = "/usr/bin/chromium";
const chromiumPresent = clientPresent("cors_browser_test", CHROMIUM);

/** What the page's script saw of one fetch. */
interface Outcome {
  status?: number;
  text?: string;
  etag?: string | null;
  /** The fetch rejected (the browser withheld the response: CORS refused it). */
  error?: string;
}

/** Runs in the page: fetches `url` and reports what the page may see of the response. */
function pageFetch(url: string, init: RequestInit): Promise<Outcome> {
  // Never from the browser's cache: each answer must come from the server's current rules.
  return fetch(url, { ...init, cache: "no-store" }).then(
    async (r) => ({ status: r.status, text: await r.text(), etag: r.headers.get("etag") }),
    (err: Error) => ({ error: String(err) }),
  );
}

Deno.test({
  name:
    "cors browser: a page of another origin GETs and PUTs through presigned URLs as the rules say",
  ignore: !chromiumPresent,
  async fn() {
    const server = await startServer();
    const s3 = s3Client(server);
    // The SDK would otherwise sign an empty body's CRC32 into the PUT URL (PLATFORM-NOTES).
    const signer = new S3Client({
      endpoint: server.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    const page = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      () =>
        new Response("<!doctype html><title>app</title>", {
          headers: { "content-type": "text/html" },
        }),
    );
    const origin = `http://127.0.0.1:${page.addr.port}`;
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        // A free port may be one Chromium refuses by default (its "unsafe ports").
        `--explicitly-allowed-ports=${server.port},${page.addr.port}`,
      ],
      // Generous: the suite runs in parallel on two shared cores.
      timeout: 120_000,
      protocolTimeout: 120_000,
    });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: "web" }));
      await s3.send(new PutObjectCommand({ Bucket: "web", Key: "hello.txt", Body: "hello" }));
      const allow = (origins: string[]) =>
        s3.send(
          new PutBucketCorsCommand({
            Bucket: "web",
            CORSConfiguration: {
              CORSRules: [{
                AllowedOrigins: origins,
                AllowedMethods: ["GET", "PUT"],
                AllowedHeaders: ["content-type"],
                ExposeHeaders: ["ETag"],
                // No preflight cache: the change of rules holds for the next request.
                MaxAgeSeconds: 0,
              }],
            },
          }),
        );
      const presign = (key: string) =>
        Promise.all([
          getSignedUrl(signer, new GetObjectCommand({ Bucket: "web", Key: "hello.txt" }), {
            expiresIn: 600,
          }),
          getSignedUrl(
            signer,
            new PutObjectCommand({
              Bucket: "web",
              Key: key,
              ContentType: "application/octet-stream",
            }),
            { expiresIn: 600 },
          ),
        ]);
      const tab = await browser.newPage();
      await tab.goto(`${origin}/`, { timeout: 60_000 });
      const inPage = async (key: string, body: string): Promise<[Outcome, Outcome]> => {
        const [getUrl, putUrl] = await presign(key);
        const get = await tab.evaluate(pageFetch, getUrl, {});
        const put = await tab.evaluate(pageFetch, putUrl, {
          method: "PUT",
          body,
          headers: { "content-type": "application/octet-stream" },
        });
        return [get, put];
      };

      await allow([origin]);
      const [get, put] = await inPage("from-browser.txt", "uploaded by a page");
      assertEquals(get, { status: 200, text: "hello", etag: '"5d41402abc4b2a76b9719d911017c592"' });
      assertEquals([put.status, put.error], [200, undefined], put.text);
      const uploaded = await s3.send(
        new GetObjectCommand({ Bucket: "web", Key: "from-browser.txt" }),
      );
      assertEquals(await uploaded.Body!.transformToString(), "uploaded by a page");
      assertEquals(put.etag, uploaded.ETag);

      await allow(["http://elsewhere.test"]);
      const [refusedGet, refusedPut] = await inPage("refused.txt", "must not land");
      assertEquals(refusedGet.status, undefined);
      assertEquals(refusedPut.status, undefined);
      assertEquals(refusedGet.error?.startsWith("TypeError"), true, refusedGet.error);
      assertEquals(refusedPut.error?.startsWith("TypeError"), true, refusedPut.error);
      // The preflight was refused, so the browser never sent the PUT.
      await assertRejects(() =>
        s3.send(new HeadObjectCommand({ Bucket: "web", Key: "refused.txt" }))
      );
    } finally {
      await browser.close();
      await page.shutdown();
      signer.destroy();
      s3.destroy();
      await server.cleanup();
    }
  },
});
