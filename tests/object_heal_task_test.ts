/**
 * The drive heal resumes where its record (healing.json on the drive being healed) says it
 * stopped: objects after that position are healed, those before it are not walked again, the
 * counts continue, and the drive ends online with its record removed. A torn record heals the
 * whole drive.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { BUCKET, deployment, put, testBytes } from "./fixtures/object_env.ts";
import { exists } from "./fault_util.ts";
import type { Pools } from "../src/object/pools.ts";
import type { HealProgress } from "../src/object/layer.ts";

const NAMES = ["big", "o1", "o2", "o3", "o4", "o5", "o6"];

async function driveTask(layer: Pools): Promise<HealProgress> {
  for (let i = 0; i < 200; i++) {
    const task = layer.healTasks().find((t) => t.kind === "drive");
    if (task && task.state !== "running") return task;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the drive heal did not finish in 5 s");
}

for (const torn of [false, true]) {
  Deno.test(`drive heal: ${torn ? "a torn record heals the whole drive" : "resumes after its record's position"}`, async () => {
    const env = await deployment(1, 4, 2);
    try {
      for (const name of NAMES) {
        await put(env.layer, name, testBytes(name === "big" ? 2 << 20 : 1000, name.length));
      }
      const drive = env.paths[0][3];
      await Deno.remove(`${drive}/${BUCKET}`, { recursive: true });
      const record = torn ? '{"id":' : JSON.stringify({
        id: "before-the-restart",
        started: new Date().toISOString(),
        bucket: BUCKET,
        object: "o3",
        objectsScanned: 4,
        objectsHealed: 4,
        objectsFailed: 0,
        bytesHealed: 4000,
      });
      await Deno.writeTextFile(`${drive}/.flashstor.sys/healing.json`, record);
      const layer = await env.open();
      await layer.resumeMaintenance();
      const task = await driveTask(layer);
      const after = torn ? NAMES : ["o4", "o5", "o6"];
      const before = torn ? 0 : 4;
      const bytes = torn ? (2 << 20) + 6000 : 4000 + 3000;
      assertEquals(
        [task.state, task.drive, task.objectsScanned, task.objectsHealed, task.objectsFailed],
        ["done", drive, before + after.length, before + after.length, 0],
      );
      assertEquals([task.bytesHealed, task.objectsTotal], [bytes, before + after.length]);
      for (const name of NAMES) {
        const healed = await exists(`${drive}/${BUCKET}/${name}/xl.meta`);
        assertEquals(healed, after.includes(name), name);
      }
      assert(!(await exists(`${drive}/.flashstor.sys/healing.json`)), "record removed");
      const info = await layer.storageInfo();
      assertEquals(info.drives.map((d) => d.state), ["online", "online", "online", "online"]);
    } finally {
      await env.close();
    }
  });
}

Deno.test("drive heal: a drive some objects could not be healed onto stays healing, its walk to run again", async () => {
  const env = await deployment(1, 4, 2);
  try {
    for (const name of NAMES) await put(env.layer, name, testBytes(1000, name.length));
    const [, second, third, drive] = env.paths[0];
    // "o2" has one readable copy left: two drives hold garbage metadata, the fourth is empty.
    for (const d of [second, third]) {
      await Deno.writeTextFile(`${d}/${BUCKET}/o2/xl.meta`, "not metadata");
    }
    await Deno.remove(`${drive}/${BUCKET}`, { recursive: true });
    const layer = await env.open();
    layer.healDrive(0, 3);
    const task = await driveTask(layer);
    assertEquals(
      [task.state, task.objectsScanned, task.objectsHealed, task.objectsFailed],
      ["failed", NAMES.length, NAMES.length - 1, 1],
    );
    assert(task.error?.startsWith("1 objects could not be healed"), task.error);
    const info = await layer.storageInfo();
    assertEquals(info.drives[3].state, "healing");
    const record = JSON.parse(await Deno.readTextFile(`${drive}/.flashstor.sys/healing.json`));
    assertEquals([record.bucket, record.object], ["", ""], "the next run walks everything");
  } finally {
    await env.close();
  }
});

Deno.test("drive heal: its bytesTotal is the scanner's usage once the scanner has counted", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const sizes = [1000, 300_000, 2 << 20];
    for (const [i, size] of sizes.entries()) await put(env.layer, `u${i}`, testBytes(size, i));
    const layer = await env.open();
    assertEquals(layer.healDrive(0, 3).bytesTotal, undefined, "no usage counted yet");
    await driveTask(layer);
    layer.startScanner({
      intervalMs: 10,
      deepEvery: 0,
      garbageAgeMs: 3_600_000,
      uploadExpiryMs: 0,
      busy: () => false,
      log: () => {},
    });
    for (let i = 0; i < 200 && layer.usage().length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assertEquals(layer.healDrive(0, 3).bytesTotal, sizes.reduce((a, b) => a + b));
  } finally {
    await env.close();
  }
});
