/**
 * A streaming multipart/form-data reader for POST Object. The fields before the file are read
 * into memory under a size limit; the file part comes back as a stream that reads the request
 * body on demand, so a file of any size passes through in the body's own chunks. Fields after
 * the file are ignored, as S3 ignores them. Malformed bodies are MalformedPOSTRequest.
 */

import { S3Error } from "./errors.ts";

/** S3's limit on the form fields that precede the file (headers and values together). */
export const MAX_FORM_FIELDS_BYTES = 20 * 1024;
/** What is read and dropped after the file's closing delimiter, at most. */
const MAX_EPILOGUE_BYTES = MAX_FORM_FIELDS_BYTES;
const MAX_BOUNDARY_LENGTH = 70;
const DASH = 0x2d;

export interface FormFile {
  /** The filename of the file part's Content-Disposition ("" when absent). */
  filename: string;
  /** The file part's own Content-Type, if it had one. */
  contentType?: string;
  /** The file's bytes; errors with MalformedPOSTRequest when the body ends before the part does. */
  body: ReadableStream<Uint8Array>;
}

export interface Form {
  /** Fields before the file, names as sent. */
  fields: Map<string, string>;
  file: FormFile;
}

const encoder = new TextEncoder();
const utf8 = new TextDecoder();

export function malformedPost(): S3Error {
  return new S3Error(
    "MalformedPOSTRequest",
    "The body of your POST request is not well-formed multipart/form-data.",
  );
}

function fieldsTooLarge(): S3Error {
  return new S3Error(
    "MaxPostPreDataLengthExceeded",
    "Your POST request fields preceding the upload file were too large.",
  );
}

/** The boundary of a multipart/form-data Content-Type, or undefined for any other type. */
export function formBoundary(contentType: string | null): string | undefined {
  if (contentType === null) return undefined;
  const [type, ...params] = contentType.split(";");
  if (type.trim().toLowerCase() !== "multipart/form-data") return undefined;
  for (const param of params) {
    const eq = param.indexOf("=");
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "boundary") continue;
    let value = param.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    if (value.length === 0 || value.length > MAX_BOUNDARY_LENGTH) throw malformedPost();
    return value;
  }
  throw malformedPost();
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const last = haystack.length - needle.length;
  const first = needle[0];
  for (
    let i = haystack.indexOf(first, from);
    i >= 0 && i <= last;
    i = haystack.indexOf(first, i + 1)
  ) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The unconsumed bytes of the body and the reader that refills them. */
class Buffered {
  pending: Uint8Array;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>, start: Uint8Array) {
    this.pending = start;
  }
  /** Appends the next chunk; false at the end of the body. */
  async fill(): Promise<boolean> {
    const { done, value } = await this.reader.read();
    if (done) return false;
    this.pending = concat(this.pending, value);
    return true;
  }
  take(n: number): Uint8Array {
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    return out;
  }
  /** Reads until `needle` is buffered; returns its index. Errors past `limit` buffered bytes. */
  async find(needle: Uint8Array, limit: number, tooLarge: () => S3Error): Promise<number> {
    let from = 0;
    for (;;) {
      const at = indexOf(this.pending, needle, from);
      if (at >= 0) return at;
      if (this.pending.length > limit) throw tooLarge();
      from = Math.max(0, this.pending.length - needle.length + 1);
      if (!await this.fill()) throw malformedPost();
    }
  }
  async cancel(reason?: unknown): Promise<void> {
    await this.reader.cancel(reason).catch(() => {});
  }
}

interface PartHeaders {
  name: string;
  filename?: string;
  contentType?: string;
}

/** A Content-Disposition parameter: quoted (with backslash escapes) or a bare token. */
function dispositionParam(value: string, name: string): string | undefined {
  const pattern = new RegExp(`;\\s*${name}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;\\s]*))`, "i");
  const match = pattern.exec(value);
  if (!match) return undefined;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : match[2];
}

