import { assertEquals } from "./helpers/assert.ts";
import { KeepAliveConnection } from "../bench/http1.ts";

/** The benchmark's keep-alive client against Deno.serve: every framing a server may choose. */
Deno.test("bench http1: sized, chunked, HEAD, 204, error and closing replies on one connection", async () => {
  const body = new Uint8Array(200_000).map((_, i) => i & 0xff);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/sized") return new Response(body);
    if (path === "/chunked") {
      // Two chunks through a stream: Deno.serve sends it with Transfer-Encoding: chunked.
      return new Response(ReadableStream.from([body.subarray(0, 5), body.subarray(5)]));
    }
    if (path === "/empty") return new Response(null, { status: 204 });
    if (path === "/error") return new Response("<Error/>", { status: 403 });
    if (path === "/close") return new Response("bye", { headers: { connection: "close" } });
    return new Response(req.body);
  });
  const head = (method: string, path: string, length?: number) =>
    new TextEncoder().encode(
      `${method} ${path} HTTP/1.1\r\nhost: x\r\n` +
        (length === undefined ? "" : `content-length: ${length}\r\n`) + "\r\n",
    );
  const connection = new KeepAliveConnection("127.0.0.1", server.addr.port);
  try {
    assertEquals(await connection.request(head("GET", "/sized")), { status: 200, bytes: 200_000 });
    assertEquals(await connection.request(head("GET", "/chunked")), {
      status: 200,
      bytes: 200_000,
    });
    assertEquals(await connection.request(head("HEAD", "/sized"), undefined, true), {
      status: 200,
      bytes: 0,
    });
    assertEquals(await connection.request(head("DELETE", "/empty")), { status: 204, bytes: 0 });
    assertEquals(await connection.request(head("GET", "/error")), {
      status: 403,
      bytes: 8,
      error: "<Error/>",
    });
    const echo = await connection.request(head("PUT", "/echo", 3), new Uint8Array([1, 2, 3]));
    assertEquals(echo, { status: 200, bytes: 3 });
    assertEquals(await connection.request(head("GET", "/close")), { status: 200, bytes: 3 });
    // The server closed after that reply: the next request reconnects.
    assertEquals(await connection.request(head("GET", "/sized")), { status: 200, bytes: 200_000 });
  } finally {
    connection.close();
    await server.shutdown();
  }
});
