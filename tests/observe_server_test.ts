/**
 * Observability of the real server (scripts/flashstor subprocess on either HTTP engine, 2 data +
 * 2 parity over 4 drive directories): after a mix of AWS SDK requests the audit file holds one
 * JSON line per request whose id is the x-amz-request-id the client saw, with its operation,
 * status and bytes; the metrics endpoint (bearer token, or --metrics-public) serves Prometheus
 * text consistent with that traffic; ready turns 503 when 3 of 4 drives vanish while live stays
 * 200.
 */

import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { Readable } from "node:stream";
import type { AuditEntry } from "../src/observe/audit.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { type Exposition, parseExposition, value } from "./helpers/prometheus.ts";
import {
  ACCESS_KEY,
  s3Client,
  SECRET_KEY,
  startServer,
  type TestServer,
} from "./helpers/server.ts";

const BUCKET = "observed";
const BODY = "observability, end to end\n".repeat(40);
/** Sent as a stream: aws-chunked framing with a CRC32 trailer, so more bytes than the object. */
const STREAMED = new Uint8Array(100_000).fill(7);

/** What the client saw of one request. */
interface Seen {
  operation: string;
  status: number;
  requestId: string;
  /** Content-Length the client sent; undefined when it sent Transfer-Encoding: chunked. */
  sent?: number;
  /** Body bytes the client received. */
  received?: number;
}

/** Records the Content-Length of every request the client sends, in order. */
function recordLengths(client: S3Client): (number | undefined)[] {
  const lengths: (number | undefined)[] = [];
  client.middlewareStack.add((next) => (args) => {
    const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
    const chunked = headers["transfer-encoding"] === "chunked";
    lengths.push(chunked ? undefined : Number(headers["content-length"] ?? 0));
    return next(args);
  }, { step: "finalizeRequest", priority: "low", name: "recordLengths" });
  return lengths;
}

async function call(
  operation: string,
  lengths: (number | undefined)[],
  send: () => Promise<{ $metadata: { httpStatusCode?: number; requestId?: string } }>,
): Promise<Seen> {
  const before = lengths.length;
  try {
    const out = await send();
    return {
      operation,
      status: out.$metadata.httpStatusCode ?? 0,
      requestId: out.$metadata.requestId ?? "",
      sent: lengths[before],
    };
  } catch (err) {
    if (!(err instanceof S3ServiceException)) throw err;
    return {
      operation,
      status: err.$metadata.httpStatusCode ?? 0,
      requestId: err.$metadata.requestId ?? "",
      sent: lengths[before],
    };
  } finally {
    assertEquals(lengths.length, before + 1, `${operation} was sent exactly once (no retries)`);
  }
}

async function traffic(server: TestServer): Promise<Seen[]> {
  const client = s3Client(server);
  const lengths = recordLengths(client);
  const forged = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: "not-the-secret" },
  });
  const forgedLengths = recordLengths(forged);
  const seen: Seen[] = [];
  seen.push(
    await call(
      "CreateBucket",
      lengths,
      () => client.send(new CreateBucketCommand({ Bucket: BUCKET })),
    ),
  );
  seen.push(
    await call(
      "PutObject",
      lengths,
      () => client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "a/key", Body: BODY })),
    ),
  );
  let received = 0;
  seen.push(
    await call("GetObject", lengths, async () => {
      const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "a/key" }));
      const bytes = await out.Body!.transformToByteArray();
      received = bytes.byteLength;
      assertEquals(new TextDecoder().decode(bytes), BODY);
      return out;
    }),
  );
  seen[seen.length - 1].received = received;
  seen.push(
    await call(
      "HeadObject",
      lengths,
      () => client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "a/key" })),
    ),
  );
  seen.push(
    await call(
      "ListObjectsV2",
      lengths,
      () => client.send(new ListObjectsV2Command({ Bucket: BUCKET })),
    ),
  );
  seen.push(
    await call(
      "GetObject",
      lengths,
      () => client.send(new GetObjectCommand({ Bucket: BUCKET, Key: "missing" })),
    ),
  );
  seen.push(
    await call("ListBuckets", forgedLengths, () => forged.send(new ListBucketsCommand({}))),
  );
  seen.push(
    await call("PutObject", lengths, () =>
      client.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: "streamed",
          Body: Readable.from([STREAMED.subarray(0, 70_000), STREAMED.subarray(70_000)]),
          ContentLength: STREAMED.length,
        }),
      )),
  );
  client.destroy();
  forged.destroy();
  return seen;
}

