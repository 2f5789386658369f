/**
 * Reed-Solomon k+m over ISA-L with a Cauchy generator matrix. Encode tables are built once per
 * (k, m) and shared by every codec of that shape; decode tables are cached per erasure pattern,
 * because a degraded set keeps losing the same shards stripe after stripe.
 *
 * ISA-L is called synchronously: a 1 MiB stripe encodes in ~100 µs, less than the hop to
 * Deno's blocking pool, which would also compete with file I/O (see ffi/isal.ts).
 */

import { cauchyMatrix, encodeData, initTables, invertMatrix } from "../../ffi/isal.ts";
import { InsufficientReadQuorum } from "../object/errors.ts";

/** One stripe of object data. */
export const BLOCK_SIZE = 1024 * 1024;
/** Shard files are read about this many bytes at a time. */
const READ_SIZE = 1024 * 1024;

/** Bytes of the checksum that frames every shard block (see bitrot.ts). */
export const CHECKSUM_SIZE = 8;

/** Decode tables kept per (k, m); a set has few distinct failure patterns at any one time. */
const MAX_DECODE_PATTERNS = 256;

interface Shape {
  /** (k+m) × k generator matrix, identity on top. */
  matrix: Uint8Array;
  /** Tables for the m parity rows. */
  encodeTables: Uint8Array;
  /** Keyed by "inputs>outputs"; least recently used first (a Map keeps insertion order). */
  decodeTables: Map<string, Uint8Array>;
}

const shapes = new Map<string, Shape>();

function shapeOf(k: number, m: number): Shape {
  const key = `${k}+${m}`;
  let shape = shapes.get(key);
  if (!shape) {
    const matrix = cauchyMatrix(k, m);
    shape = {
      matrix,
      encodeTables: initTables(k, m, matrix.subarray(k * k)),
      decodeTables: new Map(),
    };
    shapes.set(key, shape);
  }
  return shape;
}

export class ErasureCodec {
  readonly #shape: Shape;

  constructor(readonly dataShards: number, readonly parityShards: number) {
    if (!Number.isInteger(dataShards) || !Number.isInteger(parityShards)) {
      throw new RangeError(`invalid erasure shape ${dataShards}+${parityShards}`);
    }
    if (dataShards < 1 || parityShards < 0 || dataShards + parityShards > 256) {
      throw new RangeError(`invalid erasure shape ${dataShards}+${parityShards}`);
    }
    this.#shape = shapeOf(dataShards, parityShards);
  }

  get totalShards(): number {
    return this.dataShards + this.parityShards;
  }

  /** Length of one shard block for a stripe of `stripeLength` bytes: ceil(stripeLength / k). */
  shardBlockLength(stripeLength: number): number {
    return Math.ceil(stripeLength / this.dataShards);
  }

  /** Bytes of one shard (without checksums) for an object part of `size` bytes. */
  shardSize(size: number): number {
    const fullStripes = Math.floor(size / BLOCK_SIZE);
    return fullStripes * this.shardBlockLength(BLOCK_SIZE) +
      this.shardBlockLength(size % BLOCK_SIZE);
  }

  /** Bytes of one shard FILE for `size` bytes: every block framed with its 8-byte checksum. */
  shardFileSize(size: number): number {
    return this.shardSize(size) + Math.ceil(size / BLOCK_SIZE) * CHECKSUM_SIZE;
  }

  /** Byte offset of stripe `stripe`'s frame in a shard file (all earlier stripes are full). */
  frameOffset(stripe: number): number {
    return stripe * (CHECKSUM_SIZE + this.shardBlockLength(BLOCK_SIZE));
  }

  /**
   * Bytes of whole frames, about a MiB of them: the chunk size to read a shard file in, so that
   * no frame spans two chunks and has to be copied together (half of them did with 1 MiB chunks
   * and 2 data shards).
   */
  readChunkSize(): number {
    const frame = this.frameOffset(1);
    return frame * Math.max(1, Math.round(READ_SIZE / frame));
  }

  /** Splits one stripe (≤ BLOCK_SIZE bytes) into k data + m parity shard blocks (zero padded). */
  encodeStripe(stripe: Uint8Array): Uint8Array[] {
    if (stripe.byteLength > BLOCK_SIZE) throw new RangeError("stripe longer than BLOCK_SIZE");
    const blockLength = this.shardBlockLength(stripe.byteLength);
    const all = new Uint8Array(blockLength * this.totalShards);
    all.set(stripe);
    const shards: Uint8Array[] = [];
    for (let i = 0; i < this.totalShards; i++) {
      shards.push(all.subarray(i * blockLength, (i + 1) * blockLength));
    }
    this.encodeParity(shards, blockLength);
    return shards;
  }

