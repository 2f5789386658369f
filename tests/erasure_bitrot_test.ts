import { assert, assertEquals } from "./helpers/assert.ts";
import { BLOCK_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { decodeStream, MemoryShard } from "../src/erasure/stream.ts";
import { InsufficientReadQuorum } from "../src/object/errors.ts";
import { assertBytesEqual, collect, encodeToMemory, prng, randomBytes } from "./erasure_util.ts";

const codec = new ErasureCodec(4, 2);
const SIZE = 3 * BLOCK_SIZE - 1000;
const DATA = randomBytes(SIZE, 2024);
const SHARDS = await encodeToMemory(codec, DATA, 17);

type Damage = Record<number, (file: Uint8Array) => Uint8Array>;

/** The shards, with each damage function applied to a copy of the file of its index. */
function damaged(damage: Damage): MemoryShard[] {
  return SHARDS.map((s, i) => (damage[i] ? MemoryShard.of(damage[i](s.bytes().slice())) : s));
}

const flipAt = (at: number) => (file: Uint8Array) => {
  file[at] ^= 0x40;
  return file;
};
const truncateTo = (length: number) => (file: Uint8Array) => file.subarray(0, length);

/** Reads the whole part; returns what was emitted before an error and the error itself. */
async function readAll(shards: MemoryShard[], errors: number[] = []) {
  const reader = decodeStream(codec, SIZE, 0, SIZE, shards, (i) => errors.push(i)).getReader();
  const chunks: Uint8Array[] = [];
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    return { bytes: concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: concat(chunks), error };
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  chunks.reduce((at, c) => (out.set(c, at), at + c.byteLength), 0);
  return out;
}

const stripe = (j: number) => codec.frameOffset(j);

Deno.test("a flipped byte in one data block or checksum: exact output, that shard reported", async () => {
  for (const [index, at] of [[1, stripe(1) + 8 + 5], [0, stripe(2)], [3, stripe(0) + 9]]) {
    const errors: number[] = [];
    const { bytes, error } = await readAll(damaged({ [index]: flipAt(at) }), errors);
    assertEquals(error, undefined);
    assertBytesEqual(bytes, DATA, `flip shard ${index} at ${at}`);
    assertEquals(errors, [index]);
  }
});

Deno.test("a truncated data shard: exact output, that shard reported", async () => {
  for (const length of [0, 5, stripe(1) + 3, codec.shardFileSize(SIZE) - 1]) {
    const errors: number[] = [];
    const { bytes, error } = await readAll(damaged({ 2: truncateTo(length) }), errors);
    assertEquals(error, undefined);
    assertBytesEqual(bytes, DATA, `truncated to ${length}`);
    assertEquals(errors, [2]);
  }
});

Deno.test("more than m damaged shards: InsufficientReadQuorum after a verified prefix only", async () => {
  const cases: { damage: Damage }[] = [
    // Three shards rotten in the last stripe: the first two stripes still come out.
    { damage: { 0: flipAt(stripe(2) + 20), 1: flipAt(stripe(2) + 8), 4: flipAt(stripe(2)) } },
    { damage: { 1: truncateTo(stripe(1)), 2: truncateTo(stripe(1) + 1), 3: flipAt(stripe(1)) } },
  ];
  for (const { damage } of cases) {
    const errors: number[] = [];
    const { bytes, error } = await readAll(damaged(damage), errors);
    assert(error instanceof InsufficientReadQuorum, `expected quorum error, got ${error}`);
    assertBytesEqual(bytes, DATA.subarray(0, bytes.byteLength), "emitted prefix");
    assert(
      bytes.byteLength % BLOCK_SIZE === 0,
      `prefix of ${bytes.byteLength} is not whole stripes`,
    );
    assertEquals(errors.sort(), Object.keys(damage).map(Number));
  }
});

Deno.test("failures spread over stripes, at most m in each: exact output, each shard reported", async () => {
  // 0 fails in stripe 0, then 1 and its parity stand-in 4 in stripe 1, where 0 is good again.
  const damage = { 0: flipAt(stripe(0) + 8), 1: flipAt(stripe(1) + 8), 4: flipAt(stripe(1) + 9) };
  const errors: number[] = [];
  const { bytes, error } = await readAll(damaged(damage), errors);
  assertEquals(error, undefined);
  assertBytesEqual(bytes, DATA, "spread damage");
  assertEquals([...new Set(errors)].sort(), [0, 1, 4]);
});

Deno.test("random damage never yields wrong bytes: exact output or quorum error", async () => {
  const random = prng(77);
  const outcomes = { exact: 0, quorum: 0 };
  for (let round = 0; round < 60; round++) {
    const damage: Damage = {};
    const count = 1 + Math.floor(random() * 4);
    for (let d = 0; d < count; d++) {
      const index = Math.floor(random() * 6);
      const at = Math.floor(random() * codec.shardFileSize(SIZE));
      damage[index] = random() < 0.2 ? truncateTo(at) : flipAt(at);
    }
    const errors: number[] = [];
    const { bytes, error } = await readAll(damaged(damage), errors);
    assert(errors.every((i) => i in damage), `reported ${errors}, damaged ${Object.keys(damage)}`);
    if (error === undefined) {
      assertBytesEqual(bytes, DATA, `round ${round}`);
      outcomes.exact++;
    } else {
      assert(error instanceof InsufficientReadQuorum, `round ${round}: ${error}`);
      assertBytesEqual(bytes, DATA.subarray(0, bytes.byteLength), `round ${round} prefix`);
      outcomes.quorum++;
    }
  }
  assert(outcomes.exact > 0 && outcomes.quorum > 0, JSON.stringify(outcomes));
});

Deno.test("fewer than k sources given: InsufficientReadQuorum at once", () => {
  let threw: unknown;
  try {
    decodeStream(codec, SIZE, 0, 10, [
      SHARDS[0],
      undefined,
      undefined,
      SHARDS[3],
      undefined,
      SHARDS[5],
    ]);
  } catch (err) {
    threw = err;
  }
  assert(threw instanceof InsufficientReadQuorum, `got ${threw}`);
});

Deno.test("decodeStream rejects ranges outside the part", () => {
  for (const [offset, length] of [[-1, 2], [0, SIZE + 1], [SIZE, 1], [1.5, 2]]) {
    let threw: unknown;
    try {
      decodeStream(codec, SIZE, offset, length, SHARDS);
    } catch (err) {
      threw = err;
    }
    assert(threw instanceof RangeError, `${offset}+${length}: ${threw}`);
  }
});

Deno.test("an empty range reads nothing", async () => {
  assertEquals((await collect(decodeStream(codec, SIZE, 7, 0, SHARDS))).byteLength, 0);
});
