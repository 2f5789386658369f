/**
 * The admin API against a real server: the root user's signed requests get the server's info
 * and start heals whose progress reaches done with the right counts; everything else (no
 * signature, another key, a wrong secret, bad JSON or parameters, huge bodies, bad task ids,
 * dot segments, other methods) gets a 4xx S3 error document and leaves the server serving.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { filesBelow } from "./fixtures/object_env.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";
import { client, pattern, put, waitUntil } from "./fault_util.ts";
import { rawRequest, xmlField } from "./s3_raw.ts";
import { signRequest } from "../src/auth/sign-request.ts";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import type { HealProgress } from "../src/object/layer.ts";
import { parseExposition, value } from "./helpers/prometheus.ts";

const ADMIN = "/flashstor/admin/v1/";
const BUCKET = "adminbkt";

interface Call {
  method?: string;
  body?: string;
  accessKey?: string;
  secretKey?: string;
  query?: string;
  unsigned?: boolean;
}

async function admin(server: TestServer, api: string, call: Call = {}) {
  const method = call.method ?? "GET";
  const headers = call.unsigned ? new Headers() : signRequest(
    {
      endpoint: server.endpoint,
      accessKey: call.accessKey ?? ACCESS_KEY,
      secretKey: call.secretKey ?? SECRET_KEY,
      region: "us-east-1",
    },
    method,
    ADMIN + api,
    call.query ?? "",
  );
  const url = `${server.endpoint}${ADMIN}${api}${call.query ? `?${call.query}` : ""}`;
  const response = await fetch(url, { method, headers, body: call.body });
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    text: await response.text(),
  };
}

async function refused(server: TestServer, api: string, call: Call, status: number, code: string) {
  const r = await admin(server, api, call);
  assertEquals(r.status, status, `${call.method ?? "GET"} ${api} ${call.body ?? ""}: ${r.text}`);
  assertEquals(xmlField(r.text, "Code"), code, r.text);
}

async function healToEnd(server: TestServer, started: HealProgress): Promise<HealProgress> {
  let progress = started;
  await waitUntil(`heal ${started.id} done`, async () => {
    const r = await admin(server, `heal/${started.id}`);
    assertEquals(r.status, 200, r.text);
    progress = JSON.parse(r.text);
    return progress.state !== "running";
  });
  return progress;
}

Deno.test("admin API: root-signed info and heals with progress; anything else is a clear 4xx", async () => {
  const server = await startServer({ args: ["--scanner-interval", "0", "--metrics-public"] });
  try {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const names = ["a/1", "a/2", "a/3", "b/1", "big"];
    for (const [i, name] of names.entries()) {
      await put(s3, BUCKET, name, pattern(name === "big" ? 3 << 20 : 1000 + i, i));
    }

    // Who may ask.
    await refused(server, "info", { unsigned: true }, 403, "AccessDenied");
    await refused(server, "heal", { unsigned: true, method: "POST" }, 403, "AccessDenied");
    await refused(server, "info", { accessKey: "someone-else" }, 403, "InvalidAccessKeyId");
    await refused(server, "info", { secretKey: "not-the-secret" }, 403, "SignatureDoesNotMatch");

    const info = await admin(server, "info");
    assertEquals(info.status, 200, info.text);
    assertEquals(info.type, "application/json");
    const body = JSON.parse(info.text);
    assert(typeof body.version === "string" && body.version !== "");
    assert(/^[0-9a-f-]{36}$/.test(body.deploymentId), body.deploymentId);
    assertEquals(body.drives.map((d: { state: string }) => d.state), Array(4).fill("online"));
    assert(
      body.drives.every((d: { total: number; free: number }) => d.total >= d.free && d.free > 0),
    );
    assertEquals(body.sets, [{ dataShards: 2, parityShards: 2, drives: 4 }]);
    assertEquals(body.healQueueLength, 0);
    assertEquals(body.healTasks, []);

    // Damage "a/*" on one drive: a heal of prefix "a/" finds and heals exactly those three.
    for (const name of ["a/1", "a/2", "a/3"]) {
      await Deno.remove(`${server.drives[0]}/${BUCKET}/${name}`, { recursive: true });
    }
    const started = await admin(server, "heal", {
      method: "POST",
      body: JSON.stringify({ bucket: BUCKET, prefix: "a/" }),
    });
    assertEquals(started.status, 200, started.text);
    const prefixHeal = await healToEnd(server, JSON.parse(started.text));
    assertEquals(prefixHeal.kind, "request");
    assertEquals(prefixHeal.request, { bucket: BUCKET, prefix: "a/", deep: false });
    assertEquals(
      [
        prefixHeal.state,
        prefixHeal.objectsScanned,
        prefixHeal.objectsHealed,
        prefixHeal.objectsFailed,
      ],
      ["done", 3, 3, 0],
    );
    assertEquals(prefixHeal.bytesHealed, 1000 + 1001 + 1002);
    for (const name of ["a/1", "a/2", "a/3"]) {
      await Deno.stat(`${server.drives[0]}/${BUCKET}/${name}/xl.meta`);
    }

    // Rot in the big object's shard on one drive: a deep heal of everything (query form) finds it.
    const dataDir = (await Array.fromAsync(Deno.readDir(`${server.drives[1]}/${BUCKET}/big`)))
      .find((e) => e.isDirectory)!.name;
    const part = `${server.drives[1]}/${BUCKET}/big/${dataDir}/part.1`;
    const bytes = await Deno.readFile(part);
    bytes[5000] ^= 0xff;
    await Deno.writeFile(part, bytes);
    const deep = await admin(server, "heal", { method: "POST", query: "deep=true" });
    assertEquals(deep.status, 200, deep.text);
    const deepHeal = await healToEnd(server, JSON.parse(deep.text));
    assertEquals(deepHeal.request, { deep: true });
    // Everything is the five objects and the server's config records (the IAM account, …).
    const records = (await filesBelow(`${server.drives[0]}/.flashstor.sys/config/records`))
      .filter((path) => path.endsWith("/xl.meta")).length;
    assert(records > 0, "the server keeps config records");
    assertEquals([deepHeal.objectsScanned, deepHeal.objectsHealed, deepHeal.objectsTotal], [
      5 + records,
      1,
      5 + records,
    ]);
    assertEquals(deepHeal.bytesHealed, 3 << 20);
    const listed = JSON.parse((await admin(server, "heal")).text).tasks as HealProgress[];
    assertEquals(listed.map((t) => t.id).sort(), [prefixHeal.id, deepHeal.id].sort());

    // Bad heal requests.
    const post = (body: string, query = "") => ({ method: "POST", body, query });
    await refused(server, "heal", post("{not json"), 400, "InvalidArgument");
    await refused(server, "heal", post("[1,2]"), 400, "InvalidArgument");
    await refused(server, "heal", post('"text"'), 400, "InvalidArgument");
    await refused(
      server,
      "heal",
      post('{"bucket":"adminbkt","recursive":true}'),
      400,
      "InvalidArgument",
    );
    await refused(
      server,
      "heal",
      post('{"bucket":"adminbkt","deep":"yes"}'),
      400,
      "InvalidArgument",
    );
    await refused(server, "heal", post('{"bucket":7}'), 400, "InvalidArgument");
    await refused(server, "heal", post('{"prefix":"a/"}'), 400, "InvalidArgument");
    await refused(server, "heal", post("", "bucket=a&bucket=b"), 400, "InvalidArgument");
    await refused(
      server,
      "heal",
      post(`{"bucket":"adminbkt","prefix":"${"x".repeat(1100)}"}`),
      400,
      "InvalidArgument",
    );
    await refused(server, "heal", post('{"bucket":"no-such-bucket"}'), 404, "NoSuchBucket");
    await refused(server, "heal", post('{"bucket":"Bad_Name"}'), 400, "InvalidBucketName");
    await refused(server, "heal", post('{"bucket":"../../etc"}'), 400, "InvalidBucketName");
    await refused(server, "heal", post("{}", "deep=maybe"), 400, "InvalidArgument");
    await refused(
      server,
      "heal",
      post(JSON.stringify({ bucket: BUCKET, pad: "x".repeat(100_000) })),
      400,
      "EntityTooLarge",
    );
    await refused(server, "heal", post("\xff\xfe".repeat(10)), 400, "InvalidArgument");
    // A path prefix cannot leave the bucket: it only filters names.
    const dots = await admin(
      server,
      "heal",
      post(JSON.stringify({ bucket: BUCKET, prefix: "../../" })),
    );
    assertEquals(dots.status, 200, dots.text);
    const dotsHeal = await healToEnd(server, JSON.parse(dots.text));
    assertEquals([dotsHeal.state, dotsHeal.objectsScanned], ["done", 0]);

    // Bad ids, paths and methods.
    await refused(server, "heal/not-an-id", {}, 400, "InvalidArgument");
    await refused(server, `heal/${crypto.randomUUID()}`, {}, 404, "XFlashstorNoSuchHealTask");
    await refused(server, `heal/${prefixHeal.id}`, { method: "DELETE" }, 405, "MethodNotAllowed");
    await refused(server, "info", { method: "POST" }, 405, "MethodNotAllowed");
    await refused(server, "nothing", {}, 400, "InvalidRequest");
    // Raw dot segments reach the server as sent.
    const dotted = await rawRequest(server, { method: "GET", path: `${ADMIN}heal/../info` });
    assertEquals(dotted.status, 400, dotted.body);
    // A key of bucket "adminbkt" that normalises to the admin path is an S3 request.
    const s3Path = await rawRequest(server, {
      method: "GET",
      path: `/${BUCKET}/../flashstor/admin/v1/info`,
    });
    assert(s3Path.status !== 200 && s3Path.status < 500, `${s3Path.status} ${s3Path.body}`);
    assert(!s3Path.body.includes("deploymentId"), s3Path.body);
    // A huge announced body is refused before it is read.
    const huge = await rawRequest(server, { method: "POST", path: `${ADMIN}heal` }, [
      "content-length: 1000000000",
    ]);
    assert(huge.status === 400, `${huge.status} ${huge.body}`);

    // The heals in the metrics: 3 + 1 objects healed, 4 objects and the records found whole,
    // 3 tasks done.
    const metrics = parseExposition(
      await (await fetch(`${server.endpoint}/flashstor/v1/metrics`)).text(),
    );
    const heal = (result: string) => value(metrics, "flashstor_heal_objects_total", { result });
    assertEquals([heal("healed"), heal("failed"), heal("clean")], [4, 0, 4 + records]);
    assertEquals(value(metrics, "flashstor_heal_bytes_total"), 3003 + (3 << 20));
    assertEquals(value(metrics, "flashstor_heal_tasks", { state: "done" }), 3);
    assertEquals(value(metrics, "flashstor_heal_tasks", { state: "running" }), 0);

    const after = await admin(server, "info");
    assertEquals(after.status, 200, "still serving");
    assertStringIncludes(
      server.output(),
      `heal of bucket ${BUCKET} prefix a/ finished: 3 objects scanned, 3 healed`,
    );
    assert(!server.output().includes("InternalError"), server.output());
  } finally {
    await server.cleanup();
  }
});
