/**
 * The S3 app as a fetch handler, in process, over a real object layer on temporary drives: what
 * the RequestObserver learns about each request, health endpoints, and the headers every
 * response carries whichever path produced it.
 */

import { loadIsal } from "../ffi/isal.ts";
import { parseServerArgs } from "../src/config.ts";
import { Pools } from "../src/object/pools.ts";
import { type App, createApp, type RequestRecord } from "../src/s3/app.ts";
import { loadOrInitFormat } from "../src/storage/format.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY } from "./helpers/server.ts";
import { type RawRequest, signRequest } from "./s3_raw.ts";

const HOST = "127.0.0.1:9000";

async function withApp(fn: (app: App, records: RequestRecord[]) => Promise<void>) {
  loadIsal();
  const dir = await Deno.makeTempDir({ prefix: "flashstor-app-" });
  const env: Record<string, string> = {
    FLASHSTOR_ROOT_USER: ACCESS_KEY,
    FLASHSTOR_ROOT_PASSWORD: SECRET_KEY,
  };
  const config = parseServerArgs(["--address", HOST, `${dir}/d{1...4}`], (name) => env[name]);
  const drives = await Promise.all(config.drives.map((path) => XlStorage.open(path)));
  const { setCount, setDriveCount, parity } = config.layout;
  const format = await loadOrInitFormat(drives, { setCount, setDriveCount });
  const layer = new Pools(format.sets, { parity, deploymentId: format.deploymentId });
  const records: RequestRecord[] = [];
  const app = createApp({ config, layer, observer: { onRequest: (r) => records.push(r) } });
  try {
    await fn(app, records);
  } finally {
    await layer.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function request(app: App, raw: RawRequest): Promise<Response> {
  // A Request built in process has no Content-Length of its own, unlike one off the wire.
  const length: Record<string, string> = raw.body === undefined
    ? {}
    : { "content-length": String(raw.body.length) };
  const { target, headers } = signRequest({ ...raw, headers: { ...raw.headers, ...length } }, HOST);
  return app.fetch(
    new Request(`http://${HOST}${target}`, { method: raw.method, headers, body: raw.body }),
    { remoteAddr: "192.0.2.7" },
  );
}

Deno.test("app: the observer sees operation, identity, status and bytes", async () => {
  await withApp(async (app, records) => {
    const created = await request(app, { method: "PUT", path: "/observed" });
    assertEquals(created.status, 200);
    const put = await request(app, {
      method: "PUT",
      path: "/observed/a/key",
      body: new TextEncoder().encode("hello world"),
    });
    assertEquals(put.status, 200);
    const get = await request(app, { method: "GET", path: "/observed/a/key" });
    // The record of a response with a body is complete once the body has been sent.
    assertEquals(records.length, 2);
    assertEquals(await get.text(), "hello world");
    const bad = await request(app, { method: "GET", path: "/Bad_Bucket" });
    await bad.text();
    const anonymous = await app.fetch(new Request(`http://${HOST}/observed`));
    await anonymous.text();

    assertEquals(
      records.map((r) => [r.op, r.bucket, r.key, r.accessKey, r.status, r.bytesIn]),
      [
        ["CreateBucket", "observed", "", ACCESS_KEY, 200, 0],
        ["PutObject", "observed", "a/key", ACCESS_KEY, 200, 11],
        ["GetObject", "observed", "a/key", ACCESS_KEY, 200, 0],
        [undefined, "", "", "", 400, 0],
        ["ListObjects", "observed", "", "", 403, 0],
      ],
    );
    assertEquals(records.slice(0, 3).map((r) => r.bytesOut), [0, 0, 11]);
    // Error documents count as bytes sent.
    assert(records[3].bytesOut > 0 && records[4].bytesOut > 0, "error bodies are counted");
    for (const record of records) {
      assert(/^[0-9A-F]{16}$/.test(record.requestId), record.requestId);
      assert(record.authMs >= 0 && record.authMs < 5000, `authMs ${record.authMs}`);
      assert(Date.now() - record.startedAt.getTime() < 60_000, "startedAt is recent");
    }
    assertEquals(records[1].remoteAddr, "192.0.2.7");
  });
});

Deno.test("app: health endpoints and S3 headers on every response", async () => {
  await withApp(async (app) => {
    for (const path of ["/flashstor/health/live", "/flashstor/health/ready"]) {
      for (const method of ["GET", "HEAD"]) {
        const response = await app.fetch(new Request(`http://${HOST}${path}`, { method }));
        await response.body?.cancel();
        assertEquals(response.status, 200, `${method} ${path}`);
        assert(response.headers.get("x-amz-request-id"), "request id");
        assertEquals(response.headers.get("server"), "Flashstor");
      }
    }
    const post = await app.fetch(
      new Request(`http://${HOST}/flashstor/health/live`, { method: "POST" }),
    );
    await post.body?.cancel();
    assertEquals(post.status, 405);
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const response = await request(app, { method: "GET", path: "/" });
      await response.body?.cancel();
      ids.add(response.headers.get("x-amz-request-id") ?? "");
      assert(response.headers.get("x-amz-id-2"), "x-amz-id-2");
    }
    assertEquals(ids.size, 3);
  });
});

Deno.test("app: a request body is not read before authentication succeeds", async () => {
  await withApp(async (app, records) => {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(4));
        controller.close();
      },
    }, { highWaterMark: 0 });
    const forged = await app.fetch(
      new Request(`http://${HOST}/observed/key`, {
        method: "PUT",
        headers: {
          "content-length": "4",
          authorization: "AWS4-HMAC-SHA256 Credential=nobody/20260101/us-east-1/s3/aws4_request, " +
            `SignedHeaders=host, Signature=${"0".repeat(64)}`,
          "x-amz-date": "20260101T000000Z",
        },
        body,
      }),
    );
    await forged.text();
    assertEquals([forged.status, pulls, records[0].bytesIn], [403, 0, 0]);
  });
});
