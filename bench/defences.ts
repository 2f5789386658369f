/**
 * `deno run -A bench/defences.ts`: what the server's defences cost, the timings the tests no
 * longer assert (tests check behaviour; a busy machine makes any time budget flaky):
 *   - latency of a normal request while 1000 connections trickle their request heads
 *     (tests/http_slowloris_test.ts checks that it is served at all);
 *   - the cost of AuditLog.log() in a 100k-entry burst against a stalled sink, dropping and
 *     queueing (tests/observe_audit_test.ts checks that it never waits).
 */
import { serveFrontDoor } from "../src/http/front-door.ts";
import { type AuditEntry, AuditLog, type AuditSink } from "../src/observe/audit.ts";

const SLOW_CONNECTIONS = 1000;
const NORMAL_REQUESTS = 20;
const BURST = 100_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function normalLatencyUnderSlowloris(): Promise<number[]> {
  const door = serveFrontDoor(() => new Response("ok"), {
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: 30_000,
    idleTimeoutMs: 5000,
    minBodyRate: 1024,
  });
  const slow: Deno.Conn[] = [];
  try {
    for (let i = 0; i < SLOW_CONNECTIONS; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: door.port });
      await conn.write(new TextEncoder().encode("GET /slow HTTP/1.1\r\nHost: b\r\nX-Slow: a"));
      slow.push(conn);
    }
    await sleep(200);
    const latencies: number[] = [];
    for (let i = 0; i < NORMAL_REQUESTS; i++) {
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${door.port}/normal/${i}`);
      await response.text();
      latencies.push(performance.now() - started);
    }
    return latencies.sort((a, b) => a - b);
  } finally {
    for (const conn of slow) conn.close();
    await door.shutdown(1000);
  }
}

function entry(n: number): AuditEntry {
  return {
    time: new Date(1_700_000_000_000 + n).toISOString(),
    requestId: n.toString(16).padStart(16, "0"),
    accessKey: "AKIAEXAMPLE",
    operation: "PutObject",
    bucket: "bucket",
    object: `key-${n}`,
    status: 200,
    bytesIn: n,
    bytesOut: 0,
    durationMs: 1.5,
    remoteAddress: "127.0.0.1:5000",
    timings: { authMs: 0.1, storageMs: 1.2 },
  };
}

/** ns per log() call of a burst; `capacity` below BURST drops the overflow. */
async function auditBurst(capacity: number): Promise<number> {
  const stalled: AuditSink = {
    write: (data) => sleep(20).then(() => data.byteLength),
  };
  const audit = new AuditLog([stalled], { capacity, batchSize: 100_000 });
  const entries = Array.from({ length: BURST }, (_, i) => entry(i));
  const started = performance.now();
  for (const e of entries) audit.log(e);
  const elapsed = performance.now() - started;
  await audit.close();
  return elapsed * 1e6 / BURST;
}

const latencies = await normalLatencyUnderSlowloris();
const at = (q: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
console.log(
  `normal request with ${SLOW_CONNECTIONS} trickling connections: ` +
    `median ${at(0.5).toFixed(1)} ms, max ${at(1).toFixed(1)} ms (${NORMAL_REQUESTS} requests)`,
);
console.log(
  `audit log(), ${BURST} entries, dropping: ${(await auditBurst(1000)).toFixed(0)} ns each`,
);
console.log(
  `audit log(), ${BURST} entries, queueing: ${(await auditBurst(BURST)).toFixed(0)} ns each`,
);
