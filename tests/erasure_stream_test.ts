import { assert, assertEquals } from "./helpers/assert.ts";
import { crc64 } from "../ffi/isal.ts";
import { BLOCK_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { decodeStream, MemoryShard, type ShardSource } from "../src/erasure/stream.ts";
import {
  assertBytesEqual,
  collect,
  encodeToMemory,
  prng,
  randomBytes,
  RecordingSource,
  subsets,
} from "./erasure_util.ts";

const SHAPES: [number, number][] = [[1, 0], [2, 1], [2, 2], [3, 2], [4, 2], [4, 4], [8, 4]];

function sizesFor(codec: ErasureCodec): number[] {
  const k = codec.dataShards;
  const block = codec.shardBlockLength(BLOCK_SIZE);
  return [0, 1, k - 1, k, k + 1, block - 1, block, block + 1]
    .concat([BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 3 * BLOCK_SIZE - 1, 10 * BLOCK_SIZE + 7])
    .filter((size, i, all) => size >= 0 && all.indexOf(size) === i);
}

/** The shard file as specified: per stripe, LE CRC-64/XZ of the block, then the block. */
function expectedShardFile(codec: ErasureCodec, data: Uint8Array, index: number): Uint8Array {
  const out = new Uint8Array(codec.shardFileSize(data.byteLength));
  let at = 0;
  for (let start = 0; start < data.byteLength; start += BLOCK_SIZE) {
    const block = codec.encodeStripe(data.subarray(start, start + BLOCK_SIZE))[index];
    new DataView(out.buffer).setBigUint64(at, crc64(block), true);
    out.set(block, at + 8);
    at += 8 + block.byteLength;
  }
  return out;
}

for (const [k, m] of SHAPES) {
  Deno.test(`round trip ${k}+${m}: boundary sizes, random source chunking`, async () => {
    const codec = new ErasureCodec(k, m);
    for (const size of sizesFor(codec)) {
      const data = randomBytes(size, size + k * 100 + m);
      const shards = await encodeToMemory(codec, data, size ^ 0x5eed);
      for (const shard of shards) assertEquals(shard.bytes().byteLength, codec.shardFileSize(size));
      const out = await collect(decodeStream(codec, size, 0, size, shards));
      assertBytesEqual(out, data, `${k}+${m} size ${size}`);
      if (m > 0 && size > 0) {
        // Lose the first m shards (data shards) and decode from the rest.
        const degraded = shards.map((s, i) => (i < m ? undefined : s));
        const rebuilt = await collect(decodeStream(codec, size, 0, size, degraded));
        assertBytesEqual(rebuilt, data, `${k}+${m} size ${size} without shards 0..${m - 1}`);
      }
    }
  });
}

Deno.test("shard files are framed stripes exactly as encodeStripe and CRC-64/XZ define", async () => {
  for (
    const [k, m, size] of [
      [3, 2, 2 * BLOCK_SIZE + 5],
      [4, 2, BLOCK_SIZE + 1],
      [4, 2, 3 * BLOCK_SIZE - 1], // the short last stripe reuses a full stripe's frames
      [5, 1, 77],
    ]
  ) {
    const codec = new ErasureCodec(k, m);
    const data = randomBytes(size, size);
    const shards = await encodeToMemory(codec, data, 3);
    shards.forEach((shard, i) =>
      assertBytesEqual(shard.bytes(), expectedShardFile(codec, data, i), `${k}+${m} shard ${i}`)
    );
  }
});

Deno.test("decode with every pattern of up to m missing or corrupt shards, k+m ≤ 8", async () => {
  let cases = 0;
  for (let n = 2; n <= 8; n++) {
    for (let k = 1; k < n; k++) {
      const codec = new ErasureCodec(k, n - k);
      // Two stripes, the second short, so replacements also start mid-stream.
      const size = BLOCK_SIZE + 3 * k + 1;
      const data = randomBytes(size, n * 8 + k);
      const shards = await encodeToMemory(codec, data, k);
      const secondStripe = codec.frameOffset(1) + 8;
      for (const lost of subsets(n, n - k)) {
        const missing = shards.map((s, i) => (lost.includes(i) ? undefined : s));
        const corrupt = shards.map((s, i) => {
          if (!lost.includes(i)) return s;
          const bytes = s.bytes().slice();
          bytes[secondStripe] ^= 1;
          return MemoryShard.of(bytes);
        });
        for (const sources of [missing, corrupt]) {
          const reported: number[] = [];
          const out = await collect(
            decodeStream(codec, size, 0, size, sources, (i) => reported.push(i)),
          );
          assertBytesEqual(out, data, `${k}+${n - k} lost ${lost}`);
          // Only shards that were actually read can be reported, and only damaged ones.
          assert(reported.every((i) => lost.includes(i)), `reported ${reported} for ${lost}`);
          if (sources === corrupt) {
            // Shards are tried in index order until k are good: every damaged one before the
            // k-th good shard was read and must have been reported.
            const kthGood = [...Array(n).keys()].filter((i) => !lost.includes(i))[k - 1];
            const expected = lost.filter((i) => i < kthGood);
            assertEquals(reported.sort(), expected, `${k}+${n - k} lost ${lost}`);
          }
          cases++;
        }
      }
    }
  }
  assert(cases > 500, `only ${cases} cases`);
});

Deno.test("ranged decode equals the slice, healthy and degraded", async () => {
  const codec = new ErasureCodec(4, 2);
  const size = 3 * BLOCK_SIZE + 12345;
  const data = randomBytes(size, 99);
  const shards = await encodeToMemory(codec, data, 5);
  const random = prng(42);
  const ranges: [number, number][] = [
    [0, size],
    [0, 1],
    [size - 1, 1],
    [BLOCK_SIZE - 1, 2],
    [BLOCK_SIZE, BLOCK_SIZE],
    [3 * BLOCK_SIZE, 12345],
    [codec.shardBlockLength(BLOCK_SIZE) - 3, 6],
    [5, 0],
  ];
  for (let i = 0; i < 40; i++) {
    const offset = Math.floor(random() * size);
    const length = Math.floor(random() * Math.min(size - offset, 2.5 * BLOCK_SIZE));
    ranges.push([offset, length]);
  }
  const degraded = [shards[0], undefined, shards[2], shards[3], undefined, shards[5]];
  for (const [offset, length] of ranges) {
    const expected = data.subarray(offset, offset + length);
    for (const sources of [shards, degraded]) {
      const out = await collect(decodeStream(codec, size, offset, length, sources));
      assertBytesEqual(out, expected, `range ${offset}+${length}`);
    }
  }
});

Deno.test("healthy read opens only the k data shards, once, at the first needed stripe", async () => {
  const codec = new ErasureCodec(4, 2);
  const size = 4 * BLOCK_SIZE + 100;
  const data = randomBytes(size, 8);
  const shards = await encodeToMemory(codec, data, 2);
  const sources = shards.map((s) => new RecordingSource(s));
  const offset = BLOCK_SIZE + 10;
  const length = 2 * BLOCK_SIZE;
  const out = await collect(decodeStream(codec, size, offset, length, sources));
  assertBytesEqual(out, data.subarray(offset, offset + length), "range");
  const span = codec.frameOffset(4) - codec.frameOffset(1);
  for (let i = 0; i < 4; i++) {
    assertEquals(sources[i].opens, [{ offset: codec.frameOffset(1), length: span }]);
  }
  assertEquals(sources[4].opens.length + sources[5].opens.length, 0);
});

Deno.test("shard streams are asked for chunks of whole frames, about a MiB each", async () => {
  for (const [k, m, frames] of [[2, 2, 2], [4, 2, 4], [1, 1, 1], [8, 4, 8]]) {
    const codec = new ErasureCodec(k, m);
    const size = 3 * BLOCK_SIZE;
    const data = randomBytes(size, k);
    const sources = (await encodeToMemory(codec, data, 3)).map((s) => new RecordingSource(s));
    assertBytesEqual(await collect(decodeStream(codec, size, 0, size, sources)), data, `${k}+${m}`);
    const frame = codec.frameOffset(1);
    assertEquals(sources[0].chunkSizes, [frames * frame], `${k}+${m}`);
  }
});

Deno.test("a failing shard is replaced by a parity shard opened at the failing stripe", async () => {
  const codec = new ErasureCodec(4, 2);
  const size = 3 * BLOCK_SIZE;
  const data = randomBytes(size, 9);
  const shards = await encodeToMemory(codec, data, 4);
  const damaged = shards[2].bytes().slice();
  damaged[codec.frameOffset(1) + 100] ^= 0xff;
  const sources = shards.map((s, i) => new RecordingSource(i === 2 ? MemoryShard.of(damaged) : s));
  const errors: [number, string][] = [];
  const out = await collect(
    decodeStream(codec, size, 0, size, sources, (i, err) => errors.push([i, err.name])),
  );
  assertBytesEqual(out, data, "output");
  assertEquals(errors, [[2, "FileCorrupt"]]);
  assertEquals(sources[4].opens, [{
    offset: codec.frameOffset(1),
    length: codec.shardFileSize(size) - codec.frameOffset(1),
  }]);
  assertEquals(sources[5].opens.length, 0);
  assertEquals(sources[2].cancelled, 1);
});

Deno.test("cancelling the decoded stream cancels every opened shard stream", async () => {
  const codec = new ErasureCodec(2, 2);
  const size = 5 * BLOCK_SIZE;
  const shards = await encodeToMemory(codec, randomBytes(size, 10), 6);
  const sources = shards.map((s) => new RecordingSource(s));
  const errors: number[] = [];
  const reader = decodeStream(codec, size, 0, size, sources, (i) => errors.push(i)).getReader();
  const first = await reader.read();
  assert(!first.done && first.value.byteLength > 0);
  await reader.cancel();
  assertEquals(sources.map((s) => s.opens.length), [1, 1, 0, 0]);
  assertEquals(sources.map((s) => s.cancelled), [1, 1, 0, 0]);
  assertEquals(errors, []);
});

Deno.test("a source that fails to open counts as a shard error", async () => {
  const codec = new ErasureCodec(2, 1);
  const data = randomBytes(1000, 11);
  const shards = await encodeToMemory(codec, data);
  const offline: ShardSource = { open: () => Promise.reject(new Error("drive gone")) };
  const errors: string[] = [];
  const out = await collect(
    decodeStream(codec, 1000, 0, 1000, [offline, shards[1], shards[2]], (i, e) => {
      errors.push(`${i}:${e.message}`);
    }),
  );
  assertBytesEqual(out, data, "output");
  assertEquals(errors, ["0:drive gone"]);
});

Deno.test("decoded chunks are the reader's: changing them leaves in-memory shards intact", async () => {
  const codec = new ErasureCodec(2, 2);
  const data = randomBytes(3 * 4096 + 5, 77);
  const shards = await encodeToMemory(codec, data);
  const before = shards.map((s) => s.bytes().slice());
  const reader = decodeStream(codec, data.byteLength, 0, data.byteLength, shards).getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) r.value.fill(0xee);
  shards.forEach((s, i) => assertBytesEqual(s.bytes(), before[i], `shard ${i}`));
  assertBytesEqual(
    await collect(decodeStream(codec, data.byteLength, 0, data.byteLength, shards)),
    data,
    "again",
  );
});
