// The erasure streams over real shard files on local drives (XlStorage): FileWriter sinks,
// readFileStream sources, damage done on disk.
import { assertEquals } from "./helpers/assert.ts";
import { join } from "node:path";
import { BLOCK_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { decodeStream, encodeStream, type ShardSource } from "../src/erasure/stream.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { assertBytesEqual, chunkedStream, collect, randomBytes } from "./erasure_util.ts";

Deno.test("shard files on drives: round trip, ranged read, on-disk bitrot and a lost file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-erasure-" });
  try {
    const codec = new ErasureCodec(4, 2);
    const drives = await Promise.all(
      [...Array(6).keys()].map((i) => XlStorage.open(join(dir, `d${i}`))),
    );
    await Promise.all(drives.map((d) => d.makeVolume("bucket")));
    const data = randomBytes(5 * BLOCK_SIZE + 3, 31);
    const writers = await Promise.all(drives.map((d) => d.createFile("bucket", "obj/part.1")));
    const result = await encodeStream(codec, chunkedStream(data, 32), writers, 5);
    assertEquals(result, { size: data.byteLength, failed: [] });
    await Promise.all(writers.map((w) => w.close()));
    for (const d of drives) {
      assertEquals(await d.statFile("bucket", "obj/part.1"), {
        size: codec.shardFileSize(data.byteLength),
      });
    }

    const sources: ShardSource[] = drives.map((d) => ({
      open: (offset, length) => d.readFileStream("bucket", "obj/part.1", offset, length),
    }));
    const read = async (offset: number, length: number, errors: number[] = []) =>
      await collect(
        decodeStream(codec, data.byteLength, offset, length, sources, (i) => errors.push(i)),
      );
    assertBytesEqual(await read(0, data.byteLength), data, "whole part");
    const offset = 2 * BLOCK_SIZE - 17;
    assertBytesEqual(
      await read(offset, BLOCK_SIZE + 40),
      data.subarray(offset, offset + BLOCK_SIZE + 40),
      "range",
    );

    // Rot one byte of shard 1 in stripe 3 on disk, and delete shard 3's file.
    const rotten = join(dir, "d1", "bucket", "obj", "part.1");
    const file = await Deno.readFile(rotten);
    file[codec.frameOffset(3) + 1000] ^= 0x01;
    await Deno.writeFile(rotten, file);
    await drives[3].delete("bucket", "obj/part.1");
    const errors: number[] = [];
    assertBytesEqual(await read(0, data.byteLength, errors), data, "degraded part");
    assertEquals(errors.sort(), [1, 3]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
