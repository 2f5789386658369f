/**
 * The benchmark's own S3 client: SigV4 header signing (src/auth/sign-request.ts) and fetch. It
 * is thin on purpose so that client overhead does not hide the server's.
 */

import { type SigningTarget, signRequest } from "../src/auth/sign-request.ts";

export interface S3Target extends SigningTarget {
  name: string;
}

export interface Body {
  size: number;
  /** Repeated to make up `size` bytes; no full copy of a large object is ever held. */
  pattern: Uint8Array<ArrayBuffer>;
}

/**
 * PUT of a body larger than one pattern over a raw connection: fetch cannot send a stream with
 * a Content-Length (it switches to chunked), and buffering a large object would measure the
 * client's memory copies instead of the server.
 */
async function rawPut(url: URL, headers: Headers, body: Body): Promise<Response> {
  const conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port) });
  try {
    await writeAll(
      conn,
      requestHead("PUT", `${url.pathname}${url.search}`, url.host, headers, {
        "content-length": String(body.size),
        connection: "close",
      }),
    );
    for (let sent = 0; sent < body.size;) {
      const n = Math.min(body.pattern.byteLength, body.size - sent);
      await writeAll(conn, body.pattern.subarray(0, n));
      sent += n;
    }
    const reply = new Uint8Array(65536);
    let text = "";
    for (;;) {
      const n = await conn.read(reply);
      if (n === null) break;
      text += new TextDecoder().decode(reply.subarray(0, n));
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 502);
    return new Response(text.slice(text.indexOf("\r\n\r\n") + 4), { status });
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

/** An HTTP/1.1 request head: request line, Host, `framing` headers, then `headers`. */
function requestHead(
  method: string,
  target: string,
  host: string,
  headers: Headers,
  framing: Record<string, string>,
): Uint8Array {
  let head = `${method} ${target} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of Object.entries(framing)) head += `${name}: ${value}\r\n`;
  headers.forEach((value, name) => head += `${name}: ${value}\r\n`);
  return new TextEncoder().encode(head + "\r\n");
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength;) done += await conn.write(bytes.subarray(done));
}

async function send(
  target: S3Target,
  method: string,
  path: string,
  query = "",
  body?: Body,
): Promise<Response> {
  const headers = signRequest(target, method, path, query);
  const url = `${target.endpoint}${path}${query ? "?" + query : ""}`;
  const response = body && body.size > body.pattern.byteLength
    ? await rawPut(new URL(url), headers, body)
    : await fetch(url, { method, headers, body: body?.pattern.subarray(0, body.size) });
  if (!response.ok) {
    const text = await response.text();
    throw new Error(`${method} ${path}${query ? "?" + query : ""}: ${response.status} ${text}`);
  }
  return response;
}

/** Reads a response body to the end, counting bytes without keeping them. */
async function drain(response: Response): Promise<number> {
  let bytes = 0;
  if (!response.body) return 0;
  for await (const chunk of response.body) bytes += chunk.byteLength;
  return bytes;
}

export class BenchClient {
  constructor(readonly target: S3Target) {}

  /**
   * The head of a keep-alive request, signed now: load loops sign every request before their
   * timed phase (a SigV4 signature stays valid for 15 minutes), so that they time the server.
   */
  signedHead(method: string, path: string, contentLength?: number): Uint8Array {
    const framing: Record<string, string> = contentLength === undefined
      ? {}
      : { "content-length": String(contentLength) };
    const host = new URL(this.target.endpoint).host;
    return requestHead(method, path, host, signRequest(this.target, method, path), framing);
  }

  async createBucket(bucket: string): Promise<void> {
    await drain(await send(this.target, "PUT", `/${bucket}`));
  }
  async put(bucket: string, key: string, body: Body): Promise<void> {
    await drain(await send(this.target, "PUT", `/${bucket}/${key}`, "", body));
  }
  async get(bucket: string, key: string): Promise<number> {
    return await drain(await send(this.target, "GET", `/${bucket}/${key}`));
  }
  async head(bucket: string, key: string): Promise<void> {
    await drain(await send(this.target, "HEAD", `/${bucket}/${key}`));
  }
  async delete(bucket: string, key: string): Promise<void> {
    await drain(await send(this.target, "DELETE", `/${bucket}/${key}`));
  }
  /** One ListObjectsV2 page; returns the continuation token of the next page, if any. */
  async listPage(bucket: string, token?: string): Promise<{ keys: number; next?: string }> {
    const query = "list-type=2&max-keys=1000" +
      (token ? `&continuation-token=${encodeURIComponent(token)}` : "");
    const xml = await (await send(this.target, "GET", `/${bucket}`, query)).text();
    const keys = xml.split("<Key>").length - 1;
    const next = /<NextContinuationToken>([^<]*)<\/NextContinuationToken>/.exec(xml)?.[1];
    return { keys, next: next?.replace(/&amp;/g, "&").replace(/&lt;/g, "<").replace(/&gt;/g, ">") };
  }
}
