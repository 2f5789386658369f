/**
 * The canonical request of SigV4 as S3 builds it. Unlike other AWS services S3 neither
 * normalises the path ("/a/../b" stays) nor encodes it twice: the raw path is percent-decoded
 * and every byte outside RFC 3986's unreserved set is encoded once, "/" kept.
 */
import { AuthError } from "./errors.ts";

const HEX = "0123456789ABCDEF";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Text that decoding and re-encoding leaves unchanged: the common case, skipped cheaply. */
const PLAIN = /^[A-Za-z0-9\-._~]*$/;

function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

/**
 * Percent-decodes to bytes, so that keys that are not valid UTF-8 still round-trip. A "%" not
 * followed by two hex digits is kept literally (and so signed as "%25").
 */
function percentDecode(text: string, plusIsSpace: boolean): Uint8Array {
  const raw = encoder.encode(text);
  const out = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i];
    if (b === 0x25 && i + 2 < raw.length) {
      const hi = hexValue(raw[i + 1]);
      const lo = hexValue(raw[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = plusIsSpace && b === 0x2b ? 0x20 : b;
  }
  return out.subarray(0, n);
}

function percentEncode(bytes: Uint8Array, keepSlash: boolean): string {
  let out = "";
  for (const b of bytes) {
    if (isUnreserved(b) || (keepSlash && b === 0x2f)) out += String.fromCharCode(b);
    else out += "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/** Canonical URI of a raw (still percent-encoded) path. */
export function canonicalUri(rawPath: string): string {
  if (rawPath === "") return "/";
  return rawPath.split("/").map((segment) =>
    PLAIN.test(segment) ? segment : percentEncode(percentDecode(segment, false), false)
  ).join("/");
}

/** Decoded query parameters in order of appearance ("+" is a space, as in Go's ParseQuery). */
export function parseQuery(rawQuery: string): [string, string][] {
  const params: [string, string][] = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    params.push([decodeText(name), decodeText(value)]);
  }
  return params;
}

function decodeText(text: string): string {
  return PLAIN.test(text) ? text : decoder.decode(percentDecode(text, true));
}

function encodeText(text: string): string {
  return PLAIN.test(text) ? text : percentEncode(encoder.encode(text), false);
}

/** Sorted, encoded "k=v&k=v"; `exclude` names a parameter left out (X-Amz-Signature). */
export function canonicalQuery(params: [string, string][], exclude?: string): string {
  const encoded: [string, string][] = [];
  for (const [name, value] of params) {
    if (name === exclude) continue;
    encoded.push([encodeText(name), encodeText(value)]);
  }
  encoded.sort(([ak, av], [bk, bv]) => ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0);
  return encoded.map(([k, v]) => `${k}=${v}`).join("&");
}

/** `value` without leading and trailing spaces and tabs (String.trim also takes 0xA0). */
export function trimSpaces(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, "");
}

/**
 * "name:value\n" for each signed header, values trimmed and inner runs of spaces collapsed.
 * Values are byte strings (one char per byte, as both HTTP engines hand them over): only ASCII
 * space and tab are white space, since 0xA0 may be the second byte of a UTF-8 character, and the
 * result is hashed as those bytes (see sigv4.ts), which is what clients sign.
 * A signed header missing from the request cannot have been signed as sent: mismatch, except
 * `expect`, which some proxies and Deno's own 100-continue handling consume.
 */
export function canonicalHeaders(signedHeaders: string[], headers: Headers): string {
  let out = "";
  for (const name of signedHeaders) {
    let value = headers.get(name);
    if (value === null) {
      if (name !== "expect") {
        throw new AuthError(
          "SignatureDoesNotMatch",
          `The request signature we calculated does not match the signature you provided. Signed header '${name}' is missing.`,
        );
      }
      value = "100-continue";
    }
    out += `${name}:${trimSpaces(value).replace(/[ \t]+/g, " ")}\n`;
  }
  return out;
}
