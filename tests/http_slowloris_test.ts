import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";

const SLOW_CONNECTIONS = 1000;
const BATCH = 100;
const HEADER_TIMEOUT_MS = 2000;
const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends a request head one byte a second until the server closes; returns ms connected. */
async function trickle(port: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const opened = Date.now();
  const closed = conn.read(new Uint8Array(1024)).catch(() => null).then(() => Date.now());
  let closedAt: number | undefined;
  closed.then((t) => closedAt = t);
  const head = encoder.encode("GET /slow HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaa");
  for (let i = 0; i < 10 && closedAt === undefined; i++) {
    try {
      await conn.write(head.subarray(i, i + 1));
    } catch {
      break;
    }
    await Promise.race([sleep(1000), closed]);
  }
  const end = await Promise.race([closed, sleep(1000).then(() => undefined)]);
  conn.close();
  return (end ?? Date.now() + 10_000) - opened;
}

Deno.test("http slowloris: 1000 trickling connections do not stop a normal client", async () => {
  const server = startEcho({ headerTimeoutMs: HEADER_TIMEOUT_MS, idleTimeoutMs: 5000 });
  try {
    const slow: Promise<number>[] = [];
    for (let i = 0; i < SLOW_CONNECTIONS; i += BATCH) {
      for (let j = 0; j < BATCH; j++) slow.push(trickle(server.port));
      await sleep(50);
    }
    await sleep(200);

    const latencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const client = await RawClient.connect(server.port);
      await client.send(request("GET", `/normal/${i}`));
      const response = await client.response();
      latencies.push(Date.now() - started);
      client.close();
      assert.equal(response.body, `GET /normal/${i}`);
    }
    console.log(`normal client latency with ${SLOW_CONNECTIONS} slow connections: ${latencies} ms`);
    assert.ok(Math.max(...latencies) < 1000, `normal requests took ${latencies} ms`);

    const connected = await Promise.all(slow);
    const longest = Math.max(...connected);
    const shortest = Math.min(...connected);
    console.log(`slow connections closed after ${shortest}–${longest} ms`);
    assert.ok(shortest >= HEADER_TIMEOUT_MS - 100, `one closed early, after ${shortest} ms`);
    assert.ok(longest <= HEADER_TIMEOUT_MS + 2000, `one stayed ${longest} ms`);
  } finally {
    await server.shutdown(1000);
  }
});
