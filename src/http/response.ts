/**
 * Writes a fetch Response as HTTP/1.1: one write for the head plus a small body, Content-Length
 * whenever the length is known, chunked encoding for streams (close-delimited for HTTP/1.0).
 */

import { wholeBodyOf } from "./whole-body.ts";

const encoder = new TextEncoder();
const NON_ASCII = /[\u0080-\uffff]/;
/** Largest single socket write: a client must take this much within the stall deadline. */
const WRITE_SLICE = 1024 * 1024;
/** Bodies up to this size are copied behind the head and sent with it in one write. */
const COALESCE_LIMIT = 64 * 1024;
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

let dateSecond = 0;
let dateText = "";

/** IMF-fixdate of the current second, computed once per second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** Sequential writes to one connection, with a reusable buffer for heads. */
export class ConnWriter {
  // Grown on the first response, so an idle or slow connection holds no write buffer.
  private buf = new Uint8Array(0);
  /** The final response head of the current request has gone out. */
  headSent = false;

  constructor(private readonly conn: Deno.Conn) {}

  /** When the pending socket write started (0: none), for the stalled-client deadline. */
  writingSince = 0;

  /** Writes all of `data`, at most WRITE_SLICE bytes per socket write, so that one pending
   * write never waits on more than a bounded amount of data. */
  async write(data: Uint8Array): Promise<void> {
    let offset = 0;
    try {
      while (offset < data.length) {
        this.writingSince = Date.now();
        offset += await this.conn.write(
          data.subarray(offset, Math.min(data.length, offset + WRITE_SLICE)),
        );
      }
    } finally {
      this.writingSince = 0;
    }
  }

  /** Writes the head text followed by `body` (may be empty) in as few writes as possible. */
  async writeHead(head: string, body: Uint8Array): Promise<void> {
    // A body-rate cut may already have answered 408 while the handler was still running.
    if (this.headSent) throw new Error("a response was already sent");
    this.headSent = true;
    const need = head.length + (body.length <= COALESCE_LIMIT ? body.length : 0);
    if (this.buf.length < need) {
      this.buf = new Uint8Array(Math.max(need, this.buf.length * 2, 4096));
    }
    let n: number;
    if (!NON_ASCII.test(head)) {
      n = encoder.encodeInto(head, this.buf).written;
    } else {
      for (let i = 0; i < head.length; i++) this.buf[i] = head.charCodeAt(i);
      n = head.length;
    }
    if (body.length <= COALESCE_LIMIT) {
      this.buf.set(body, n);
      await this.write(this.buf.subarray(0, n + body.length));
    } else {
      await this.write(this.buf.subarray(0, n));
      await this.write(body);
    }
  }

  async writeChunk(data: Uint8Array): Promise<void> {
    if (data.length === 0) return;
    const prefix = encoder.encode(data.length.toString(16) + "\r\n");
    if (data.length <= COALESCE_LIMIT) {
      const framed = new Uint8Array(prefix.length + data.length + 2);
      framed.set(prefix);
      framed.set(data, prefix.length);
      framed.set(CRLF, prefix.length + data.length);
      await this.write(framed);
    } else {
      await this.write(prefix);
      await this.write(data);
      await this.write(CRLF);
    }
  }

  writeLastChunk(): Promise<void> {
    return this.write(LAST_CHUNK);
  }
}

export interface ResponseContext {
  method: string;
  /** Minor HTTP version of the request (0 or 1). */
  minor: number;
  /** The connection may stay open after this response, as far as the request goes. */
  keepAlive: boolean;
}

interface Head {
  /** Status line and headers, framing headers excluded; ends before the final CRLF. */
  text: string;
  /** The handler's Content-Length, -1 if absent or not a plain number. */
  length: number;
  /** The handler asked to close the connection. */
  close: boolean;
}

/**
 * One pass over the response headers (each Headers.get would be another scan). forEach, not
 * for…of: Deno's Headers iterator cost ~9 µs for a GET's eight headers, forEach ~1.4 µs.
 */
function headOf(status: number, statusText: string, headers: Headers): Head {
  let text = `HTTP/1.1 ${status} ${statusText || REASONS[status] || "Status"}\r\n`;
  let hasDate = false;
  let length = -1;
  let close = false;
  headers.forEach((value, name) => {
    switch (name) {
      case "content-length":
        length = /^\d{1,15}$/.test(value) ? Number(value) : -1;
        return;
      case "connection":
        close = value.toLowerCase().includes("close");
        return;
      case "keep-alive":
      case "transfer-encoding":
        return;
      case "date":
        hasDate = true;
    }
    text += name + ": " + value + "\r\n";
  });
  if (!hasDate) text += "date: " + httpDate() + "\r\n";
  return { text, length, close };
}

