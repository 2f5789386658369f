import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";

Deno.test("http: GET, PUT and keep-alive on one connection", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("GET", "/hello?x=1"));
    const get = await client.response();
    assert.equal(get.status, 200);
    assert.equal(get.body, "GET /hello?x=1");
    assert.equal(get.headers.get("content-length"), String(get.body.length));
    assert.match(get.headers.get("date") ?? "", /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);

    await client.send(request("PUT", "/echo", "", "some body bytes"));
    const put = await client.response();
    assert.equal(put.status, 200);
    assert.equal(put.body, "some body bytes");

    await client.send(request("GET", "/again", "Connection: close\r\n"));
    const last = await client.response();
    assert.equal(last.body, "GET /again");
    assert.equal(last.headers.get("connection"), "close");
    assert.ok(await client.closedWithin(2000));
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: pipelined requests are answered in order", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(
      request("GET", "/slow?ms=50") + request("PUT", "/echo", "", "abc") + request("GET", "/3"),
    );
    assert.equal((await client.response()).body, "slow done");
    assert.equal((await client.response()).body, "abc");
    assert.equal((await client.response()).body, "GET /3");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: chunked request body and chunked streaming response", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(
      "POST /count HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    const counted = await client.response();
    assert.equal(counted.body, "12");

    await client.send(request("GET", "/stream?n=3"));
    const streamed = await client.response();
    assert.equal(streamed.headers.get("transfer-encoding"), "chunked");
    assert.equal(streamed.headers.get("content-length"), undefined);
    assert.equal(streamed.body, "part0;part1;part2;");

    // The connection is still usable after both.
    await client.send(request("GET", "/after"));
    assert.equal((await client.response()).body, "GET /after");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: the raw target reaches the handler unmodified", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    for (const target of ["/bucket/a/../b", "/bucket/a/%2e%2e/b", "/bucket//x/./y?q=a/../b"]) {
      await client.send(request("GET", target));
      assert.equal((await client.response()).body, `GET ${target}`);
    }
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: HEAD keeps the handler's length without a body; 204 has none", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("HEAD", "/object") + request("GET", "/nocontent"));
    const head = await client.response(true);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "12345");
    const noContent = await client.response();
    assert.equal(noContent.status, 204);
    assert.equal(noContent.headers.get("content-length"), undefined);
    // Had a body been written after either head, it would be read here as a status line.
    await client.send(request("GET", "/next"));
    assert.equal((await client.response()).body, "GET /next");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: HTTP/1.0 closes unless keep-alive is asked for", async () => {
  const server = startEcho();
  try {
    const plain = await RawClient.connect(server.port);
    await plain.send("GET /old HTTP/1.0\r\n\r\n");
    const response = await plain.response();
    assert.equal(response.body, "GET /old");
    assert.ok(await plain.closedWithin(2000));
    plain.close();

    const kept = await RawClient.connect(server.port);
    await kept.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const first = await kept.response();
    assert.equal(first.headers.get("connection"), "keep-alive");
    await kept.send("GET /stream?n=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // No chunked coding for HTTP/1.0: the body ends with the connection.
    const streamed = await kept.response();
    assert.equal(streamed.body, "part0;part1;");
    kept.close();
  } finally {
    await server.shutdown(1000);
  }
});

Deno.test("http: fetch round trip with a 4 MiB body", async () => {
  const server = startEcho();
  try {
    const body = new Uint8Array(4 * 1024 * 1024).map((_, i) => i * 7);
    const response = await fetch(`http://127.0.0.1:${server.port}/echo`, { method: "PUT", body });
    const echoed = new Uint8Array(await response.arrayBuffer());
    assert.equal(echoed.length, body.length);
    assert.deepEqual(echoed, body);
  } finally {
    await server.shutdown(1000);
  }
});

Deno.test("http: a declared Content-Length is kept; a wrong one gets 500 and a close", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(request("GET", "/sized"));
    const sized = await client.response();
    assert.equal(sized.headers.get("content-length"), "7");
    assert.equal(sized.body, "exactly");
    await client.send(request("GET", "/lying"));
    assert.equal((await client.response()).status, 500);
    assert.ok(await client.closedWithin(3000));
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http: IPv6 literal and port in Host are accepted", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send("GET /v6 HTTP/1.1\r\nHost: [::1]:9000\r\n\r\n");
    assert.equal((await client.response()).body, "GET /v6");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});
