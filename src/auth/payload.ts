/**
 * What x-amz-content-sha256 says about the body, and the body stream that enforces it: a hex
 * hash is checked as the body streams past, STREAMING-* bodies go through the aws-chunked
 * decoder, UNSIGNED-PAYLOAD passes untouched.
 */
import { createHash } from "node:crypto";
import { decodeAwsChunked } from "./chunked.ts";
import { AuthError } from "./errors.ts";
import { EMPTY_SHA256, type SigningContext } from "./signing.ts";

export type PayloadMode =
  | { kind: "sha256"; hash: string }
  | { kind: "unsigned" }
  | { kind: "chunked"; signed: boolean; trailer: boolean };

export interface Payload {
  body: ReadableStream<Uint8Array> | null;
  contentLength: number;
  trailers: Promise<Headers>;
}

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

const notImplemented = () =>
  new AuthError(
    "NotImplemented",
    "SigV4a (AWS4-ECDSA-P256-SHA256) signed payloads are not supported; use AWS4-HMAC-SHA256.",
  );

/** Classifies an x-amz-content-sha256 value; throws for values S3 does not accept. */
export function payloadMode(value: string): PayloadMode {
  switch (value) {
    case "UNSIGNED-PAYLOAD":
      return { kind: "unsigned" };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
      return { kind: "chunked", signed: true, trailer: false };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
      return { kind: "chunked", signed: true, trailer: true };
    case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
      return { kind: "chunked", signed: false, trailer: true };
    case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD":
    case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
      throw notImplemented();
  }
  if (HEX_SHA256.test(value)) return { kind: "sha256", hash: value.toLowerCase() };
  throw new AuthError(
    "InvalidArgument",
    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, " +
      "STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER] or a valid sha256 value.",
  );
}

function lengthHeader(headers: Headers, name: string): number {
  const text = headers.get(name);
  if (text === null) return -1;
  if (!/^\d{1,16}$/.test(text.trim())) {
    throw new AuthError("InvalidArgument", `The ${name} header is not a valid length.`);
  }
  return Number(text.trim());
}

function mismatch(): AuthError {
  return new AuthError(
    "XAmzContentSHA256Mismatch",
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
  );
}

function sha256Checked(body: ReadableStream<Uint8Array>, expected: string) {
  const hash = createHash("sha256");
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(piece, controller) {
        hash.update(piece);
        controller.enqueue(piece);
      },
      flush() {
        if (hash.digest("hex") !== expected) throw mismatch();
      },
    }),
  );
}

/**
 * The body to store under `mode`. `signing` carries the seed (the request's own signature) for
 * signed chunks; it is undefined for anonymous requests, which cannot send signed chunks.
 */
export function decodePayload(
  headers: Headers,
  body: ReadableStream<Uint8Array> | null,
  mode: PayloadMode,
  signing?: { context: SigningContext; seed: string },
): Payload {
  const noTrailers = Promise.resolve(new Headers());
  const trailerHeader = headers.get("x-amz-trailer");
  const trailerNames = trailerHeader === null
    ? []
    : trailerHeader.split(",").map((name) => name.trim().toLowerCase()).filter((n) => n !== "");
  if (trailerNames.length > 0 && !(mode.kind === "chunked" && mode.trailer)) {
    throw new AuthError(
      "InvalidRequest",
      "x-amz-trailer requires a STREAMING-*-TRAILER x-amz-content-sha256.",
    );
  }
  if (mode.kind === "sha256") {
    const contentLength = lengthHeader(headers, "content-length");
    if (body === null) {
      if (mode.hash !== EMPTY_SHA256) throw mismatch();
      return { body, contentLength, trailers: noTrailers };
    }
    return { body: sha256Checked(body, mode.hash), contentLength, trailers: noTrailers };
  }
  if (mode.kind === "unsigned") {
    return { body, contentLength: lengthHeader(headers, "content-length"), trailers: noTrailers };
  }
  if (mode.signed && !signing) {
    throw new AuthError("AccessDenied", "Signed aws-chunked payloads require a signed request.");
  }
  const decodedLength = lengthHeader(headers, "x-amz-decoded-content-length");
  if (body === null) {
    if (decodedLength > 0) throw new AuthError("IncompleteBody", "The request has no body.");
    return { body, contentLength: 0, trailers: noTrailers };
  }
  const decoded = decodeAwsChunked(body, {
    signing: mode.signed ? signing : undefined,
    trailerNames,
    decodedLength,
  });
  return { body: decoded.body, contentLength: decodedLength, trailers: decoded.trailers };
}
