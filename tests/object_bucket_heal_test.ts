/**
 * A drive away when a bucket was made gets the bucket once it is back (or at start): without
 * it, a 2+2 set with that drive and one other down to three could not write into the bucket,
 * since the returned drive refuses every write there.
 */
import { assertEquals } from "./helpers/assert.ts";
import { BUCKET, deployment, get, put, streamOf, testBytes } from "./fixtures/object_env.ts";
import { exists } from "./fault_util.ts";

/** Waits (bounded) until `path` exists. */
async function appears(path: string): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    if (await exists(path)) return true;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

Deno.test("bucket heal: at start, a drive without a bucket of the set gets it", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const [, , third, fourth] = env.paths[0];
    await Deno.remove(`${fourth}/${BUCKET}`, { recursive: true });
    // Directories on a quorum whose names are no bucket names are not buckets to make.
    for (const drive of env.paths[0].slice(0, 3)) {
      for (const name of ["lost+found", "UPPER", "ab", ".x"]) await Deno.mkdir(`${drive}/${name}`);
    }
    // The third drive is down: a write needs the fourth.
    const layer = await env.open((_, d) => d === 2);
    await layer.resumeMaintenance();
    assertEquals(await appears(`${fourth}/${BUCKET}`), true);
    const data = testBytes(5000, 3);
    await put(layer, "after", data);
    assertEquals(await get(layer, "after"), data);
    assertEquals(await exists(`${third}/${BUCKET}/after`), false);
    for (const name of ["lost+found", "UPPER", "ab", ".x"]) {
      assertEquals(await exists(`${fourth}/${name}`), false, name);
    }
  } finally {
    await env.close();
  }
});

Deno.test("bucket heal: a drive back online gets the buckets made while it was away", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const layer = env.layer;
    await layer.resumeMaintenance();
    const drives = layer.sets[0].drives;
    drives[3].setState("offline", "away for the test");
    await layer.makeBucket("made-while-away");
    const fourth = env.paths[0][3];
    assertEquals(await exists(`${fourth}/made-while-away`), false);
    await env.probe();
    assertEquals(drives[3].state, "online");
    assertEquals(await appears(`${fourth}/made-while-away`), true);
    drives[2].setState("offline", "down for the test");
    const data = testBytes(3000, 4);
    await layer.putObject("made-while-away", "o", streamOf(data), {
      size: data.byteLength,
      metadata: {},
    });
    assertEquals(await exists(`${fourth}/made-while-away/o/xl.meta`), true);
  } finally {
    await env.close();
  }
});
