import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { BLOCK_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { decodeStream, encodeStream, MemoryShard, type ShardSink } from "../src/erasure/stream.ts";
import { InsufficientWriteQuorum } from "../src/object/errors.ts";
import { DiskFull } from "../src/storage/errors.ts";
import { assertBytesEqual, chunkedStream, collect, randomBytes } from "./erasure_util.ts";

const codec = new ErasureCodec(4, 2);

/** A MemoryShard that throws DiskFull from its `failAt`-th write on (0-based). */
class FullDrive extends MemoryShard {
  writes = 0;
  constructor(readonly failAt: number) {
    super();
  }
  override write(data: Uint8Array): Promise<void> {
    if (this.writes++ >= this.failAt) return Promise.reject(new DiskFull("no space"));
    return super.write(data);
  }
}

/** Streams `data` in 64 KiB chunks only when asked, recording how much was pulled. */
function lazySource(data: Uint8Array) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled >= data.byteLength) return controller.close();
      const next = Math.min(data.byteLength, state.pulled + 64 * 1024);
      controller.enqueue(data.slice(state.pulled, next));
      state.pulled = next;
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

Deno.test("a sink failing above quorum is dropped and reported; the rest decode", async () => {
  const data = randomBytes(3 * BLOCK_SIZE + 5, 1);
  const sinks = [new MemoryShard(), new MemoryShard(), new MemoryShard(), new FullDrive(1)]
    .concat([new MemoryShard(), new MemoryShard()]);
  const result = await encodeStream(codec, chunkedStream(data, 2), sinks, 5);
  assertEquals(result, { size: data.byteLength, failed: [3] });
  assertEquals((sinks[3] as FullDrive).writes, 2, "a dropped sink is not written again");
  const sources = sinks.map((s, i) => (i === 3 ? undefined : s));
  const out = await collect(decodeStream(codec, data.byteLength, 0, data.byteLength, sources));
  assertBytesEqual(out, data, "decoded");
});

Deno.test("sinks failing below quorum: InsufficientWriteQuorum, source cancelled early", async () => {
  const data = randomBytes(20 * BLOCK_SIZE, 3);
  const { stream, state } = lazySource(data);
  const sinks = [new FullDrive(1), new MemoryShard(), new FullDrive(1), new MemoryShard()]
    .concat([new MemoryShard(), new MemoryShard()]);
  await assertRejects(() => encodeStream(codec, stream, sinks, 5), InsufficientWriteQuorum);
  assert(state.cancelled, "source cancelled");
  assert(state.pulled <= 3 * BLOCK_SIZE, `read ${state.pulled} bytes after quorum was lost`);
});

Deno.test("offline sinks below quorum: InsufficientWriteQuorum before reading", async () => {
  const { stream, state } = lazySource(randomBytes(100, 4));
  const sinks = [new MemoryShard(), undefined, new MemoryShard(), undefined]
    .concat([new MemoryShard(), new MemoryShard()]);
  await assertRejects(() => encodeStream(codec, stream, sinks, 5), InsufficientWriteQuorum);
  assertEquals(state, { pulled: 0, cancelled: true });
});

Deno.test("offline sinks within quorum are skipped and not reported", async () => {
  const data = randomBytes(BLOCK_SIZE + 1, 5);
  const sinks = [undefined, new MemoryShard(), new MemoryShard(), new MemoryShard()]
    .concat([new MemoryShard(), new MemoryShard()]);
  assertEquals(await encodeStream(codec, chunkedStream(data, 6), sinks, 5), {
    size: data.byteLength,
    failed: [],
  });
  const out = await collect(decodeStream(codec, data.byteLength, 0, data.byteLength, sinks));
  assertBytesEqual(out, data, "decoded");
});

Deno.test("a failing source rejects encodeStream with its error", async () => {
  let sent = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ < 20) controller.enqueue(new Uint8Array(100_000));
      else controller.error(new Error("client went away"));
    },
  });
  const sinks = Array.from({ length: 6 }, () => new MemoryShard());
  await assertRejects(() => encodeStream(codec, source, sinks, 5), Error, "client went away");
});

Deno.test("an empty source writes nothing", async () => {
  const sinks = Array.from({ length: 6 }, () => new MemoryShard());
  const result = await encodeStream(codec, chunkedStream(new Uint8Array(0), 1), sinks, 6);
  assertEquals(result, { size: 0, failed: [] });
  assertEquals(sinks.map((s) => s.bytes().byteLength), [0, 0, 0, 0, 0, 0]);
});

Deno.test("one write per shard per stripe, to all sinks at once, overlapping the next read", async () => {
  const stripes = 4;
  const data = randomBytes(stripes * BLOCK_SIZE - 10, 7);
  let inFlight = 0;
  let maxInFlight = 0;
  let pullsDuringWrites = 0;
  const writes: number[][] = [];
  const sinks: ShardSink[] = Array.from({ length: 6 }, (_, i) => {
    writes[i] = [];
    return {
      async write(frame: Uint8Array) {
        writes[i].push(frame.byteLength);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
      },
    };
  });
  let at = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (inFlight > 0) pullsDuringWrites++;
      if (at >= data.byteLength) return controller.close();
      controller.enqueue(data.subarray(at, at + 256 * 1024));
      at += 256 * 1024;
    },
  }, { highWaterMark: 0 });
  await encodeStream(codec, source, sinks, 6);
  const full = 8 + BLOCK_SIZE / 4;
  const last = 8 + codec.shardBlockLength(BLOCK_SIZE - 10);
  for (const lengths of writes) assertEquals(lengths, [full, full, full, last]);
  assertEquals(maxInFlight, 6);
  assert(pullsDuringWrites >= 3 * 4, `only ${pullsDuringWrites} source reads overlapped writes`);
});
