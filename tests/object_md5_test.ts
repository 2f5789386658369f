import { createHash } from "node:crypto";
import { assertEquals } from "./helpers/assert.ts";
import { md5Hasher } from "../src/object/md5.ts";

function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 11)) & 0xff;
  return out;
}

/** Feeds `data` in chunks of irregular sizes (1 B up to ~300 KiB). */
async function feed(hasher: ReturnType<typeof md5Hasher>, data: Uint8Array): Promise<void> {
  for (let at = 0, step = 1; at < data.byteLength; step = (step * 7 + 13) % 300_000 + 1) {
    await hasher.update(data.subarray(at, at + step));
    at += step;
  }
}

Deno.test("md5: bodies hashed on the hash thread and in place match node:crypto", async () => {
  const sizes = [0, 1000, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3_500_000, 20 << 20];
  // Announced sizes decide where the hash runs; -1 (unknown) always takes the hash thread.
  const cases = sizes.flatMap((size, i) => [{ size, announced: size, seed: i }, {
    size,
    announced: -1,
    seed: i + 100,
  }]);
  // All at once: several bodies in flight on the one hash thread must not mix.
  await Promise.all(cases.map(async ({ size, announced, seed }) => {
    const data = bytes(size, seed);
    const hasher = md5Hasher(announced);
    await feed(hasher, data);
    assertEquals(
      await hasher.digest(),
      createHash("md5").update(data).digest("hex"),
      `${size} bytes, announced ${announced}`,
    );
  }));
});

Deno.test("md5: a discarded body leaves the hash thread serving the next ones", async () => {
  const abandoned = md5Hasher(-1);
  await feed(abandoned, bytes(5 << 20, 1));
  abandoned.discard();
  abandoned.discard();
  const data = bytes(4 << 20, 2);
  const hasher = md5Hasher(-1);
  await feed(hasher, data);
  assertEquals(await hasher.digest(), createHash("md5").update(data).digest("hex"));
  hasher.discard();
});