function connectionHeader(minor: number, keepAlive: boolean): string {
  if (!keepAlive) return "connection: close\r\n\r\n";
  return minor === 0 ? "connection: keep-alive\r\n\r\n" : "\r\n";
}

/** A whole error response for requests refused before the handler ran. */
export function errorResponseHead(status: number, message: string): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\ndate: ${httpDate()}\r\n` +
    `content-type: text/plain\r\ncontent-length: ${message.length + 1}\r\n` +
    `connection: close\r\n\r\n${message}\n`;
}

/**
 * Sends `response`. Returns whether the connection can carry another request. Throws when the
 * connection or the response body fails; the caller then closes the connection.
 */
export async function writeResponse(
  writer: ConnWriter,
  response: Response,
  request: ResponseContext,
): Promise<boolean> {
  const status = response.status;
  const { text: head, length, close } = headOf(status, response.statusText, response.headers);
  let keepAlive = request.keepAlive && !close;

  if (request.method === "HEAD" || status === 204 || status === 304 || status < 200) {
    await response.body?.cancel().catch(() => {});
    const framing = length >= 0 && status !== 204 && status >= 200
      ? `content-length: ${length}\r\n`
      : "";
    await writer.writeHead(head + framing + connectionHeader(request.minor, keepAlive), EMPTY);
    return keepAlive;
  }
  const whole = wholeBodyOf(response);
  if (whole !== undefined || (length >= 0 && length <= COALESCE_LIMIT)) {
    // Small body of known length: bytes() skips the stream machinery for static bodies
    // (touching response.body would build a stream).
    const data = whole ?? await response.bytes();
    if (length >= 0 && data.length !== length) {
      throw new Error(`response body of ${data.length} bytes, Content-Length ${length}`);
    }
    await writer.writeHead(
      head + `content-length: ${data.length}\r\n` + connectionHeader(request.minor, keepAlive),
      data,
    );
    return keepAlive;
  }
  const body = response.body;
  if (body === null) {
    await writer.writeHead(
      head + "content-length: 0\r\n" + connectionHeader(request.minor, keepAlive),
      EMPTY,
    );
    return keepAlive;
  }
  const reader = body.getReader();
  try {
    if (length >= 0) {
      return await sendKnownLength(writer, reader, head, length, request.minor, keepAlive);
    }
    const first = await reader.read();
    const second = first.done ? first : await reader.read();
    if (second.done) {
      const data = first.value ?? EMPTY;
      await writer.writeHead(
        head + `content-length: ${data.length}\r\n` + connectionHeader(request.minor, keepAlive),
        data,
      );
      return keepAlive;
    }
    if (request.minor === 0) {
      // No chunked coding in HTTP/1.0: the end of the body is the end of the connection.
      keepAlive = false;
      await writer.writeHead(head + connectionHeader(0, false), first.value!);
      await writer.write(second.value);
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        await writer.write(r.value);
      }
      return false;
    }
    await writer.writeHead(
      head + "transfer-encoding: chunked\r\n" + connectionHeader(1, keepAlive),
      EMPTY,
    );
    await writer.writeChunk(first.value!);
    await writer.writeChunk(second.value);
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      await writer.writeChunk(r.value);
    }
    await writer.writeLastChunk();
    return keepAlive;
  } catch (err) {
    reader.cancel(err).catch(() => {});
    throw err;
  }
}

const EMPTY = new Uint8Array(0);

/** The handler set a large Content-Length: send exactly that many bytes or fail. */
async function sendKnownLength(
  writer: ConnWriter,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  head: string,
  length: number,
  minor: number,
  keepAlive: boolean,
): Promise<boolean> {
  const fullHead = head + `content-length: ${length}\r\n` + connectionHeader(minor, keepAlive);
  let first = await reader.read();
  let sent = 0;
  if (!first.done && first.value.length > length) {
    throw new Error(`response body longer than its Content-Length ${length}`);
  }
  await writer.writeHead(fullHead, first.done ? EMPTY : first.value);
  sent += first.done ? 0 : first.value.length;
  while (!first.done) {
    first = await reader.read();
    if (first.done) break;
    sent += first.value.length;
    if (sent > length) throw new Error(`response body longer than its Content-Length ${length}`);
    await writer.write(first.value);
  }
  if (sent !== length) throw new Error(`response body shorter than its Content-Length ${length}`);
  return keepAlive;
}
