import { Buffer } from "node:buffer";

/** Byte chunks joined into one buffer; a lone chunk is returned as it is, without a copy. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  if (chunks.length === 1 && chunks[0].buffer instanceof ArrayBuffer) {
    return chunks[0] as Uint8Array<ArrayBuffer>;
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

const utf8 = new TextEncoder();

/** Whether `text` takes more than `limit` bytes of UTF-8; most names are decided unencoded. */
export function utf8LongerThan(text: string, limit: number): boolean {
  // A UTF-16 code unit takes 1 to 3 bytes of UTF-8.
  if (text.length > limit) return true;
  return text.length * 3 > limit && utf8.encode(text).byteLength > limit;
}

/**
 * The UTF-8 of `text` as a byte string (one char per byte), the form in which both HTTP engines
 * hand over header values: text that must compare or hash like a header value takes this form.
 */
export function utf8ByteString(text: string): string {
  // deno-lint-ignore no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  let out = "";
  for (const b of utf8.encode(text)) out += String.fromCharCode(b);
  return out;
}

/** Standard base64 of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * The bytes of standard base64 `text`; throws on anything else (Node's decoder would skip
 * stray characters silently, which for a key or a digest hides a client's mistake).
 */
export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
    throw new TypeError("not base64");
  }
  // A copy of its own: Buffer.from's may be a view of a pool shared with other strings.
  return new Uint8Array(Buffer.from(text, "base64"));
}
