import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  checkMetricsAuth,
  Metrics,
  METRICS_PATH,
  metricsResponse,
} from "../src/observe/metrics.ts";
import type { StorageInfo } from "../src/object/layer.ts";
import { parseExposition, value } from "./helpers/prometheus.ts";

Deno.test("requests, latency, bytes and auth failures render and parse", async () => {
  const metrics = new Metrics();
  metrics.observeRequest({
    operation: "PutObject",
    status: 200,
    durationSeconds: 0.003,
    bytesIn: 1000,
    bytesOut: 0,
  });
  metrics.observeRequest({
    operation: "PutObject",
    status: 200,
    durationSeconds: 0.2,
    bytesIn: 24,
    bytesOut: 0,
  });
  metrics.observeRequest({
    operation: "GetObject",
    status: 404,
    durationSeconds: 0.0005,
    bytesIn: 0,
    bytesOut: 300,
  });
  metrics.authFailure();
  metrics.authFailure();
  const e = parseExposition(await metrics.render());

  assertEquals(e.types.get("flashstor_requests_total"), "counter");
  assertEquals(e.types.get("flashstor_request_duration_seconds"), "histogram");
  assertEquals(value(e, "flashstor_requests_total", { operation: "PutObject", status: "200" }), 2);
  assertEquals(value(e, "flashstor_requests_total", { operation: "GetObject", status: "404" }), 1);
  assertEquals(value(e, "flashstor_bytes_received_total"), 1024);
  assertEquals(value(e, "flashstor_bytes_sent_total"), 300);
  assertEquals(value(e, "flashstor_auth_failures_total"), 2);

  const put = { operation: "PutObject" };
  assertEquals(value(e, "flashstor_request_duration_seconds_count", put), 2);
  assert(Math.abs(value(e, "flashstor_request_duration_seconds_sum", put)! - 0.203) < 1e-9);
  const bucket = (le: string) =>
    value(e, "flashstor_request_duration_seconds_bucket", { ...put, le });
  assertEquals([bucket("0.001"), bucket("0.005"), bucket("0.25"), bucket("+Inf")], [0, 1, 2, 2]);
  // Buckets are cumulative.
  const les = e.samples.filter((s) =>
    s.name === "flashstor_request_duration_seconds_bucket" && s.labels.operation === "PutObject"
  );
  for (let i = 1; i < les.length; i++) assert(les[i].value >= les[i - 1].value);
});

Deno.test("drive, heal and audit figures are pulled from the callbacks at each scrape", async () => {
  let info: StorageInfo = {
    drives: [
      { endpoint: "/d1", state: "online", online: true, total: 1000, free: 600 },
      { endpoint: "/d2", state: "offline", online: false, total: 0, free: 0 },
    ],
    sets: [{ dataShards: 1, parityShards: 1, drives: 2 }],
    healQueueLength: 7,
  };
  let dropped = 5;
  const metrics = new Metrics({
    storageInfo: () => Promise.resolve(info),
    auditDropped: () => dropped,
  });
  let e = parseExposition(await metrics.render());
  assertEquals(value(e, "flashstor_drive_online", { drive: "/d1" }), 1);
  assertEquals(value(e, "flashstor_drive_online", { drive: "/d2" }), 0);
  assertEquals(value(e, "flashstor_drive_state", { drive: "/d2", state: "offline" }), 1);
  assertEquals(value(e, "flashstor_drive_state", { drive: "/d2", state: "online" }), 0);
  assertEquals(value(e, "flashstor_drive_state", { drive: "/d1", state: "online" }), 1);
  assertEquals(value(e, "flashstor_drive_free_bytes", { drive: "/d1" }), 600);
  assertEquals(value(e, "flashstor_drive_free_bytes", { drive: "/d2" }), undefined);
  assertEquals(value(e, "flashstor_heal_queue_length"), 7);
  assertEquals(value(e, "flashstor_audit_dropped_total"), 5);

  info = {
    drives: [{ endpoint: "/d3", state: "healing", online: true, total: 10, free: 4 }],
    sets: [],
    healQueueLength: 0,
  };
  dropped = 12;
  e = parseExposition(await metrics.render());
  assertEquals(
    value(e, "flashstor_drive_online", { drive: "/d1" }),
    undefined,
    "gone drives vanish",
  );
  assertEquals(value(e, "flashstor_drive_free_bytes", { drive: "/d3" }), 4);
  assertEquals(value(e, "flashstor_heal_queue_length"), 0);
  assertEquals(value(e, "flashstor_audit_dropped_total"), 12);
});

Deno.test("each Metrics has its own registry", async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.authFailure();
  assertEquals(value(parseExposition(await b.render()), "flashstor_auth_failures_total"), 0);
});

Deno.test("metrics auth: bearer token unless public; no token configured means closed", () => {
  const req = (authorization?: string) =>
    new Request("http://127.0.0.1/flashstor/v1/metrics", {
      headers: authorization ? { authorization } : {},
    });
  assertEquals(checkMetricsAuth(req(), undefined, true), true);
  assertEquals(checkMetricsAuth(req("Bearer s3cret"), "s3cret", false), true);
  assertEquals(checkMetricsAuth(req("bearer s3cret"), "s3cret", false), true);
  assertEquals(checkMetricsAuth(req("Bearer s3cre"), "s3cret", false), false);
  assertEquals(checkMetricsAuth(req("Bearer s3cretX"), "s3cret", false), false);
  assertEquals(checkMetricsAuth(req("Basic s3cret"), "s3cret", false), false);
  assertEquals(checkMetricsAuth(req(), "s3cret", false), false);
  assertEquals(checkMetricsAuth(req("Bearer "), "", false), false);
  assertEquals(checkMetricsAuth(req("Bearer anything"), undefined, false), false);
});

Deno.test("the endpoint over HTTP: 401 without the token, the exposition with it", async () => {
  const metrics = new Metrics();
  metrics.authFailure();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => metricsResponse(request, metrics, { token: "t0ken", isPublic: false }),
  );
  try {
    const url = `http://127.0.0.1:${server.addr.port}${METRICS_PATH}`;
    const denied = await fetch(url);
    await denied.body?.cancel();
    assertEquals(denied.status, 401);
    assertEquals(denied.headers.get("www-authenticate"), 'Bearer realm="flashstor-metrics"');
    const allowed = await fetch(url, { headers: { authorization: "Bearer t0ken" } });
    assertEquals(allowed.status, 200);
    assert(allowed.headers.get("content-type")!.startsWith("text/plain; version=0.0.4"));
    assertEquals(value(parseExposition(await allowed.text()), "flashstor_auth_failures_total"), 1);
  } finally {
    await server.shutdown();
  }
});
