import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";
import { cauchyMatrix, crc64 } from "../ffi/isal.ts";
import { BLOCK_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { openFrame, sealFrame } from "../src/erasure/bitrot.ts";
import { FileCorrupt } from "../src/storage/errors.ts";
import { InsufficientReadQuorum } from "../src/object/errors.ts";
import { assertBytesEqual, randomBytes, subsets } from "./erasure_util.ts";

// Pure-TS GF(2^8) with polynomial 0x11d: the independent reference for ISA-L's parity.
const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
for (let i = 0, x = 1; i < 255; i++) {
  EXP[i] = EXP[i + 255] = x;
  LOG[x] = i;
  x = (x << 1) ^ (x & 0x80 ? 0x11d : 0);
}
const gfMul = (a: number, b: number) => (a && b ? EXP[LOG[a] + LOG[b]] : 0);
const gfInv = (a: number) => EXP[255 - LOG[a]];

function referenceParity(k: number, m: number, data: Uint8Array[]): Uint8Array[] {
  const length = data[0].byteLength;
  return Array.from({ length: m }, (_, r) => {
    const out = new Uint8Array(length);
    for (let j = 0; j < k; j++) {
      const coefficient = gfInv((k + r) ^ j);
      for (let x = 0; x < length; x++) out[x] ^= gfMul(coefficient, data[j][x]);
    }
    return out;
  });
}

Deno.test("GF reference: 0x11d field inverses multiply to one", () => {
  for (let a = 1; a < 256; a++) assertEquals(gfMul(a, gfInv(a)), 1);
});

Deno.test("ISA-L Cauchy matrix and parity match the pure-TS GF(2^8) reference", () => {
  for (const [k, m, size] of [[4, 2, 1001], [5, 3, 4097]]) {
    const matrix = cauchyMatrix(k, m);
    for (let r = 0; r < m; r++) {
      for (let j = 0; j < k; j++) assertEquals(matrix[(k + r) * k + j], gfInv((k + r) ^ j));
    }
    const stripe = randomBytes(size, 7 + k);
    const shards = new ErasureCodec(k, m).encodeStripe(stripe);
    const block = Math.ceil(size / k);
    assertEquals(shards.length, k + m);
    const padded = new Uint8Array(block * k);
    padded.set(stripe);
    const data = shards.slice(0, k);
    data.forEach((d, j) =>
      assertBytesEqual(d, padded.subarray(j * block, (j + 1) * block), "data")
    );
    const expected = referenceParity(k, m, data);
    shards.slice(k).forEach((p, r) => assertBytesEqual(p, expected[r], `parity ${r}`));
  }
});

Deno.test("shard sizes: blocks, shards and framed shard files", () => {
  const codec = new ErasureCodec(4, 2);
  assertEquals(codec.shardBlockLength(0), 0);
  assertEquals(codec.shardBlockLength(1), 1);
  assertEquals(codec.shardBlockLength(5), 2);
  assertEquals(codec.shardSize(0), 0);
  assertEquals(codec.shardFileSize(0), 0);
  assertEquals(codec.shardSize(5), 2);
  assertEquals(codec.shardFileSize(5), 10);
  assertEquals(codec.shardSize(BLOCK_SIZE), BLOCK_SIZE / 4);
  assertEquals(codec.shardFileSize(BLOCK_SIZE), BLOCK_SIZE / 4 + 8);
  assertEquals(codec.shardFileSize(2 * BLOCK_SIZE + 3), BLOCK_SIZE / 2 + 1 + 24);
  const three = new ErasureCodec(3, 1);
  assertEquals(three.shardBlockLength(BLOCK_SIZE), 349526);
  assertEquals(three.shardFileSize(BLOCK_SIZE + 1), 349526 + 1 + 16);
  assertEquals(three.frameOffset(2), 2 * (8 + 349526));
  assertThrows(() => new ErasureCodec(0, 2), RangeError);
  assertThrows(() => new ErasureCodec(200, 57), RangeError);
  assertThrows(() => new ErasureCodec(2.5, 1), RangeError);
});

Deno.test("reconstruct rebuilds every pattern of up to m lost shards, k+m ≤ 8", () => {
  let patterns = 0;
  for (let n = 1; n <= 8; n++) {
    for (let k = 1; k <= n; k++) {
      const m = n - k;
      const codec = new ErasureCodec(k, m);
      const stripe = randomBytes(k * 13 + 5, n * 10 + k);
      const block = codec.shardBlockLength(stripe.byteLength);
      const original = codec.encodeStripe(stripe);
      for (const lost of subsets(n, m)) {
        for (const onlyData of [false, true]) {
          const shards: (Uint8Array | undefined)[] = original.map((s, i) =>
            lost.includes(i) ? undefined : s.slice()
          );
          codec.reconstruct(shards, block, onlyData);
          for (let i = 0; i < n; i++) {
            if (onlyData && i >= k && lost.includes(i)) {
              assertEquals(shards[i], undefined);
            } else {
              assertBytesEqual(
                shards[i] as Uint8Array,
                original[i],
                `${k}+${m} lost ${lost} #${i}`,
              );
            }
          }
          patterns++;
        }
      }
    }
  }
  assert(patterns > 1000, `only ${patterns} patterns exercised`);
});

Deno.test("reconstruct with more than m lost shards throws InsufficientReadQuorum", () => {
  const codec = new ErasureCodec(4, 2);
  const shards: (Uint8Array | undefined)[] = codec.encodeStripe(randomBytes(100, 3));
  shards[0] = shards[2] = shards[5] = undefined;
  assertThrows(() => codec.reconstruct(shards, 25), InsufficientReadQuorum);
});

Deno.test("bitrot frame: little-endian CRC-64/XZ header, verified on open", () => {
  assertEquals(crc64(new TextEncoder().encode("123456789")), 0x995dc9bbdf1939fan);
  const frame = new Uint8Array(8 + 9);
  frame.set(new TextEncoder().encode("123456789"), 8);
  sealFrame(frame);
  assertEquals([...frame.subarray(0, 8)], [0xfa, 0x39, 0x19, 0xdf, 0xbb, 0xc9, 0x5d, 0x99]);
  assertEquals(new TextDecoder().decode(openFrame(frame)), "123456789");
  for (const at of [0, 7, 8, 16]) {
    const bad = frame.slice();
    bad[at] ^= 0x20;
    assertThrows(() => openFrame(bad), FileCorrupt);
  }
  assertThrows(() => openFrame(frame.subarray(0, 5)), FileCorrupt);
});
