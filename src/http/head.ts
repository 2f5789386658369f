/**
 * Strict HTTP/1.1 request-head parsing (RFC 9112). Anything ambiguous is refused, because an
 * intermediary that reads the same bytes differently is how requests get smuggled.
 */

import { HttpError } from "./errors.ts";

export interface RequestHead {
  method: string;
  /** Request target exactly as sent (origin-form). */
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  /**
   * By name as sent; repeats of a name joined with ", ", as Headers joins them. A record
   * because Deno builds Headers from one faster than from pairs (~3 vs ~5 µs for a signed GET).
   */
  headers: Record<string, string>;
  host?: string;
  /** Body framing: "none", a fixed length, or chunked. */
  contentLength: number;
  chunked: boolean;
  keepAlive: boolean;
  expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// The target is visible ASCII without "#" (no fragments on the wire) and "\\" (which the URL
// parser would turn into "/"), so request.url and the raw target name the same resource.
const REQUEST_LINE =
  /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21\x22\x24-\x5b\x5d-\x7e]+) HTTP\/(\d)\.(\d)$/;
// An authority without userinfo: "/", "?", "#" or "@" would move the path into the host.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::\d{0,5})?$/;
// Controls other than HTAB are what a header value may not hold.
// deno-lint-ignore no-control-regex
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;
const NOT_LATIN1 = /[\u0100-\uffff]/;

// WHATWG "latin1" is windows-1252; exact ISO-8859-1 is only needed for bytes 0x80-0x9f.
const decoder = new TextDecoder("latin1");

/** Bytes to a string with one char per byte (a fetch ByteString). */
export function latin1(bytes: Uint8Array): string {
  const text = decoder.decode(bytes);
  if (!NOT_LATIN1.test(text)) return text;
  let out = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    out += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return out;
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) {
    end--;
  }
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/**
 * Parses one header line into [name, value]; the name keeps its case (Headers lowercases).
 * Used for request headers and chunked trailers alike.
 */
export function parseFieldLine(line: string): [string, string] {
  const first = line.charCodeAt(0);
  if (first === 32 || first === 9) throw new HttpError(400, "obsolete line folding");
  const colon = line.indexOf(":");
  if (colon <= 0) throw new HttpError(400, "header line without a name");
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) throw new HttpError(400, "invalid header name");
  const value = trimOws(line.slice(colon + 1));
  if (BAD_VALUE_CHAR.test(value)) throw new HttpError(400, "invalid character in header value");
  return [name, value];
}

/**
 * Parses a request head: the text from the request line up to (not including) the CRLF
 * that ends the head. Lines are CRLF-separated; the caller has already refused bare LF.
 */
export function parseRequestHead(text: string): RequestHead {
  const lines = text.split("\r\n");
  const requestLine = REQUEST_LINE.exec(lines[0]);
  if (!requestLine) throw new HttpError(400, "malformed request line");
  const [, method, target, major, minorText] = requestLine;
  if (major !== "1") throw new HttpError(505, "HTTP version not supported");
  const minor = minorText === "0" ? 0 : 1;
  if (target.charCodeAt(0) !== 47) throw new HttpError(400, "request target must be a path");

  const headers: Record<string, string> = Object.create(null);
  let host: string | undefined;
  let contentLength: string | undefined;
  let transferEncoding: string | undefined;
  let connection = "";
  let expect: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    const field = parseFieldLine(lines[i]);
    const seen = headers[field[0]];
    headers[field[0]] = seen === undefined ? field[1] : seen + ", " + field[1];
    const name = field[0].length <= 17 ? field[0].toLowerCase() : "";
    switch (name) {
      case "host":
        if (host !== undefined) throw new HttpError(400, "multiple Host headers");
        host = field[1];
        break;
      case "content-length":
        if (contentLength !== undefined) {
          throw new HttpError(400, "multiple Content-Length headers");
        }
        contentLength = field[1];
        break;
      case "transfer-encoding":
        if (transferEncoding !== undefined) {
          throw new HttpError(400, "multiple Transfer-Encoding headers");
        }
        transferEncoding = field[1];
        break;
      case "connection":
        connection += "," + field[1].toLowerCase();
        break;
      case "expect":
        expect = field[1].toLowerCase();
        break;
    }
  }

  if (minor === 1 && host === undefined) throw new HttpError(400, "missing Host header");
  if (host !== undefined && !HOST.test(host)) throw new HttpError(400, "invalid Host header");
  if (contentLength !== undefined && transferEncoding !== undefined) {
    throw new HttpError(400, "both Content-Length and Transfer-Encoding");
  }
  if (transferEncoding !== undefined) {
    if (transferEncoding.toLowerCase() !== "chunked") {
      throw new HttpError(400, "unsupported Transfer-Encoding");
    }
    if (minor === 0) throw new HttpError(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  if (contentLength !== undefined && !DIGITS.test(contentLength)) {
    throw new HttpError(400, "invalid Content-Length");
  }
  if (expect !== undefined && expect !== "100-continue") {
    throw new HttpError(417, "unsupported expectation");
  }
  const tokens = connection === "" ? [] : connection.split(",").map(trimOws);
  const keepAlive = minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    method,
    target,
    minor,
    headers,
    host,
    contentLength: contentLength === undefined ? 0 : Number(contentLength),
    chunked: transferEncoding !== undefined,
    keepAlive,
    expectContinue: expect !== undefined && minor === 1,
  };
}
