import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";

const head = (fields: string) => `POST /count HTTP/1.1\r\nHost: t\r\n${fields}\r\n`;
const chunked = (body: string) => head("Transfer-Encoding: chunked\r\n") + body;

/** Each of these must be answered 400 and the connection closed. */
const REFUSED: Record<string, string> = {
  "Content-Length and Transfer-Encoding": head(
    "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
  ) + "0\r\n\r\n",
  "two equal Content-Length headers": head("Content-Length: 3\r\nContent-Length: 3\r\n") + "abc",
  "two different Content-Length headers": head("Content-Length: 3\r\nContent-Length: 4\r\n") +
    "abcd",
  "Content-Length list": head("Content-Length: 3, 3\r\n") + "abc",
  "signed Content-Length": head("Content-Length: +3\r\n") + "abc",
  "Transfer-Encoding gzip, chunked": head("Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n",
  "Transfer-Encoding chunked, chunked": head("Transfer-Encoding: chunked, chunked\r\n") +
    "0\r\n\r\n",
  "Transfer-Encoding identity": head("Transfer-Encoding: identity\r\n") + "0\r\n\r\n",
  "two Transfer-Encoding headers": head(
    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
  ) + "0\r\n\r\n",
  "Transfer-Encoding in HTTP/1.0": "POST /count HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "0\r\n\r\n",
  "space before the colon": head("Content-Length : 3\r\n") + "abc",
  "obs-fold": "GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  continued\r\n\r\n",
  "bare LF in the head": "GET / HTTP/1.1\nHost: t\n\n",
  "bare LF after a header": "GET / HTTP/1.1\r\nHost: t\nX: y\r\n\r\n",
  "NUL in a header value": "GET / HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n",
  "bare CR in a header value": "GET / HTTP/1.1\r\nHost: t\r\nX: a\rb\r\n\r\n",
  "invalid header name": "GET / HTTP/1.1\r\nHost: t\r\nX(y): 1\r\n\r\n",
  "two spaces in the request line": "GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
  "missing Host": "GET / HTTP/1.1\r\n\r\n",
  "two Host headers": "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
  "Host with a path": "GET /x HTTP/1.1\r\nHost: evil/x\r\n\r\n",
  "Host with a fragment": "GET /x?a=b HTTP/1.1\r\nHost: h#\r\n\r\n",
  "Host with userinfo": "GET /x HTTP/1.1\r\nHost: user@h\r\n\r\n",
  "fragment in the target": "GET /a#b HTTP/1.1\r\nHost: t\r\n\r\n",
  "backslash in the target": "GET /a\\..\\b HTTP/1.1\r\nHost: t\r\n\r\n",
  "absolute-form target": "GET http://t/a HTTP/1.1\r\nHost: t\r\n\r\n",
  "chunk size too long": chunked("00000000000000000005\r\nhello\r\n0\r\n\r\n"),
  "chunk size not hex": chunked("zz\r\nhello\r\n0\r\n\r\n"),
  "chunk size overflowing": chunked("fffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
  "negative chunk size": chunked("-5\r\nhello\r\n0\r\n\r\n"),
  "chunk extension over the limit": chunked(`5;x=${"a".repeat(2000)}\r\nhello\r\n0\r\n\r\n`),
  "malformed chunk extension": chunked("5;=\r\nhello\r\n0\r\n\r\n"),
  "chunk data longer than its size": chunked("3\r\nhello\r\n0\r\n\r\n"),
  "bare LF after chunk size": chunked("5\nhello\r\n0\r\n\r\n"),
  "trailer without a colon": chunked("5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n"),
  "trailer with a control character": chunked("5\r\nhello\r\n0\r\nX: a\x01b\r\n\r\n"),
};

for (const [name, bytes] of Object.entries(REFUSED)) {
  Deno.test(`http smuggling: ${name} → 400 and close`, async () => {
    const server = startEcho();
    const client = await RawClient.connect(server.port);
    try {
      // A request that would be answered if the connection were reused after the bad one.
      await client.send(bytes + request("GET", "/smuggled"));
      const response = await client.response();
      assert.equal(response.status, 400);
      assert.equal(response.headers.get("connection"), "close");
      assert.ok(await client.closedWithin(3000), "connection left open");
    } finally {
      client.close();
      await server.shutdown(1000);
    }
  });
}

Deno.test("http smuggling: a well-formed chunked body with extension and trailer is fine", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send(
      chunked('5;a=b;c="q\\"d"\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n') +
        request("GET", "/next"),
    );
    assert.equal((await client.response()).body, "5");
    assert.equal((await client.response()).body, "GET /next");
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});

Deno.test("http limits: oversized head and too many fields → 431", async () => {
  const server = startEcho({ maxHeaderBytes: 8192, maxHeaders: 20 });
  try {
    const big = await RawClient.connect(server.port);
    await big.send(`GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${"a".repeat(9000)}\r\n\r\n`);
    assert.equal((await big.response()).status, 431);
    assert.ok(await big.closedWithin(3000));
    big.close();

    const many = await RawClient.connect(server.port);
    const fields = Array.from({ length: 21 }, (_, i) => `X-${i}: v\r\n`).join("");
    await many.send(`GET / HTTP/1.1\r\nHost: t\r\n${fields}\r\n`);
    assert.equal((await many.response()).status, 431);
    many.close();

    // The limits themselves are allowed.
    const ok = await RawClient.connect(server.port);
    const allowed = Array.from({ length: 19 }, (_, i) => `X-${i}: v\r\n`).join("");
    await ok.send(`GET /fine HTTP/1.1\r\nHost: t\r\n${allowed}\r\n`);
    assert.equal((await ok.response()).status, 200);
    ok.close();
  } finally {
    await server.shutdown(1000);
  }
});

Deno.test("http limits: an unsupported HTTP version → 505", async () => {
  const server = startEcho();
  const client = await RawClient.connect(server.port);
  try {
    await client.send("GET / HTTP/2.0\r\nHost: t\r\n\r\n");
    assert.equal((await client.response()).status, 505);
  } finally {
    client.close();
    await server.shutdown(1000);
  }
});
