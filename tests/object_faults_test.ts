/**
 * Faults on real drives: lost bucket directories, bitrot, truncated shards, unwritable and
 * offline drives. Reads must return exact bytes while at most m drives are bad, healObject
 * must restore every shard, and beyond m drives nothing may be written or returned.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ignoreWithout, mountsUnavailable } from "./helpers/capabilities.ts";
import { makeReadOnly } from "./helpers/mounts.ts";
import {
  BucketNotFound,
  InsufficientReadQuorum,
  InsufficientWriteQuorum,
  ObjectNotFound,
} from "../src/object/errors.ts";
import { decodeXlMeta } from "../src/storage/xl-meta.ts";
import {
  BUCKET,
  type Deployment,
  deployment,
  equalBytes,
  get,
  put,
  testBytes,
} from "./fixtures/object_env.ts";

const MiB = 1024 * 1024;
/** One inline object, one single-stripe, one spanning several stripes. */
const OBJECTS: [string, number][] = [["small", 1000], ["one-stripe", 700_000], [
  "big",
  5 * MiB + 3,
]];
const LAYOUTS: [number, number][] = [[4, 2], [8, 4]];

async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const walk = async (d: string, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${rel}${e.name}/`);
      else out.set(rel + e.name, await Deno.readFile(`${d}/${e.name}`));
    }
  };
  await walk(dir, "").catch(() => {});
  return out;
}

function assertSameFiles(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>, what: string) {
  assertEquals([...a.keys()].sort(), [...b.keys()].sort(), what);
  for (const [k, v] of a) assert(equalBytes(v, b.get(k)!), `${what}: ${k} differs`);
}

/** Shard index (1-based) a drive holds for an object, from its xl.meta. */
async function shardIndex(drive: string, name: string): Promise<number> {
  const meta = decodeXlMeta(await Deno.readFile(`${drive}/${BUCKET}/${name}/xl.meta`));
  return meta.versions[0].erasure.index;
}

/** The part file of a non-inline object on a drive. */
async function partFile(drive: string, name: string): Promise<string> {
  for await (const e of Deno.readDir(`${drive}/${BUCKET}/${name}`)) {
    if (e.isDirectory) return `${drive}/${BUCKET}/${name}/${e.name}/part.1`;
  }
  throw new Error(`no data dir for ${name} on ${drive}`);
}

async function fill(env: Deployment): Promise<Map<string, Uint8Array>> {
  const data = new Map<string, Uint8Array>();
  for (const [name, size] of OBJECTS) {
    data.set(name, testBytes(size, size));
    await put(env.layer, name, data.get(name)!);
  }
  return data;
}

/** Reads every object with only `drives` online (of the single set). */
async function readWith(env: Deployment, drives: number[], data: Map<string, Uint8Array>) {
  const view = await env.open((_s, d) => !drives.includes(d));
  for (const [name, bytes] of data) {
    assert(equalBytes(await get(view, name), bytes), `${name} with drives ${drives}`);
  }
}

for (const [n, m] of LAYOUTS) {
  Deno.test(`${n} drives: m lost bucket dirs → exact reads, heal restores them`, async () => {
    const env = await deployment(1, n, m);
    try {
      const data = await fill(env);
      const before = await Promise.all(env.paths[0].map((p) => snapshot(`${p}/${BUCKET}`)));
      const lost = Array.from({ length: m }, (_, i) => i * 2 % n);
      const wipe = () =>
        Promise.all(
          lost.map((d) => Deno.remove(`${env.paths[0][d]}/${BUCKET}`, { recursive: true })),
        );
      const assertRestored = async () => {
        for (const d of lost) {
          const after = await snapshot(`${env.paths[0][d]}/${BUCKET}`);
          assertEquals([...after.keys()].sort(), [...before[d].keys()].sort());
          for (const [k, v] of before[d]) {
            if (!k.endsWith("xl.meta")) assert(equalBytes(v, after.get(k)!), `shard ${k}`);
          }
        }
      };
      await wipe();
      for (const [name] of data) {
        const healed = await env.layer.healObject(BUCKET, name);
        assertEquals(healed.healedDrives.sort(), lost.map((d) => env.paths[0][d]).sort(), name);
        assertEquals((await env.layer.healObject(BUCKET, name)).healedDrives, []);
      }
      await assertRestored();
      // The healed drives plus the fewest others: exactly what was written.
      const others = env.paths[0].map((_, d) => d).filter((d) => !lost.includes(d));
      await readWith(env, [...lost, ...others.slice(0, n - 2 * m)], data);

      // Degraded reads are exact and queue the objects; the background queue heals them.
      await wipe();
      for (const [name, bytes] of data) assert(equalBytes(await get(env.layer, name), bytes), name);
      await env.layer.healQueue.idle();
      await assertRestored();
    } finally {
      await env.close();
    }
  });

  Deno.test(`${n} drives: bitrot and truncation on m drives are served around and healed`, async () => {
    const env = await deployment(1, n, m);
    try {
      const data = await fill(env);
      const before = await Promise.all(env.paths[0].map((p) => snapshot(`${p}/${BUCKET}`)));
      const drives = env.paths[0];
      // Damage data-shard holders first, so that reads have to notice.
      const order = [...drives.keys()];
      const indexes = await Promise.all(drives.map((p) => shardIndex(p, "big")));
      order.sort((a, b) => indexes[a] - indexes[b]);
      const bad = order.slice(0, m);
      for (const [i, d] of bad.entries()) {
        const file = await partFile(drives[d], "big");
        if (i % 2 === 0) {
          const bytes = await Deno.readFile(file);
          bytes[100 + i] ^= 0xff;
          bytes[bytes.byteLength - 1] ^= 0x01;
          await Deno.writeFile(file, bytes);
        } else {
          await Deno.truncate(file, 1000);
        }
        const one = await partFile(drives[d], "one-stripe");
        await Deno.truncate(one, (await Deno.stat(one)).size - 1);
        const meta = `${drives[d]}/${BUCKET}/small/xl.meta`;
        const bytes = await Deno.readFile(meta);
        bytes[bytes.byteLength - 20] ^= 0x10;
        await Deno.writeFile(meta, bytes);
      }
      const view = await env.open();
      for (const [name, bytes] of data) assert(equalBytes(await get(view, name), bytes), name);
      await view.healQueue.idle();
      for (const [name] of data) await env.layer.healObject(BUCKET, name);
      for (const d of bad) {
        const after = await snapshot(`${drives[d]}/${BUCKET}`);
        for (const [k, v] of before[d]) {
          if (!k.endsWith("xl.meta")) assert(equalBytes(v, after.get(k)!), `drive ${d}: ${k}`);
        }
      }
      await readWith(env, [...bad, ...order.slice(m, n - m)], data);
    } finally {
      await env.close();
    }
  });

  Deno.test(`${n} drives: more than m drives gone → InsufficientReadQuorum, nothing written`, async () => {
    const env = await deployment(1, n, m);
    try {
      const data = await fill(env);
      const gone = (_s: number, d: number) => d <= m;
      const present = env.paths[0].filter((_, d) => !gone(0, d));
      const before = await Promise.all(present.map((p) => snapshot(p)));
      const view = await env.open(gone);
      for (const [name] of data) {
        await assertRejects(() => view.getObject(BUCKET, name), InsufficientReadQuorum);
        await assertRejects(() => view.healObject(BUCKET, name), InsufficientReadQuorum);
      }
      await assertRejects(
        () => put(view, "big", testBytes(3 * MiB, 99)),
        InsufficientWriteQuorum,
      );
      await assertRejects(() => view.listObjects(BUCKET, { maxKeys: 10 }));
      await view.close();
      const after = await Promise.all(present.map((p) => snapshot(p)));
      before.forEach((b, i) => assertSameFiles(b, after[i], present[i]));
    } finally {
      await env.close();
    }
  });
}

const unwritableTest =
  "unwritable drives: ≤ m tolerated and healed later, > m fails and keeps the old object";
Deno.test({
  name: unwritableTest,
  ignore: ignoreWithout(unwritableTest, await mountsUnavailable()),
}, async () => {
  const env = await deployment(1, 4, 2);
  const restores: (() => Promise<void>)[] = [];
  try {
    const old = testBytes(3 * MiB, 5);
    await put(env.layer, "obj", old);
    await put(env.layer, "small", testBytes(100, 1));
    restores.push(await makeReadOnly(env.paths[0][0]));
    const next = testBytes(2 * MiB, 6);
    await put(env.layer, "obj", next);
    assert(equalBytes(await get(env.layer, "obj"), next));

    for (const d of [1, 2]) {
      restores.push(await makeReadOnly(env.paths[0][d]));
    }
    const before = await Promise.all(env.paths[0].map((p) => snapshot(p)));
    await assertRejects(
      () => put(env.layer, "obj", testBytes(4 * MiB, 7)),
      InsufficientWriteQuorum,
    );
    await assertRejects(() => put(env.layer, "small", testBytes(10, 7)), InsufficientWriteQuorum);
    const after = await Promise.all(env.paths[0].map((p) => snapshot(p)));
    before.forEach((b, i) => assertSameFiles(b, after[i], env.paths[0][i]));

    for (const r of restores.splice(0)) await r();
    // The drives that refused writes went offline; the monitor's probe brings them back.
    await env.probe();
    assertEquals(env.layer.sets[0].drives.map((d) => d.state), [
      "online",
      "online",
      "online",
      "online",
    ]);
    await env.layer.healQueue.idle();
    await env.layer.healObject(BUCKET, "obj");
    await readWith(env, [0, 3], new Map([["obj", next]]));
  } finally {
    for (const r of restores) await r();
    await env.close();
  }
});

Deno.test("heal removes the remnants of an object too few drives hold to be read", async () => {
  const env = await deployment(1, 4, 2);
  try {
    await put(env.layer, "gone", testBytes(2 * MiB, 3));
    await put(env.layer, "kept", testBytes(2 * MiB, 4));
    const drives = env.paths[0];
    for (const d of [0, 1, 2]) {
      await Deno.remove(`${drives[d]}/${BUCKET}/gone`, { recursive: true });
    }
    // Two drives lack "kept" and two are offline: it may still exist, nothing is removed.
    for (const d of [0, 1]) await Deno.remove(`${drives[d]}/${BUCKET}/kept`, { recursive: true });
    const half = await env.open((_s, d) => d >= 2);
    await assertRejects(() => half.healObject(BUCKET, "kept"), ObjectNotFound);
    assertEquals(
      (await env.layer.healObject(BUCKET, "kept")).healedDrives.sort(),
      [drives[0], drives[1]],
    );
    const result = await env.layer.healObject(BUCKET, "gone");
    assertEquals(result.healedDrives, [drives[3]]);
    assertEquals(await snapshot(`${drives[3]}/${BUCKET}/gone`), new Map());
    await assertRejects(() => env.layer.getObjectInfo(BUCKET, "gone"), ObjectNotFound);
  } finally {
    await env.close();
  }
});

Deno.test("drives that lost their format count as offline, not as a missing bucket", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const data = await fill(env);
    const drives = env.paths[0];
    for (const d of drives.slice(0, 3)) {
      await Deno.remove(d, { recursive: true });
      await Deno.mkdir(d);
    }
    const survivor = await snapshot(drives[3]);
    for (const [name] of data) {
      await assertRejects(() => env.layer.getObject(BUCKET, name), InsufficientReadQuorum);
      await assertRejects(() => env.layer.getObjectInfo(BUCKET, name), InsufficientReadQuorum);
      await assertRejects(() => env.layer.healObject(BUCKET, name), InsufficientReadQuorum);
    }
    await assertRejects(() => env.layer.getObjectInfo(BUCKET, "never"), InsufficientReadQuorum);
    await assertRejects(
      () => env.layer.listObjects(BUCKET, { maxKeys: 5 }),
      InsufficientReadQuorum,
    );
    await assertRejects(() => put(env.layer, "small", testBytes(10)), InsufficientWriteQuorum);
    await assertRejects(() => env.layer.deleteObject(BUCKET, "big"), InsufficientWriteQuorum);
    await env.layer.healQueue.idle();
    assertSameFiles(survivor, await snapshot(drives[3]), "surviving drive");
    // A bucket that really does not exist is still reported as such.
    const healthy = await deployment(1, 4, 2);
    try {
      await assertRejects(() => healthy.layer.getObjectInfo("absent", "x"), BucketNotFound);
      await assertRejects(
        () => healthy.layer.listObjects("absent", { maxKeys: 1 }),
        BucketNotFound,
      );
    } finally {
      await healthy.close();
    }
  } finally {
    await env.close();
  }
});
