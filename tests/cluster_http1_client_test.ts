/**
 * The internode HTTP/1.1 client (src/cluster/http1-client.ts) against a scripted TCP server
 * on 127.0.0.1: the answers it must understand (length, chunks, interim 100, close), the
 * pooled connection it reuses, the stale one it replaces, the call it abandons on abort, and
 * the malformed answers it refuses.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ConnectionLost, Http1Pool } from "../src/cluster/http1-client.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A server that answers each request head it reads with the next of `answers` (raw bytes). */
function scripted(answers: (string | null)[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  const requests: string[] = [];
  const serve = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    let pending = "";
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) return;
        pending += dec.decode(buffer.subarray(0, n));
        let end: number;
        while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
          const head = pending.slice(0, end);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
          if (pending.length < end + 4 + length) break;
          requests.push(pending.slice(0, end + 4 + length));
          pending = pending.slice(end + 4 + length);
          const answer = answers.shift();
          if (answer === undefined) return conn.close();
          // null: never answer (a hung peer).
          if (answer !== null) await conn.write(enc.encode(answer));
          if (/connection: close/i.test(answer ?? "")) return conn.close();
        }
      }
    } catch {
      // Closed by the test or the client.
    } finally {
      conns.delete(conn);
    }
  };
  const loop = (async () => {
    for await (const conn of listener) {
      accepted++;
      conns.add(conn);
      serve(conn);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    get accepted() {
      return accepted;
    },
    /** Closes the connections the server holds (as a restarted peer). */
    dropAll() {
      for (const c of conns) c.close();
      conns.clear();
    },
    async close() {
      listener.close();
      this.dropAll();
      await loop;
    },
  };
}

const ok = (body: string, extra = "") =>
  `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

Deno.test("http1 client: lengths, chunks, interim answers, reuse, close", async () => {
  const server = scripted([
    ok("one"),
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n5;x=y\r\n-more\r\n0\r\nt: 1\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n" + ok("three"),
    "HTTP/1.1 204 No Content\r\n\r\n",
    ok("closing", "connection: close\r\n"),
    ok("fresh"),
  ]);
  const pool = new Http1Pool("127.0.0.1", server.port);
  try {
    const get = async () => {
      const answer = await pool.request("GET", "/x?a=b", { authorization: "t" }, undefined);
      return [answer.status, dec.decode(answer.body)];
    };
    assertEquals(await get(), [200, "one"]);
    assertEquals(await get(), [200, "two-more"]);
    assertEquals(await get(), [200, "three"]);
    assertEquals(await get(), [204, ""]);
    assertEquals(await get(), [200, "closing"]);
    assertEquals(server.accepted, 1);
    assertEquals(await get(), [200, "fresh"]);
    assertEquals(server.accepted, 2);
    assert(server.requests[0].startsWith("GET /x?a=b HTTP/1.1\r\n"));
    assert(server.requests[0].includes("authorization: t\r\n"));
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("http1 client: a pooled connection the peer closed is replaced, the call not lost", async () => {
  const server = scripted([ok("a"), ok("b")]);
  const pool = new Http1Pool("127.0.0.1", server.port);
  try {
    assertEquals(dec.decode((await pool.request("POST", "/", {}, enc.encode("x"))).body), "a");
    server.dropAll();
    assertEquals(dec.decode((await pool.request("POST", "/", {}, enc.encode("y"))).body), "b");
    assertEquals(server.accepted, 2);
  } finally {
    pool.close();
    await server.close();
  }
});

Deno.test("http1 client: an aborted call ends at once; malformed answers are refused", async () => {
  const server = scripted([
    null,
    "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: close\r\n\r\nshort",
    "garbage\r\n\r\n",
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
  ]);
  const pool = new Http1Pool("127.0.0.1", server.port);
  try {
    const controller = new AbortController();
    const call = pool.request("GET", "/", {}, undefined, controller.signal);
    setTimeout(() => controller.abort(new Error("gave up")), 100);
    await assertRejects(() => call, Error, "gave up");
    // The server's script goes on with the next answers, one connection each.
    for (let i = 0; i < 3; i++) {
      await assertRejects(() => pool.request("GET", "/", {}, undefined), ConnectionLost);
    }
  } finally {
    pool.close();
    await server.close();
  }
});
