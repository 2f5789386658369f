/**
 * The config store: records kept as erasure-coded objects of the system volume, on real drives
 * in a temp dir. Round trip, listing, overwrite, delete; a record read with m drives gone; a
 * rotted or garbled shard is read around and healed back by the heal queue; records larger
 * than the inline limit; records spread over several sets.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { BUCKET, deployment, equalBytes, testBytes } from "./fixtures/object_env.ts";
import { exists, resealMeta } from "./fault_util.ts";
import { CONFIG_RECORDS } from "../src/object/config-store.ts";
import { HEALING_FILE } from "../src/object/heal-task.ts";
import { Scanner } from "../src/object/scanner.ts";
import type { Pools } from "../src/object/pools.ts";
import { SYSTEM_VOLUME } from "../src/storage/api.ts";

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array | undefined) => bytes && new TextDecoder().decode(bytes);

function metaFile(drive: string, path: string): string {
  return `${drive}/${SYSTEM_VOLUME}/${CONFIG_RECORDS}${path}/xl.meta`;
}

/** Waits (at most ~10 s) until `done` holds. */
async function eventually(what: string, done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within 10 s: ${what}`);
}

Deno.test("config store: write, read, overwrite, list by prefix, delete", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const store: Pools = d.layer;
    assertEquals(await store.readConfig("iam/users/alice.json"), undefined);
    assertEquals(await store.listConfig("iam/"), []);
    await store.writeConfig("iam/users/alice.json", utf8.encode('{"v":1}'));
    await store.writeConfig("iam/users/bob.json", utf8.encode('{"v":2}'));
    await store.writeConfig("iam/groups/devs.json", utf8.encode("{}"));
    await store.writeConfig("buckets/photos.json", utf8.encode("{}"));
    assertEquals(text(await store.readConfig("iam/users/alice.json")), '{"v":1}');
    await store.writeConfig("iam/users/alice.json", utf8.encode('{"v":3}'));
    assertEquals(text(await store.readConfig("iam/users/alice.json")), '{"v":3}');
    assertEquals(await store.listConfig("iam/users/"), [
      "iam/users/alice.json",
      "iam/users/bob.json",
    ]);
    assertEquals((await store.listConfig("")).length, 4);
    await store.deleteConfig("iam/users/alice.json");
    await store.deleteConfig("iam/users/alice.json");
    assertEquals(await store.readConfig("iam/users/alice.json"), undefined);
    assertEquals(await store.listConfig("iam/users/"), ["iam/users/bob.json"]);
    // Not a bucket: listings of buckets and the plain config files stay as they were.
    assertEquals((await store.listBuckets()).map((b) => b.name), ["bucket"]);
    for (const bad of ["", "iam/../x", "iam/users/", "a/xl.meta"]) {
      await assertRejects(() => store.writeConfig(bad, utf8.encode("x")));
    }
  } finally {
    await d.close();
  }
});

Deno.test("config store: a record survives the loss of m drives; a write then needs quorum", async () => {
  const d = await deployment(1, 6, 2);
  try {
    await d.layer.writeConfig("iam/account.json", utf8.encode('{"id":"123456789012"}'));
    const degraded = await d.open((_s, drive) => drive === 1 || drive === 4);
    assertEquals(text(await degraded.readConfig("iam/account.json")), '{"id":"123456789012"}');
    assertEquals(await degraded.listConfig("iam/"), ["iam/account.json"]);
    await degraded.writeConfig("iam/users/carol.json", utf8.encode("{}"));
    assertEquals(text(await degraded.readConfig("iam/users/carol.json")), "{}");
    const broken = await d.open((_s, drive) => drive < 3);
    await assertRejects(() => broken.readConfig("iam/account.json"));
    await assertRejects(() => broken.writeConfig("iam/users/dave.json", utf8.encode("{}")));
  } finally {
    await d.close();
  }
});

Deno.test("config store: a rotted shard and a garbled xl.meta are read around and healed", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const path = "iam/users/erin.json";
    const record = utf8.encode(JSON.stringify({ name: "erin", pad: "x".repeat(3000) }));
    await d.layer.writeConfig(path, record);
    const set = d.layer.sets[0];
    const distribution = set.distribution(CONFIG_RECORDS + path);
    // The drives holding data shards 1 and 2: a read uses them first.
    const [rotted, garbled] = [1, 2].map((index) => d.paths[0][distribution.indexOf(index)]);
    const originals = await Promise.all(
      [rotted, garbled].map((p) => Deno.readFile(metaFile(p, path))),
    );
    const rot = originals[0].slice();
    rot[rot.byteLength - 10] ^= 0xff; // inside the inline shard, before the CRC trailer
    resealMeta(rot);
    await Deno.writeFile(metaFile(rotted, path), rot);
    await Deno.writeFile(metaFile(garbled, path), utf8.encode("not an xl.meta"));

    assert(equalBytes((await d.layer.readConfig(path))!, record), "read from the other shards");
    await eventually("both drives healed", async () => {
      const now = await Promise.all([rotted, garbled].map((p) => Deno.readFile(metaFile(p, path))));
      return now.every((bytes, i) => equalBytes(bytes, originals[i]));
    });
    assert(equalBytes((await d.layer.readConfig(path))!, record));
  } finally {
    await d.close();
  }
});

Deno.test("config store: records larger than the inline limit, spread over two sets", async () => {
  const d = await deployment(2, 4, 2);
  try {
    const big = testBytes(700_000, 5);
    await d.layer.writeConfig("iam/policies/big.json", big);
    const names = Array.from(
      { length: 12 },
      (_, i) => `iam/users/u${String(i).padStart(2, "0")}.json`,
    );
    for (const n of names) await d.layer.writeConfig(n, utf8.encode(n));
    const sets = new Set(names.map((n) => d.layer.sets.indexOf(d.layer.setOf(CONFIG_RECORDS + n))));
    assertEquals(sets.size, 2, "records in both sets");
    assertEquals(await d.layer.listConfig("iam/users/"), names);
    assert(equalBytes((await d.layer.readConfig("iam/policies/big.json"))!, big));
    const degraded = await d.open((set, drive) => set === 1 && drive >= 2);
    assert(equalBytes((await degraded.readConfig("iam/policies/big.json"))!, big));
    for (const n of names) assertEquals(text(await degraded.readConfig(n)), n);
  } finally {
    await d.close();
  }
});

Deno.test("config store: a scanner cycle and a replaced drive's heal put records back on the drives that lost them", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const paths = ["iam/users/fred.json", "buckets/photos.json"];
    const records = paths.map((p) => utf8.encode(JSON.stringify({ p, pad: "y".repeat(500) })));
    for (const [i, path] of paths.entries()) await d.layer.writeConfig(path, records[i]);
    const [d1, , , d4] = d.paths[0];

    // A drive lost one record's files: the scanner, not a read, finds and restores them.
    await Deno.remove(metaFile(d1, paths[0]));
    const scanner = new Scanner(d.layer.sets, {
      intervalMs: 0,
      deepEvery: 1,
      garbageAgeMs: 0,
      uploadExpiryMs: 0,
      busy: () => false,
      sleepFactor: 0,
      log: () => {},
    });
    const report = await scanner.cycle();
    assertEquals(report.repaired, 1);
    assert(await exists(metaFile(d1, paths[0])), "the scanner restored the record");
    assertEquals(scanner.usage().map((u) => u.bucket), [BUCKET], "records are no bucket's usage");

    // A drive being rebuilt (its heal record says so) gets every record back from its heal.
    await d.layer.close();
    await Deno.remove(`${d4}/${SYSTEM_VOLUME}/config`, { recursive: true });
    await Deno.writeTextFile(`${d4}/${SYSTEM_VOLUME}/${HEALING_FILE}`, "{}");
    const layer = await d.open();
    await layer.resumeMaintenance();
    await eventually(
      "the drive heal done",
      () =>
        Promise.resolve(layer.healTasks().some((t) => t.kind === "drive" && t.state === "done")),
    );
    for (const path of paths) assert(await exists(metaFile(d4, path)), `${path} on the new drive`);
    for (const [i, path] of paths.entries()) {
      assert(equalBytes((await layer.readConfig(path))!, records[i]));
    }
  } finally {
    await d.close();
  }
});
