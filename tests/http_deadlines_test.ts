import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * How long a test waits for a close that must come: long enough that only a hang reaches it on
 * a busy machine. Deadlines are checked by what happened first (a close while the client was
 * still trickling) and never closing early, not by how soon after the deadline it came.
 */
const HANG_MS = 30_000;

Deno.test("http deadlines: a head trickled past the header deadline is closed", async () => {
  const server = startEcho({ headerTimeoutMs: 1000 });
  const client = await RawClient.connect(server.port);
  try {
    const started = Date.now();
    // 10 s of header lines, each well within any per-read timeout, far past the deadline.
    const LINES = 50;
    let sent = 0;
    let stop = false;
    const trickle = (async () => {
      await client.send("GET / HTTP/1.1\r\n");
      for (; sent < LINES && !stop; sent++) {
        await sleep(200);
        await client.send("X: y\r\n");
      }
    })().catch(() => {});
    assert.ok(await client.closedWithin(HANG_MS), "never closed");
    const elapsed = Date.now() - started;
    stop = true;
    await trickle;
    assert.ok(sent < LINES, "closed only once the client had stopped trickling");
    assert.ok(elapsed >= 900, `closed after ${elapsed} ms, before the deadline`);
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http deadlines: an idle keep-alive connection is closed after idleTimeoutMs", async () => {
  const server = startEcho({ idleTimeoutMs: 600, headerTimeoutMs: 5000 });
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("GET", "/1"));
    assert.equal((await client.response()).status, 200);
    await sleep(300);
    await client.send(request("GET", "/2"));
    assert.equal((await client.response()).body, "GET /2");
    const idleFrom = Date.now();
    assert.ok(await client.closedWithin(HANG_MS), "idle connection left open");
    const idle = Date.now() - idleFrom;
    assert.ok(idle >= 500, `closed after ${idle} ms idle, before the idle timeout`);
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http deadlines: an upload below the minimum body rate is cut with 408", async () => {
  const server = startEcho({ minBodyRate: 1000, bodyRateWindowMs: 1000 });
  const client = await RawClient.connect(server.port);
  try {
    await client.send(
      request("PUT", "/count", "Content-Length: 100000\r\n").replace(
        "Content-Length: 0\r\n",
        "",
      ),
    );
    const started = Date.now();
    // 50 bytes a second for 20 s: the cut must come while the upload still trickles.
    const CHUNKS = 100;
    let sent = 0;
    let stop = false;
    const trickle = (async () => {
      for (; sent < CHUNKS && !stop; sent++) {
        await client.send("0123456789");
        await sleep(200);
      }
    })().catch(() => {});
    const response = await client.response();
    stop = true;
    assert.equal(response.status, 408);
    assert.ok(sent < CHUNKS, "cut only once the client had stopped sending");
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 900, `cut after ${elapsed} ms, before one rate window`);
    assert.ok(await client.closedWithin(HANG_MS));
    client.close();
    await trickle;
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http deadlines: an upload above the minimum rate is not cut", async () => {
  const server = startEcho({ minBodyRate: 1000, bodyRateWindowMs: 300 });
  const client = await RawClient.connect(server.port);
  try {
    await client.send("PUT /count HTTP/1.1\r\nHost: t\r\nContent-Length: 8000\r\n\r\n");
    for (let i = 0; i < 8; i++) {
      await client.send("x".repeat(1000));
      await sleep(100);
    }
    const response = await client.response();
    assert.equal(response.status, 200);
    assert.equal(response.body, "8000");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http 100-continue: a rejected request gets 403 before any body is sent", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    // As curl does: send the head, wait for 100 Continue (or a final status) before the body.
    await client.send(
      "PUT /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n",
    );
    const response = await client.response();
    assert.equal(response.status, 403);
    assert.equal(response.body, "denied");
    assert.ok(await client.closedWithin(HANG_MS), "connection left open after refusing the body");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http 100-continue: a handler that reads gets 100 Continue, then 200", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(
      "PUT /count HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    assert.equal((await client.response()).status, 100);
    await client.send("hello");
    const response = await client.response();
    assert.equal(response.status, 200);
    assert.equal(response.body, "5");
    // The connection stays usable.
    await client.send(request("GET", "/after"));
    assert.equal((await client.response()).body, "GET /after");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: an unread small body is drained and the connection reused", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("PUT", "/reject", "", "unread body") + request("GET", "/next"));
    assert.equal((await client.response()).status, 403);
    assert.equal((await client.response()).body, "GET /next");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: an unread large body closes the connection after the response", async () => {
  const server = startEcho({ drainLimit: 1024 });
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("PUT", "/reject", "", "x".repeat(100_000)));
    assert.equal((await client.response()).status, 403);
    assert.ok(await client.closedWithin(HANG_MS));
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http deadlines: a client that stops reading a response is dropped", async () => {
  const server = startEcho({ idleTimeoutMs: 500 });
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("GET", "/big?mb=64"));
    await sleep(2000); // read nothing while the server's write is stuck
    assert.ok(await client.closedWithin(HANG_MS), "stalled response never cut");
    // Had the server kept writing, the whole 64 MiB would have arrived before the close (the
    // idle timeout then closes a finished keep-alive connection too).
    assert.ok(client.received < 64 * 1024 * 1024, `${client.received} bytes arrived`);
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});