async function fetchStatus(url: string, init?: RequestInit): Promise<number> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  return response.status;
}

async function scrape(server: TestServer, token?: string): Promise<Exposition> {
  const response = await fetch(`${server.endpoint}/flashstor/v1/metrics`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  assertEquals(response.status, 200, text);
  assert(response.headers.get("content-type")?.startsWith("text/plain"), "exposition type");
  return parseExposition(text);
}

function drives(e: Exposition): { online: number; offline: number; free: number[] } {
  const samples = e.samples.filter((s) => s.name === "flashstor_drive_online");
  return {
    online: samples.filter((s) => s.value === 1).length,
    offline: samples.filter((s) => s.value === 0).length,
    free: e.samples.filter((s) => s.name === "flashstor_drive_free_bytes").map((s) => s.value),
  };
}

for (const engine of ["flashstor", "deno"]) {
  Deno.test(`real server (${engine} engine): audit lines, metrics and health after SDK traffic`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "flashstor-observe-" });
    const auditPath = `${dir}/audit.log`;
    let server: TestServer | undefined;
    try {
      server = await startServer({
        dir,
        args: ["--http-engine", engine, "--audit-log", auditPath],
      });
      const seen = await traffic(server);
      assertEquals(
        seen.map((s) => [s.operation, s.status]),
        [
          ["CreateBucket", 200],
          ["PutObject", 200],
          ["GetObject", 200],
          ["HeadObject", 200],
          ["ListObjectsV2", 200],
          ["GetObject", 404],
          ["ListBuckets", 403],
          ["PutObject", 200],
        ],
      );

      // Metrics: refused without the token or with a wrong one, parsed and consistent with it.
      const metricsUrl = `${server.endpoint}/flashstor/v1/metrics`;
      assertEquals(await fetchStatus(metricsUrl), 401);
      assertEquals(
        await fetchStatus(metricsUrl, { headers: { authorization: "Bearer wrong-token" } }),
        401,
      );
      assertEquals(
        await fetchStatus(metricsUrl, { headers: { authorization: `Bearer ${SECRET_KEY}` } }),
        401,
      );
      const token = await Deno.readTextFile(`${dir}/d1/.flashstor.sys/config/metrics-token`);
      const e = await scrape(server, token.trim());
      assertEquals(e.types.get("flashstor_requests_total"), "counter");
      assertEquals(e.types.get("flashstor_request_duration_seconds"), "histogram");
      const requests = (operation: string, status: number) =>
        value(e, "flashstor_requests_total", { operation, status: String(status) });
      for (
        const [operation, status, count] of [
          ["CreateBucket", 200, 1],
          ["PutObject", 200, 2],
          ["GetObject", 200, 1],
          ["HeadObject", 200, 1],
          ["ListObjectsV2", 200, 1],
          ["GetObject", 404, 1],
          ["ListBuckets", 403, 1],
        ] as const
      ) {
        assertEquals(requests(operation, status), count, `${operation} ${status}`);
      }
      assertEquals(
        value(e, "flashstor_request_duration_seconds_count", { operation: "GetObject" }),
        2,
      );
      assert(value(e, "flashstor_auth_failures_total")! >= 1, "the forged signature");
      const online = drives(e);
      assertEquals([online.online, online.offline], [4, 0]);
      assert(online.free.length === 4 && online.free.every((free) => free > 0), "free space");
      assertEquals(value(e, "flashstor_audit_dropped_total"), 0);
      assertEquals(value(e, "flashstor_heal_queue_length"), 0);

      assertEquals(await fetchStatus(`${server.endpoint}/flashstor/health/ready`), 200);
      assertEquals(await fetchStatus(`${server.endpoint}/flashstor/health/live`), 200);

      // SIGTERM writes out the audit log before the process exits.
      assertEquals((await server.stop()).code, 0);
      const lines = (await Deno.readTextFile(auditPath)).trimEnd().split("\n");
      const entries: AuditEntry[] = lines.map((line) => JSON.parse(line));
      assertEquals(entries.length, seen.length, lines.join("\n"));
      assertEquals(entries.map((e) => e.requestId), seen.map((s) => s.requestId));
      assertEquals(
        entries.map((e) => [e.operation, e.status, e.bucket, e.object, e.accessKey]),
        [
          ["CreateBucket", 200, BUCKET, undefined, ACCESS_KEY],
          ["PutObject", 200, BUCKET, "a/key", ACCESS_KEY],
          ["GetObject", 200, BUCKET, "a/key", ACCESS_KEY],
          ["HeadObject", 200, BUCKET, "a/key", ACCESS_KEY],
          ["ListObjectsV2", 200, BUCKET, undefined, ACCESS_KEY],
          ["GetObject", 404, BUCKET, "missing", ACCESS_KEY],
          ["ListBuckets", 403, undefined, undefined, ""],
          ["PutObject", 200, BUCKET, "streamed", ACCESS_KEY],
        ],
      );
      for (const [i, { sent }] of seen.entries()) {
        if (sent !== undefined) assertEquals(entries[i].bytesIn, sent, `bytes in of request ${i}`);
      }
      const total = (field: "bytesIn" | "bytesOut") => entries.reduce((n, e) => n + e[field], 0);
      assertEquals(value(e, "flashstor_bytes_received_total"), total("bytesIn"));
      assertEquals(value(e, "flashstor_bytes_sent_total"), total("bytesOut"));
      assert(entries[1].bytesIn >= BODY.length, "the PUT body as sent");
      // aws-chunked framing (chunk sizes, the CRC32 trailer) counts as received.
      assertEquals(seen[7].sent, undefined, "the streamed PUT went out with chunked encoding");
      assert(
        entries[7].bytesIn > STREAMED.length && entries[7].bytesIn < STREAMED.length + 200,
        `streamed PUT: ${entries[7].bytesIn} bytes in`,
      );
      assertEquals(entries[2].bytesOut, seen[2].received);
      assertEquals(entries[3].bytesOut, 0, "HEAD sends no body");
      for (const i of [4, 5, 6]) {
        assert(entries[i].bytesOut > 0, `XML body of ${entries[i].operation}`);
      }
      for (const entry of entries) {
        assertEquals(entry.remoteAddress, "127.0.0.1");
        assert(entry.durationMs > 0 && entry.durationMs < 30_000, `durationMs ${entry.durationMs}`);
        assert(!Number.isNaN(Date.parse(entry.time)), entry.time);
      }
      for (const entry of [...entries.slice(0, 6), entries[7]]) {
        const { authMs, storageMs } = entry.timings;
        assert(authMs !== undefined && storageMs !== undefined, JSON.stringify(entry));
        assert(authMs + storageMs <= entry.durationMs, JSON.stringify(entry));
      }
      assert(entries[6].timings.authMs !== undefined, "the refused signature was timed");
      assertEquals(entries[6].timings.storageMs, undefined, "and never reached storage");

      // Same drives, --metrics-public: metrics without a token; then 3 of 4 drives vanish.
      server = await startServer({ dir, args: ["--http-engine", engine, "--metrics-public"] });
      assertEquals(drives(await scrape(server)).online, 4);
      for (const drive of server.drives.slice(1)) await Deno.remove(drive, { recursive: true });
      assertEquals(await fetchStatus(`${server.endpoint}/flashstor/health/ready`), 503);
      assertEquals(await fetchStatus(`${server.endpoint}/flashstor/health/live`), 200);
      const degraded = drives(await scrape(server));
      assertEquals([degraded.online, degraded.offline, degraded.free.length], [1, 3, 1]);
    } catch (err) {
      if (server) console.error(server.output().slice(-4000));
      throw err;
    } finally {
      await server?.cleanup();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
}
