/**
 * The S3 app as a fetch handler, in process, over a real object layer on temporary drives: what
 * the audit log and the metrics learn about each request, health endpoints, and the headers
 * every response carries whichever path produced it.
 */

import { loadIsal } from "../ffi/isal.ts";
import { parseServerArgs } from "../src/config.ts";
import { Pools } from "../src/object/pools.ts";
import { type AuditEntry, AuditLog } from "../src/observe/audit.ts";
import { Observability } from "../src/observe/observer.ts";
import { type App, createApp } from "../src/s3/app.ts";
import { loadOrInitFormat } from "../src/storage/format.ts";
import { openLocalDrive } from "../src/storage/local-drive.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { parseExposition, value } from "./helpers/prometheus.ts";
import { ACCESS_KEY, SECRET_KEY } from "./helpers/server.ts";
import { type RawRequest, signRequest } from "./s3_raw.ts";

const HOST = "127.0.0.1:9000";
const METRICS_TOKEN = "app-test-metrics-token";

/** The audit entries written so far (after the log's writer has caught up). */
type Entries = () => Promise<AuditEntry[]>;

async function withApp(fn: (app: App, entries: Entries) => Promise<void>) {
  loadIsal();
  const dir = await Deno.makeTempDir({ prefix: "flashstor-app-" });
  const env: Record<string, string> = {
    FLASHSTOR_ROOT_USER: ACCESS_KEY,
    FLASHSTOR_ROOT_PASSWORD: SECRET_KEY,
    FLASHSTOR_METRICS_TOKEN: METRICS_TOKEN,
  };
  const config = parseServerArgs(
    ["--address", HOST, "--domain", "s3.test", `${dir}/d{1...4}`],
    (name) => env[name],
  );
  const drives = await Promise.all(config.drives.map((path) => openLocalDrive(path)));
  const { setCount, setDriveCount, parity } = config.layout;
  const format = await loadOrInitFormat(drives, { setCount, setDriveCount });
  const layer = new Pools(format.sets, { parity, deploymentId: format.deploymentId });
  let text = "";
  const audit = new AuditLog([{
    write: (data) => {
      text += new TextDecoder().decode(data);
      return Promise.resolve(data.byteLength);
    },
  }]);
  const entries = async () => {
    await audit.flush();
    return text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line));
  };
  const app = createApp({ config, layer, observability: new Observability(layer, audit) });
  try {
    await fn(app, entries);
  } finally {
    await audit.close();
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

Deno.test("app: the audit log sees operation, identity, status, bytes and phases", async () => {
  await withApp(async (app, entries) => {
    const created = await request(app, { method: "PUT", path: "/observed" });
    assertEquals(created.status, 200);
    const put = await request(app, {
      method: "PUT",
      path: "/observed/a/key",
      body: new TextEncoder().encode("hello world"),
    });
    assertEquals(put.status, 200);
    const get = await request(app, { method: "GET", path: "/observed/a/key" });
    // A small object's body is in hand whole: its entry is written with the response.
    assertEquals((await entries()).length, 3);
    assertEquals(await get.text(), "hello world");
    const bad = await request(app, { method: "GET", path: "/Bad_Bucket" });
    await bad.text();
    const anonymous = await app.fetch(new Request(`http://${HOST}/observed`));
    await anonymous.text();

    const logged = await entries();
    assertEquals(
      logged.map((e) => [e.operation, e.bucket, e.object, e.accessKey, e.status, e.bytesIn]),
      [
        ["CreateBucket", "observed", undefined, ACCESS_KEY, 200, 0],
        ["PutObject", "observed", "a/key", ACCESS_KEY, 200, 11],
        ["GetObject", "observed", "a/key", ACCESS_KEY, 200, 0],
        ["Unrouted", undefined, undefined, "", 400, 0],
        ["ListObjects", "observed", undefined, "", 403, 0],
      ],
    );
    assertEquals(logged.slice(0, 3).map((e) => e.bytesOut), [0, 0, 11]);
    // Error documents count as bytes sent.
    assert(logged[3].bytesOut > 0 && logged[4].bytesOut > 0, "error bodies are counted");
    const ids = [created, put, get, bad, anonymous].map((r) => r.headers.get("x-amz-request-id"));
    assertEquals(logged.map((e) => e.requestId), ids);
    for (const entry of logged) {
      assert(/^[0-9A-F]{16}$/.test(entry.requestId), entry.requestId);
      assert(entry.durationMs >= 0 && entry.durationMs < 60_000, `durationMs ${entry.durationMs}`);
      assert(Date.now() - Date.parse(entry.time) < 60_000, "time is recent");
    }
    // Authenticated and handled: both phases timed; refused by routing: neither.
    for (const entry of logged.slice(0, 3)) {
      const { authMs, storageMs } = entry.timings;
      assert(authMs !== undefined && storageMs !== undefined, JSON.stringify(entry));
      assert(authMs + storageMs <= entry.durationMs, JSON.stringify(entry));
    }
    assertEquals(logged[3].timings, {});
    assert(logged[4].timings.authMs !== undefined && logged[4].timings.storageMs === undefined);
    assertEquals(logged[1].remoteAddress, "192.0.2.7");
  });
});

Deno.test("app: a streamed body's audit entry is written once the body has been sent", async () => {
  await withApp(async (app, entries) => {
    await (await request(app, { method: "PUT", path: "/streamed" })).text();
    const body = new Uint8Array(300 * 1024).map((_, i) => i % 251);
    await (await request(app, { method: "PUT", path: "/streamed/big", body })).text();
    const get = await request(app, { method: "GET", path: "/streamed/big" });
    assertEquals((await entries()).length, 2);
    assertEquals(new Uint8Array(await get.arrayBuffer()), body);
    const logged = await entries();
    assertEquals(logged.map((e) => [e.operation, e.status, e.bytesOut]).at(-1), [
      "GetObject",
      200,
      body.byteLength,
    ]);
  });
});

Deno.test("app: metrics count requests by operation and status, bytes and auth failures", async () => {
  await withApp(async (app) => {
    await (await request(app, { method: "PUT", path: "/counted" })).text();
    const body = new TextEncoder().encode("0123456789");
    await (await request(app, { method: "PUT", path: "/counted/k", body })).text();
    await (await request(app, { method: "GET", path: "/counted/k" })).text();
    await (await app.fetch(new Request(`http://${HOST}/counted/k`))).text();
    const scrape = (headers: HeadersInit = {}) =>
      app.fetch(new Request(`http://${HOST}/flashstor/v1/metrics`, { headers }));
    const refused = await scrape();
    await refused.text();
    assertEquals(refused.status, 401);
    const response = await scrape({ authorization: `Bearer ${METRICS_TOKEN}` });
    assertEquals(response.status, 200);
    const e = parseExposition(await response.text());
    const requests = (operation: string, status: string) =>
      value(e, "flashstor_requests_total", { operation, status });
    assertEquals(requests("CreateBucket", "200"), 1);
    assertEquals(requests("PutObject", "200"), 1);
    assertEquals(requests("GetObject", "200"), 1);
    assertEquals(requests("GetObject", "403"), 1);
    assertEquals(value(e, "flashstor_auth_failures_total"), 1);
    assertEquals(value(e, "flashstor_bytes_received_total"), 10);
    assert(value(e, "flashstor_bytes_sent_total")! > 10, "object and error bodies");
    assertEquals(value(e, "flashstor_heal_queue_length"), 0);
    const online = e.samples.filter((s) => s.name === "flashstor_drive_online");
    assertEquals(online.map((s) => s.value), [1, 1, 1, 1]);
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
    // Under a virtual-host-style Host the same path is a key of that bucket, not an endpoint.
    const key = await app.fetch(
      new Request(`http://${HOST}/flashstor/health/live`, { headers: { host: "photos.s3.test" } }),
    );
    assertEquals(key.status, 403);
    assertEquals(key.headers.get("content-type"), "application/xml");
    await key.body?.cancel();
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
  await withApp(async (app, entries) => {
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
    assertEquals([forged.status, pulls, (await entries())[0].bytesIn], [403, 0, 0]);
  });
});
