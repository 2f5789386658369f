/**
 * Erasure throughput: ISA-L encode through FFI on 1 MiB stripes, encodeStream into null sinks,
 * and decodeStream from memory (healthy, and with data shards lost).
 * Run: .deno/bin/deno run -A bench/erasure.ts
 * GB/s count object data bytes (10^9 per GB), not parity.
 */

import { BLOCK_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { decodeStream, encodeStream, MemoryShard, type ShardSink } from "../src/erasure/stream.ts";

export const SHAPES: [number, number][] = [[4, 2], [2, 2], [4, 4], [8, 4]];

export interface EncodeFigures {
  shape: string;
  /** codec.encodeParity on one 1 MiB stripe, repeated: the FFI call and ISA-L only. */
  isalGBps: number;
  /** encodeStream of a large object from 1 MiB chunks into sinks that drop the bytes. */
  streamGBps: number;
  /** encodeStream of 4 KiB objects into null sinks. */
  smallObjectsPerSecond: number;
}

export interface DecodeFigures {
  shape: string;
  /** decodeStream of a whole object from healthy MemoryShards (no reconstruction). */
  healthyGBps: number;
  /** The same with the first m data shards missing (every stripe reconstructed). */
  degradedGBps: number;
}

const nullSink: ShardSink = { write: () => Promise.resolve() };

/** Runs `step` until `seconds` have passed; returns operations per second. */
async function rate(seconds: number, step: () => unknown): Promise<number> {
  const start = performance.now();
  let count = 0;
  while (performance.now() - start < seconds * 1000) {
    await step();
    count++;
  }
  return count / ((performance.now() - start) / 1000);
}

function repeatedSource(chunk: Uint8Array, count: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent++ < count) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

function randomStripe(): Uint8Array {
  const bytes = new Uint8Array(BLOCK_SIZE);
  for (let at = 0; at < bytes.byteLength; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, at + 65536));
  }
  return bytes;
}

export async function measureEncode(seconds = 0.5): Promise<EncodeFigures[]> {
  const stripe = randomStripe();
  const figures: EncodeFigures[] = [];
  for (const [k, m] of SHAPES) {
    const codec = new ErasureCodec(k, m);
    const shards = codec.encodeStripe(stripe);
    const block = codec.shardBlockLength(BLOCK_SIZE);
    const sinks = Array.from({ length: k + m }, () => nullSink);
    await rate(seconds / 5, () => codec.encodeParity(shards, block));
    const isal = await rate(seconds, () => codec.encodeParity(shards, block));
    const stripes = 256;
    const streamed = await rate(
      seconds * 2,
      () => encodeStream(codec, repeatedSource(stripe, stripes), sinks, k + m),
    );
    const small = stripe.subarray(0, 4096);
    const smallRate = await rate(
      seconds,
      () => encodeStream(codec, repeatedSource(small, 1), sinks, k + m),
    );
    figures.push({
      shape: `${k}+${m}`,
      isalGBps: (isal * BLOCK_SIZE) / 1e9,
      streamGBps: (streamed * stripes * BLOCK_SIZE) / 1e9,
      smallObjectsPerSecond: smallRate,
    });
  }
  return figures;
}

export async function measureDecode(seconds = 0.5): Promise<DecodeFigures[]> {
  const stripe = randomStripe();
  const figures: DecodeFigures[] = [];
  for (const [k, m] of SHAPES) {
    const codec = new ErasureCodec(k, m);
    const shards = Array.from({ length: k + m }, () => new MemoryShard());
    const size = 64 * BLOCK_SIZE;
    await encodeStream(codec, repeatedSource(stripe, 64), shards, k + m);
    const degraded = shards.map((s, i) => (i < m ? undefined : s));
    const drain = async (sources: (MemoryShard | undefined)[]) => {
      const reader = decodeStream(codec, size, 0, size, sources).getReader();
      while (!(await reader.read()).done);
    };
    await drain(shards);
    await drain(degraded);
    const healthy = await rate(seconds * 2, () => drain(shards));
    const rebuilt = await rate(seconds * 2, () => drain(degraded));
    figures.push({
      shape: `${k}+${m}`,
      healthyGBps: (healthy * size) / 1e9,
      degradedGBps: (rebuilt * size) / 1e9,
    });
  }
  return figures;
}

function table(header: string[], rows: (string | number)[][]): string {
  const cell = (v: string | number) => (typeof v === "number" ? v.toFixed(2) : v);
  return [header, header.map(() => "---"), ...rows.map((r) => r.map(cell))]
    .map((r) => `| ${r.join(" | ")} |`).join("\n");
}

if (import.meta.main) {
  const encode = await measureEncode();
  console.log(table(
    ["k+m", "ISA-L encode GB/s", "encodeStream GB/s", "4 KiB encodeStream/s"],
    encode.map((
      f,
    ) => [f.shape, f.isalGBps, f.streamGBps, Math.round(f.smallObjectsPerSecond).toString()]),
  ));
  console.log();
  const decode = await measureDecode();
  console.log(table(
    ["k+m", "decodeStream healthy GB/s", "decodeStream m data shards lost GB/s"],
    decode.map((f) => [f.shape, f.healthyGBps, f.degradedGBps]),
  ));
}