  /** Computes shards[k..k+m) from shards[0..k) over their first `blockLength` bytes, in place. */
  encodeParity(shards: Uint8Array[], blockLength: number): void {
    const k = this.dataShards;
    encodeData(blockLength, this.#shape.encodeTables, shards.slice(0, k), shards.slice(k));
  }

  /**
   * Fills in missing entries (undefined) of shards[0..k+m) from any k present; each
   * blockLength bytes. With `onlyData`, missing parity shards stay undefined.
   * Throws InsufficientReadQuorum when fewer than k are present.
   */
  reconstruct(shards: (Uint8Array | undefined)[], blockLength: number, onlyData = false): void {
    const k = this.dataShards;
    if (shards.length !== this.totalShards) {
      throw new RangeError(`expected ${this.totalShards} shards, got ${shards.length}`);
    }
    const present: number[] = [];
    for (let i = 0; i < shards.length && present.length < k; i++) {
      if (shards[i]) present.push(i);
    }
    if (present.length < k) {
      throw new InsufficientReadQuorum(`only ${present.length} of ${k} needed shards present`);
    }
    this.#rebuild(present, this.#missing(shards, 0, k), shards, blockLength);
    if (onlyData) return;
    // All data is present now: missing parity is a plain encode of those rows.
    const dataIndices = Array.from({ length: k }, (_, i) => i);
    this.#rebuild(dataIndices, this.#missing(shards, k, this.totalShards), shards, blockLength);
  }

  #missing(shards: (Uint8Array | undefined)[], from: number, to: number): number[] {
    const missing: number[] = [];
    for (let i = from; i < to; i++) if (!shards[i]) missing.push(i);
    return missing;
  }

  /** Allocates and computes shards `outputs` from shards `inputs`. */
  #rebuild(
    inputs: number[],
    outputs: number[],
    shards: (Uint8Array | undefined)[],
    blockLength: number,
  ): void {
    if (outputs.length === 0) return;
    const tables = this.#tables(inputs, outputs);
    const sources = inputs.map((i) => shards[i] as Uint8Array);
    const targets = outputs.map((i) => (shards[i] = new Uint8Array(blockLength)));
    encodeData(blockLength, tables, sources, targets);
  }

  /** Tables that compute shards `outputs` from the k shards `inputs`, cached per pattern. */
  #tables(inputs: number[], outputs: number[]): Uint8Array {
    const cache = this.#shape.decodeTables;
    const key = `${inputs.join(",")}>${outputs.join(",")}`;
    let tables = cache.get(key);
    if (tables) {
      cache.delete(key);
    } else {
      tables = initTables(inputs.length, outputs.length, this.#rows(inputs, outputs));
      if (cache.size >= MAX_DECODE_PATTERNS) cache.delete(cache.keys().next().value as string);
    }
    cache.set(key, tables);
    return tables;
  }

  /** Coefficient rows expressing each of `outputs` in terms of the k shards `inputs`. */
  #rows(inputs: number[], outputs: number[]): Uint8Array {
    const k = this.dataShards;
    const matrix = this.#shape.matrix;
    const rows = new Uint8Array(outputs.length * k);
    const identityInputs = inputs.every((index, column) => index === column);
    if (identityInputs) {
      // Inputs are the data shards: generator rows apply directly.
      outputs.forEach((o, r) => rows.set(matrix.subarray(o * k, (o + 1) * k), r * k));
      return rows;
    }
    // Data = inverse(rows of the inputs) · inputs; this path only ever rebuilds data shards.
    const sub = new Uint8Array(k * k);
    inputs.forEach((index, r) => sub.set(matrix.subarray(index * k, (index + 1) * k), r * k));
    const inverse = invertMatrix(sub, k);
    if (!inverse) throw new Error(`singular decode matrix for shards ${inputs.join(",")}`);
    outputs.forEach((o, r) => {
      if (o >= k) throw new RangeError("parity rows are rebuilt from data shards");
      rows.set(inverse.subarray(o * k, (o + 1) * k), r * k);
    });
    return rows;
  }
}
