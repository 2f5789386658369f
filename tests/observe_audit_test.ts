import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  type AuditEntry,
  auditEntry,
  AuditLog,
  type AuditSink,
  closeAuditLogs,
  openAuditLog,
} from "../src/observe/audit.ts";
import { RequestTrace } from "../src/observe/trace.ts";

function entry(n: number): AuditEntry {
  return {
    time: new Date(1_700_000_000_000 + n).toISOString(),
    requestId: n.toString(16).toUpperCase().padStart(16, "0"),
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

/** A sink as slow as a stalled disk: every write takes `delayMs`. */
class SlowSink implements AuditSink {
  readonly chunks: Uint8Array[] = [];
  writes = 0;
  constructor(readonly delayMs: number, readonly failFirst = 0) {}
  async write(data: Uint8Array): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.writes++ < this.failFirst) throw new Error("disk on fire");
    this.chunks.push(data.slice());
    return data.byteLength;
  }
  lines(): AuditEntry[] {
    const text = new TextDecoder().decode(new Uint8Array(this.chunks.flatMap((c) => [...c])));
    return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  }
}

Deno.test("a burst of 100k entries against a slow sink: log() never waits, overflow is counted", async () => {
  const sink = new SlowSink(20);
  const audit = new AuditLog([sink], { capacity: 1000, batchSize: 100 });
  const entries = Array.from({ length: 100_000 }, (_, i) => entry(i));
  // log() returns synchronously (nothing to await), and the whole burst runs before the writer
  // finished a single 20 ms write: it never waited for the sink. Its cost is in bench/audit.ts.
  const results = entries.map((e) => audit.log(e));
  assert(results.every((r) => r === undefined), "log() returned something to wait for");
  assertEquals(sink.writes, 0);
  assertEquals(audit.pending, 1000);
  assertEquals(audit.dropped, 99_000);
  await audit.close();
  const lines = sink.lines();
  assertEquals(lines.length, 1000);
  assertEquals(lines[0], entries[0]);
  assertEquals(lines.map((l) => l.bytesIn), entries.slice(0, 1000).map((e) => e.bytesIn));
  assertEquals(sink.writes, 10);
  assertEquals(audit.written + audit.dropped, 100_000);
  audit.log(entry(1));
  assertEquals(audit.dropped, 99_001, "entries after close are dropped");
});

Deno.test("queueing (not dropping) 100k entries: log() never waits, the writer runs later", async () => {
  const sink = new SlowSink(1);
  const audit = new AuditLog([sink], { capacity: 200_000, batchSize: 50_000 });
  const entries = Array.from({ length: 100_000 }, (_, i) => entry(i));
  for (const e of entries) audit.log(e);
  // Nothing was written during the burst: every entry waits in the queue for the writer.
  assertEquals([audit.pending, audit.dropped, sink.writes], [100_000, 0, 0]);
  await audit.close();
  assertEquals([audit.written, sink.writes], [100_000, 2]);
});

Deno.test("the queue frees up as the writer drains it", async () => {
  const sink = new SlowSink(5);
  const audit = new AuditLog([sink], { capacity: 10, batchSize: 4 });
  for (let i = 0; i < 11; i++) audit.log(entry(i));
  assertEquals(audit.dropped, 1);
  await audit.flush();
  assertEquals(audit.pending, 0);
  assertEquals(audit.written, 10);
  for (let i = 11; i < 21; i++) audit.log(entry(i));
  assertEquals(audit.dropped, 1);
  await audit.close();
  assertEquals(sink.lines().map((l) => l.bytesIn), [...Array(21).keys()].filter((i) => i !== 10));
});

Deno.test("a failing sink is counted and does not stop the writer", async () => {
  const sink = new SlowSink(1, 1);
  const audit = new AuditLog([sink], { capacity: 100 });
  audit.log(entry(1));
  await audit.flush();
  audit.log(entry(2));
  await audit.close();
  assertEquals(audit.writeErrors, 1);
  assertEquals(sink.lines().map((l) => l.bytesIn), [2]);
});

Deno.test("file destination: JSON lines appended across reopenings", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-audit-" });
  try {
    const path = `${dir}/audit.log`;
    for (const n of [1, 2]) {
      const audit = openAuditLog(path);
      audit!.log(entry(n));
      await audit!.close();
    }
    assertEquals(openAuditLog(undefined), undefined);
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n").map((l) => JSON.parse(l));
    assertEquals(lines, [entry(1), entry(2)]);
    assertEquals((await Deno.stat(path)).mode! & 0o777, 0o640);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("closeAuditLogs writes out and closes every open log (shutdown)", async () => {
  const sinks = [new SlowSink(5), new SlowSink(5)];
  const logs = sinks.map((sink) => new AuditLog([sink]));
  logs.forEach((log, i) => log.log(entry(i)));
  await closeAuditLogs();
  assertEquals(sinks.map((sink) => sink.lines().map((l) => l.bytesIn)), [[0], [1]]);
  logs[0].log(entry(9));
  assertEquals(logs[0].dropped, 1, "a closed log takes no more entries");
});

Deno.test("stdout destination: a child process prints one JSON line per entry", async () => {
  const audit = new URL("../src/observe/audit.ts", import.meta.url).href;
  const code = `
    import { openAuditLog } from ${JSON.stringify(audit)};
    const log = openAuditLog("-");
    for (let i = 0; i < 3; i++) log.log({ requestId: String(i), status: 200 });
    await log.close();
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
  const lines = new TextDecoder().decode(output.stdout).trimEnd().split("\n");
  assertEquals(lines.map((l) => JSON.parse(l).requestId), ["0", "1", "2"]);
});

Deno.test("an entry built from a trace carries its id, start, duration and phase timings", async () => {
  const trace = new RequestTrace();
  await trace.time("auth", () => new Promise((resolve) => setTimeout(resolve, 5)));
  const built = auditEntry(trace, {
    accessKey: "AKIAEXAMPLE",
    operation: "GetObject",
    bucket: "b",
    object: "k",
    status: 200,
    bytesIn: 0,
    bytesOut: 11,
    remoteAddress: "127.0.0.1:1",
  });
  const timings = trace.finish();
  assertEquals(built.requestId, trace.id);
  assertEquals(built.time, trace.startedAt.toISOString());
  assertEquals(built.durationMs, timings.totalMs);
  assertEquals(built.timings, { authMs: timings.authMs, storageMs: undefined });
  assert(built.timings.authMs! >= 4);
  const line = JSON.parse(JSON.stringify(built));
  assertEquals(Object.keys(line), [
    "time",
    "requestId",
    "accessKey",
    "operation",
    "bucket",
    "object",
    "status",
    "bytesIn",
    "bytesOut",
    "remoteAddress",
    "durationMs",
    "timings",
  ]);
  assertEquals(Object.keys(line.timings), ["authMs"], "phases not entered are left out");
});