function parsePartHeaders(text: string): PartHeaders {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw malformedPost();
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-disposition") disposition = value;
    else if (name === "content-type") contentType = value;
  }
  if (disposition === undefined || !/^form-data\s*(;|$)/i.test(disposition)) throw malformedPost();
  const name = dispositionParam(disposition, "name");
  if (name === undefined || name === "") throw malformedPost();
  return { name, filename: dispositionParam(disposition, "filename"), contentType };
}

/**
 * Reads the fields of a multipart/form-data body up to its part named "file" and returns them
 * with that part as a stream. Throws MalformedPOSTRequest for a broken body,
 * MaxPostPreDataLengthExceeded when the fields exceed MAX_FORM_FIELDS_BYTES, and InvalidArgument
 * when the form has no file. On any throw the body is cancelled.
 */
export async function readForm(body: ReadableStream<Uint8Array>, boundary: string): Promise<Form> {
  // A virtual CRLF in front lets the first delimiter look like every other one.
  const input = new Buffered(body.getReader(), encoder.encode("\r\n"));
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  const headerEnd = encoder.encode("\r\n\r\n");
  const lineEnd = encoder.encode("\r\n");
  const fields = new Map<string, string>();
  let budget = MAX_FORM_FIELDS_BYTES;
  const spend = (n: number) => {
    budget -= n;
    if (budget < 0) throw fieldsTooLarge();
  };

  /** Consumes a delimiter's tail: true before another part, false at the closing "--". */
  const afterDelimiter = async (): Promise<boolean> => {
    while (input.pending.length < 2) {
      if (!await input.fill()) throw malformedPost();
    }
    if (input.pending[0] === DASH && input.pending[1] === DASH) return false;
    const end = await input.find(lineEnd, MAX_EPILOGUE_BYTES, malformedPost);
    // Transport padding (RFC 2046) may precede the line end.
    if (utf8.decode(input.take(end + lineEnd.length)).trim() !== "") throw malformedPost();
    return true;
  };

  try {
    // The preamble, if any, is ignored.
    input.take(await input.find(delimiter, MAX_EPILOGUE_BYTES, malformedPost) + delimiter.length);
    while (await afterDelimiter()) {
      const end = await input.find(headerEnd, budget, fieldsTooLarge);
      spend(end + headerEnd.length);
      const part = parsePartHeaders(utf8.decode(input.take(end)));
      input.take(headerEnd.length);
      if (part.name.toLowerCase() === "file") {
        return {
          fields,
          file: {
            filename: part.filename ?? "",
            contentType: part.contentType,
            body: fileStream(input, delimiter),
          },
        };
      }
      const valueEnd = await input.find(delimiter, budget, fieldsTooLarge);
      spend(valueEnd);
      if (fields.has(part.name)) {
        throw new S3Error("InvalidArgument", `The form field ${part.name} appears twice.`);
      }
      fields.set(part.name, utf8.decode(input.take(valueEnd)));
      input.take(delimiter.length);
    }
    throw new S3Error("InvalidArgument", "POST requires exactly one file upload per request.");
  } catch (err) {
    await input.cancel(err);
    throw err;
  }
}

/**
 * The file part up to the next delimiter. Bytes that could begin a delimiter split across
 * chunks are held back until the next chunk decides; once the delimiter is found, the rest of
 * the body (later fields, the closing delimiter) is read and dropped before the stream ends.
 */
function fileStream(input: Buffered, delimiter: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const at = indexOf(input.pending, delimiter);
        if (at >= 0) {
          if (at > 0) controller.enqueue(input.take(at));
          input.take(delimiter.length);
          await drain(input);
          controller.close();
          return;
        }
        const safe = input.pending.length - (delimiter.length - 1);
        if (safe > 0) {
          controller.enqueue(input.take(safe));
          return;
        }
        if (!await input.fill()) throw malformedPost();
      }
    },
    cancel: (reason) => input.cancel(reason),
  }, { highWaterMark: 0 });
}

async function drain(input: Buffered): Promise<void> {
  let dropped = input.pending.length;
  input.take(dropped);
  while (await input.fill()) {
    dropped += input.pending.length;
    input.take(input.pending.length);
    if (dropped > MAX_EPILOGUE_BYTES) {
      await input.cancel();
      throw new S3Error("InvalidArgument", "The form has too much data after its file.");
    }
  }
}
