/**
 * Decoder of `Content-Encoding: aws-chunked` bodies:
 *
 *   <hex size>[;chunk-signature=<sig>]\r\n <data> \r\n … 0[;chunk-signature=<sig>]\r\n
 *   [<name>:<value>\r\n …][x-amz-trailer-signature:<sig>\r\n] \r\n
 *
 * Data is passed on as sub-arrays of the incoming pieces, never copied or held: memory is one
 * header line, whatever the chunk size. Signed chunks are hashed as they pass and their signature
 * is checked when the chunk ends; a bad chunk errors the stream at that point, before the final
 * chunk, so a consumer that commits only at the end of the stream never commits bad data.
 */
import { createHash, type Hash } from "node:crypto";
import { AuthError } from "./errors.ts";
import {
  chunkSignature,
  EMPTY_SHA256,
  sha256Hex,
  signaturesEqual,
  type SigningContext,
  trailerSignature,
} from "./signing.ts";

export interface ChunkedOptions {
  /** Set for STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]: chunks chain from the seed signature. */
  signing?: { context: SigningContext; seed: string };
  /** Trailer names announced in x-amz-trailer: each must arrive and no other may. */
  trailerNames: string[];
  /** x-amz-decoded-content-length, or -1 when the client did not say. */
  decodedLength: number;
  /** Largest chunk accepted (MinIO's limit by default). */
  maxChunkSize?: number;
}

export interface DecodedBody {
  body: ReadableStream<Uint8Array>;
  /** Resolves once the body has been read to its end; rejects with the stream's error. */
  trailers: Promise<Headers>;
}

const DEFAULT_MAX_CHUNK = 16 << 20;
const MAX_LINE = 1024;
const MAX_TRAILER_BYTES = 16 << 10;
const TRAILER_SIGNATURE = "x-amz-trailer-signature";
const SIGNATURE_PATTERN = /^[0-9a-f]{64}$/;
/** name: value with a token name and visible ASCII (a byte Headers would refuse is a 400). */
const TRAILER_FIELD = /^\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*:[\t\x20-\x7e]*$/;
const latin1 = new TextDecoder("latin1");

const enum State {
  SizeLine,
  Data,
  DataCr,
  DataLf,
  Trailer,
  Done,
}

function malformed(detail: string): AuthError {
  return new AuthError("InvalidRequest", `Malformed aws-chunked body: ${detail}.`);
}

function incomplete(detail: string): AuthError {
  return new AuthError("IncompleteBody", `The request body is incomplete: ${detail}.`);
}

function badSignature(what: string): AuthError {
  return new AuthError(
    "SignatureDoesNotMatch",
    `The ${what} signature we calculated does not match the signature you provided.`,
  );
}

class ChunkedParser {
  private state = State.SizeLine;
  private readonly line = new Uint8Array(MAX_LINE);
  private lineLength = 0;
  private remaining = 0;
  private decoded = 0;
  private chunkHash: Hash | undefined;
  private chunkSig = "";
  private previousSig: string;
  private finalChunk = false;
  private trailerBytes = 0;
  private readonly trailerList: [string, string][] = [];
  private trailerSig: string | undefined;
  private readonly maxChunk: number;

  constructor(private readonly options: ChunkedOptions) {
    this.previousSig = options.signing?.seed ?? "";
    this.maxChunk = options.maxChunkSize ?? DEFAULT_MAX_CHUNK;
  }

  /** Consumes one piece of the encoded body; `emit` receives decoded data. */
  push(piece: Uint8Array, emit: (data: Uint8Array) => void): void {
    let pos = 0;
    while (pos < piece.length) {
      switch (this.state) {
        case State.SizeLine:
        case State.Trailer: {
          const end = this.readLine(piece, pos);
          if (end < 0) return;
          pos = end;
          if (this.state === State.SizeLine) this.onSizeLine();
          else this.onTrailerLine();
          break;
        }
        case State.Data: {
          const n = Math.min(this.remaining, piece.length - pos);
          const data = piece.subarray(pos, pos + n);
          this.chunkHash?.update(data);
          emit(data);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.DataCr;
          break;
        }
        case State.DataCr:
          if (piece[pos++] !== 0x0d) throw malformed("chunk data is not followed by CRLF");
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (piece[pos++] !== 0x0a) throw malformed("chunk data is not followed by CRLF");
          this.endChunk();
          break;
        case State.Done:
          throw malformed("data after the end of the body");
      }
    }
  }

  /** Called at the end of the encoded body; returns the trailers. */
  finish(): Headers {
    const trailerStart = this.state === State.Trailer && this.lineLength === 0;
    if (this.state !== State.Done && !trailerStart) {
      throw incomplete("the body ended inside a chunk");
    }
    if (trailerStart) this.endTrailers();
    return new Headers(this.trailerList);
  }

