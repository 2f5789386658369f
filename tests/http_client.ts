/**
 * Test side of the front-door tests: a small echo application served by serveFrontDoor on
 * 127.0.0.1, and a raw TCP client that sends exact bytes and parses exact responses.
 */

import { type FrontDoor, type FrontDoorOptions, serveFrontDoor } from "../src/http/front-door.ts";
import { rawTarget } from "../src/http/raw-target.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Routes: GET /any → "METHOD rawTarget"; PUT|POST /echo → request body streamed back;
 * /count → number of body bytes; /reject → 403 without reading; /stream?n=N → N chunks;
 * /slow?ms=M → answers after M ms; /big?mb=N → N MiB streamed; /sized and /lying → bodies
 * with a right and a wrong Content-Length; HEAD → content-length 12345 and no body.
 */
export async function echoHandler(request: Request): Promise<Response> {
  const url = new URL(request.url);
  const param = (name: string) => Number(url.searchParams.get(name) ?? "0");
  if (request.method === "HEAD") {
    return new Response(null, { headers: { "content-length": "12345" } });
  }
  switch (url.pathname) {
    case "/echo":
      return new Response(request.body);
    case "/count": {
      let n = 0;
      for await (const chunk of request.body ?? []) n += chunk.length;
      return new Response(`${n}`);
    }
    case "/reject":
      return new Response("denied", { status: 403 });
    case "/nocontent":
      return new Response(null, { status: 204 });
    case "/stream": {
      let sent = 0;
      const count = param("n");
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (sent === count) return controller.close();
            controller.enqueue(encoder.encode(`part${sent++};`));
          },
        }),
      );
    }
    case "/sized":
      return new Response("exactly", { headers: { "content-length": "7" } });
    case "/lying":
      return new Response("short", { headers: { "content-length": "100" } });
    case "/big": {
      let sent = 0;
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (sent++ === param("mb")) return controller.close();
            controller.enqueue(new Uint8Array(1024 * 1024));
          },
        }),
      );
    }
    case "/slow":
      await new Promise((resolve) => setTimeout(resolve, param("ms")));
      return new Response("slow done");
  }
  return new Response(`${request.method} ${rawTarget(request)}`);
}

export function startEcho(options: Partial<FrontDoorOptions> = {}): FrontDoor {
  return serveFrontDoor(echoHandler, {
    hostname: "127.0.0.1",
    port: 0,
    headerTimeoutMs: 5000,
    idleTimeoutMs: 5000,
    minBodyRate: 1,
    ...options,
  });
}

export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

export class RawClient {
  private buf = new Uint8Array(0);
  /** Bytes read from the connection so far. */
  received = 0;
  private constructor(readonly conn: Deno.Conn) {}

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  static async connectTls(port: number, caCert: string): Promise<RawClient> {
    return new RawClient(await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [caCert] }));
  }

  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  /** Reads more bytes; false at end of stream (a reset counts as the end too). */
  private async fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) return false;
    this.received += n;
    const next = new Uint8Array(this.buf.length + n);
    next.set(this.buf);
    next.set(chunk.subarray(0, n), this.buf.length);
    this.buf = next;
    return true;
  }

  private async line(): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf(10);
      if (i >= 0) {
        const text = decoder.decode(this.buf.subarray(0, i)).replace(/\r$/, "");
        this.buf = this.buf.subarray(i + 1);
        return text;
      }
      if (!await this.fill()) throw new Error("connection closed inside a line");
    }
  }

  private async bytes(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) {
      if (!await this.fill()) throw new Error("connection closed inside a body");
    }
    const out = this.buf.slice(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Reads one response (1xx included); `head` for responses to HEAD requests. */
  async response(head = false): Promise<RawResponse> {
    const statusLine = await this.line();
    const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
    if (!match) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const status = Number(match[1]);
    const headers = new Map<string, string>();
    for (let line = await this.line(); line !== ""; line = await this.line()) {
      const colon = line.indexOf(":");
      headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    }
    let body = "";
    if (head || status < 200 || status === 204 || status === 304) return { status, headers, body };
    if (headers.has("content-length")) {
      body = decoder.decode(await this.bytes(Number(headers.get("content-length"))));
    } else if (headers.get("transfer-encoding") === "chunked") {
      for (;;) {
        const size = parseInt(await this.line(), 16);
        if (size === 0) {
          await this.line();
          break;
        }
        body += decoder.decode(await this.bytes(size));
        await this.line();
      }
    } else {
      while (await this.fill()) { /* read to the end */ }
      body = decoder.decode(this.buf);
      this.buf = new Uint8Array(0);
    }
    return { status, headers, body };
  }

  /** True if the server closed the connection (end of stream or reset) within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
    const ended = (async () => {
      while (await this.fill()) this.buf = new Uint8Array(0);
      return "closed" as const;
    })();
    const result = await Promise.race([ended, timeout]);
    clearTimeout(timer);
    if (result === "timeout") {
      this.close();
      await ended;
    }
    return result === "closed";
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

export function request(method: string, path: string, extra = "", body = ""): string {
  const length = body || method === "PUT" ? `Content-Length: ${body.length}\r\n` : "";
  return `${method} ${path} HTTP/1.1\r\nHost: test\r\n${length}${extra}\r\n${body}`;
}
