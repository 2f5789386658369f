/** Shared fixtures of the crypto tests: running streams and catching what a failed one let out. */

import { Buffer } from "node:buffer";
import { concatBytes } from "../src/bytes.ts";
import { collect } from "./erasure_util.ts";

export { chunkedStream, collect, prng, randomBytes } from "./erasure_util.ts";

/** `input` (one chunk, or a stream) through `transform`, collected. */
export function through(
  input: Uint8Array | ReadableStream<Uint8Array>,
  transform: TransformStream<Uint8Array, Uint8Array>,
): Promise<Uint8Array> {
  const source = input instanceof Uint8Array ? ReadableStream.from([input]) : input;
  return collect(source.pipeThrough(transform));
}

/** What a stream passed on before it failed, and why it failed (undefined: it did not). */
export async function drain(
  stream: ReadableStream<Uint8Array>,
): Promise<{ bytes: Uint8Array; error?: unknown }> {
  const chunks: Uint8Array[] = [];
  const reader = stream.getReader();
  try {
    for (let i = 0; i < 1_000_000; i++) {
      const { done, value } = await reader.read();
      if (done) return { bytes: concatBytes(chunks) };
      chunks.push(value);
    }
    throw new Error("stream did not end");
  } catch (error) {
    return { bytes: concatBytes(chunks), error };
  }
}

/** Whether `a` and `b` hold the same bytes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength)
    .equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