  /** Appends bytes up to and including "\n" to the line buffer; returns the next position or -1. */
  private readLine(piece: Uint8Array, pos: number): number {
    const newline = piece.indexOf(0x0a, pos);
    const end = newline < 0 ? piece.length : newline + 1;
    if (this.lineLength + (end - pos) > MAX_LINE) throw malformed("header line too long");
    this.line.set(piece.subarray(pos, end), this.lineLength);
    this.lineLength += end - pos;
    if (this.state === State.Trailer) {
      this.trailerBytes += end - pos;
      if (this.trailerBytes > MAX_TRAILER_BYTES) throw malformed("trailers too long");
    }
    return newline < 0 ? -1 : end;
  }

  /** The completed line without its CRLF. */
  private takeLine(): string {
    const n = this.lineLength;
    this.lineLength = 0;
    if (n < 2 || this.line[n - 2] !== 0x0d) throw malformed("line not terminated by CRLF");
    return latin1.decode(this.line.subarray(0, n - 2));
  }

  private onSizeLine(): void {
    const text = this.takeLine();
    const semicolon = text.indexOf(";");
    const sizeText = semicolon < 0 ? text : text.slice(0, semicolon);
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw malformed(`bad chunk size "${sizeText}"`);
    const size = parseInt(sizeText, 16);
    if (size > this.maxChunk) throw malformed(`chunk of ${size} bytes exceeds ${this.maxChunk}`);
    if (this.options.signing) {
      const extension = semicolon < 0 ? "" : text.slice(semicolon + 1);
      const signature = extension.startsWith("chunk-signature=") ? extension.slice(16) : "";
      if (!SIGNATURE_PATTERN.test(signature)) throw malformed("missing or bad chunk-signature");
      this.chunkSig = signature;
      this.chunkHash = createHash("sha256");
    }
    this.decoded += size;
    if (this.options.decodedLength >= 0 && this.decoded > this.options.decodedLength) {
      throw incomplete("more data than x-amz-decoded-content-length");
    }
    this.remaining = size;
    if (size === 0) {
      this.finalChunk = true;
      this.endChunk();
    } else {
      this.state = State.Data;
    }
  }

  private endChunk(): void {
    const signing = this.options.signing;
    if (signing && this.chunkHash) {
      const hash = this.finalChunk ? EMPTY_SHA256 : this.chunkHash.digest("hex");
      const expected = chunkSignature(signing.context, this.previousSig, hash);
      if (!signaturesEqual(expected, this.chunkSig)) throw badSignature("chunk");
      this.previousSig = expected;
      this.chunkHash = undefined;
    }
    this.state = this.finalChunk ? State.Trailer : State.SizeLine;
  }

  private onTrailerLine(): void {
    const text = this.takeLine();
    if (text === "") {
      this.endTrailers();
      this.state = State.Done;
      return;
    }
    if (this.trailerSig !== undefined) throw malformed("trailer after x-amz-trailer-signature");
    const colon = text.indexOf(":");
    if (colon <= 0 || !TRAILER_FIELD.test(text)) {
      throw new AuthError("MalformedTrailerError", "A trailer line is not a header field.");
    }
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === TRAILER_SIGNATURE) this.trailerSig = value;
    else this.trailerList.push([name, value]);
  }

  private endTrailers(): void {
    const names = this.trailerList.map(([name]) => name);
    const expected = this.options.trailerNames;
    if (
      names.length !== expected.length || names.some((name) => !expected.includes(name))
    ) {
      throw new AuthError(
        "MalformedTrailerError",
        `The trailers sent (${names.join(", ") || "none"}) differ from x-amz-trailer (${
          expected.join(", ") || "none"
        }).`,
      );
    }
    const signing = this.options.signing;
    if (signing && expected.length > 0) {
      if (this.trailerSig === undefined || !SIGNATURE_PATTERN.test(this.trailerSig)) {
        throw malformed("missing x-amz-trailer-signature");
      }
      const canonical = this.trailerList.map(([name, value]) => `${name}:${value}\n`).join("");
      const computed = trailerSignature(signing.context, this.previousSig, sha256Hex(canonical));
      if (!signaturesEqual(computed, this.trailerSig)) throw badSignature("trailer");
    }
    if (this.options.decodedLength >= 0 && this.decoded !== this.options.decodedLength) {
      throw incomplete(
        `decoded ${this.decoded} bytes, x-amz-decoded-content-length says ${this.options.decodedLength}`,
      );
    }
  }
}

/** Decodes an aws-chunked body; see the module comment for the guarantees. */
export function decodeAwsChunked(
  body: ReadableStream<Uint8Array>,
  options: ChunkedOptions,
): DecodedBody {
  const parser = new ChunkedParser(options);
  const { promise: trailers, resolve, reject } = Promise.withResolvers<Headers>();
  // Callers that never look at the trailers must not see an unhandled rejection.
  trailers.catch(() => {});
  const fail = (err: unknown): never => {
    reject(err);
    throw err;
  };
  const decoded = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(piece, controller) {
        try {
          parser.push(piece, (data) => controller.enqueue(data));
        } catch (err) {
          fail(err);
        }
      },
      flush() {
        try {
          resolve(parser.finish());
        } catch (err) {
          fail(err);
        }
      },
      cancel(reason) {
        reject(reason);
      },
    }),
  );
  return { body: decoded, trailers };
}
