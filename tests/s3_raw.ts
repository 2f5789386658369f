/**
 * Hand-made S3 requests for the tests that the SDK will not send: unknown subresources, bad
 * Content-Length values, Host headers of virtual-host-style addressing and keys with "..".
 * Requests are SigV4-signed (UNSIGNED-PAYLOAD) with the test server's root credentials (or the
 * keys given) and go over fetch or, where fetch would rewrite them, a raw TCP connection.
 */

import { createHash, createHmac } from "node:crypto";
import { RawClient, type RawResponse } from "./http_client.ts";
import { ACCESS_KEY, SECRET_KEY, type TestServer } from "./helpers/server.ts";

export type { RawResponse };

const REGION = "us-east-1";

/** RFC 3986 encoding, as SigV4 canonicalises. */
export function encode3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** "/bucket/a b/c" → "/bucket/a%20b/c"; "." and ".." segments stay as they are. */
export function encodePath(path: string): string {
  return path.split("/").map(encode3986).join("/");
}

export interface RawRequest {
  method: string;
  /** Decoded path, e.g. "/bucket/key"; encoded here. */
  path: string;
  query?: [string, string][];
  headers?: Record<string, string>;
  body?: Uint8Array<ArrayBuffer> | string;
  /** Host header; defaults to 127.0.0.1:<port>. */
  host?: string;
  /** Leave the request unsigned (anonymous). */
  anonymous?: boolean;
  /** Sign with these keys instead of the test server's root credentials. */
  credentials?: { accessKey: string; secretKey: string };
}

/** The request target and headers (Authorization included) of a signed request. */
export function signRequest(
  request: RawRequest,
  host: string,
  now = new Date(),
): { target: string; headers: Record<string, string> } {
  const query = (request.query ?? []).map(([k, v]) => [encode3986(k), encode3986(v)]);
  const queryString = query.map(([k, v]) => `${k}=${v}`).join("&");
  const path = encodePath(request.path);
  const target = queryString === "" ? path : `${path}?${queryString}`;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    headers[name.toLowerCase()] = value;
  }
  if (request.anonymous) return { target, headers };
  const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  headers["host"] = host;
  headers["x-amz-date"] = amzDate;
  headers["x-amz-content-sha256"] ??= "UNSIGNED-PAYLOAD";
  const names = Object.keys(headers).sort();
  const canonical = [
    request.method,
    path,
    [...query].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1)
      .map(([k, v]) => `${k}=${v}`).join("&"),
    names.map((n) => `${n}:${headers[n].trim()}\n`).join(""),
    names.join(";"),
    headers["x-amz-content-sha256"],
  ].join("\n");
  const scope = `${amzDate.slice(0, 8)}/${REGION}/s3/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256",
    amzDate,
    scope,
    createHash("sha256").update(canonical).digest("hex"),
  ].join("\n");
  const { accessKey, secretKey } = request.credentials ??
    { accessKey: ACCESS_KEY, secretKey: SECRET_KEY };
  let key: Uint8Array = new TextEncoder().encode("AWS4" + secretKey);
  for (const part of [amzDate.slice(0, 8), REGION, "s3", "aws4_request"]) {
    key = createHmac("sha256", key).update(part).digest();
  }
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  headers["authorization"] = `AWS4-HMAC-SHA256 Credential=${accessKey}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
  return { target, headers };
}

/** Sends a signed request with fetch (which keeps neither a custom Host nor ".." segments). */
export async function signedFetch(server: TestServer, request: RawRequest): Promise<Response> {
  const { target, headers } = signRequest(request, `127.0.0.1:${server.port}`);
  delete headers["host"];
  return await fetch(server.endpoint + target, {
    method: request.method,
    headers,
    body: request.body,
  });
}

/**
 * Sends a signed request byte for byte over TCP. `rawHeaders` are appended unsigned and
 * unchecked (e.g. a negative Content-Length); without them Content-Length is the body's.
 */
export async function rawRequest(
  server: TestServer,
  request: RawRequest,
  rawHeaders?: string[],
): Promise<RawResponse> {
  const host = request.host ?? `127.0.0.1:${server.port}`;
  const body = typeof request.body === "string"
    ? new TextEncoder().encode(request.body)
    : request.body ?? new Uint8Array(0);
  const { target, headers } = signRequest(request, host);
  headers["host"] = host;
  const lines = [`${request.method} ${target} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (rawHeaders) lines.push(...rawHeaders);
  else if (body.length > 0 || request.method === "PUT" || request.method === "POST") {
    lines.push(`content-length: ${body.length}`);
  }
  lines.push("connection: close", "", "");
  const head = new TextEncoder().encode(lines.join("\r\n"));
  const client = await RawClient.connect(server.port);
  try {
    await client.send(head);
    if (body.length > 0) await client.send(body).catch(() => {});
    return await client.response(request.method === "HEAD");
  } finally {
    client.close();
  }
}

/** The text of one element of an XML document (first occurrence), or undefined. */
export function xmlField(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}
