/**
 * The heal queue (mrf.ts) with its journal on real drives: queued objects are written to every
 * drive of their set, a restart's queue re-queues them and removes the segments once they are
 * healed; a failing heal is retried with backoff, and given up after its attempts; a drive
 * coming back makes the waiting retries due at once.
 */
import { assert, assertEquals } from "./helpers/assert.ts";
import { HealQueue } from "../src/object/mrf.ts";
import { HealJournal, JOURNAL_DIR } from "../src/object/mrf-journal.ts";
import { deployment } from "./fixtures/object_env.ts";

async function segments(drive: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(`${drive}/.flashstor.sys/${JOURNAL_DIR}`))
    .catch(() => [])).map((e) => e.name);
}

Deno.test("heal queue journal: written on every drive, restored after a restart, removed once healed", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const journal = new HealJournal(env.layer.sets, () => 0);
    let release: () => void = () => {};
    const blocked = new Promise<void>((resolve) => release = resolve);
    const first = new HealQueue(() => blocked, { journal });
    for (const o of ["x", "y/z", "x"]) first.enqueue("bucket", o);
    // The segment goes to every drive in parallel: wait (bounded) until the last one has it.
    const everywhere = async () =>
      (await Promise.all(env.paths[0].map(segments))).every((s) => s.length > 0);
    for (let i = 0; i < 300 && !await everywhere(); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const drive of env.paths[0]) assertEquals((await segments(drive)).length, 1, drive);
    // The process "dies" with both objects unhealed: nothing removes the segment.
    const stopped = first.close();
    release();
    await stopped;
    for (const drive of env.paths[0]) assertEquals((await segments(drive)).length, 1, drive);

    const healed: string[] = [];
    const second = new HealQueue((bucket, object) => {
      healed.push(`${bucket}/${object}`);
      return Promise.resolve();
    }, { journal });
    await second.restore();
    await second.idle();
    assertEquals(healed.sort(), ["bucket/x", "bucket/y/z"]);
    for (const drive of env.paths[0]) assertEquals(await segments(drive), [], drive);
    await second.close();
  } finally {
    await env.close();
  }
});

Deno.test("heal queue: a failed heal is retried with backoff, and given up after maxAttempts", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const journal = new HealJournal(env.layer.sets, () => 0);
    const tries = new Map<string, number[]>();
    const queue = new HealQueue((_bucket, object) => {
      tries.set(object, [...(tries.get(object) ?? []), Date.now()]);
      // "soon" heals at its third try; "never" never does.
      if (object === "never" || tries.get(object)!.length < 3) {
        return Promise.reject(new Error("drive still offline"));
      }
      return Promise.resolve();
    }, { journal, retryDelayMs: 20, maxAttempts: 4 });
    queue.enqueue("bucket", "soon");
    queue.enqueue("bucket", "never");
    for (let i = 0; i < 100 && (tries.get("never")?.length ?? 0) < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await queue.idle();
    assertEquals(tries.get("soon")?.length, 3);
    assertEquals(tries.get("never")?.length, 4);
    const gaps = tries.get("never")!.slice(1).map((t, i) => t - tries.get("never")![i]);
    assert(gaps[0] >= 15 && gaps[1] >= 35 && gaps[2] >= 75, `backoff doubles: ${gaps}`);
    assertEquals(queue.size, 0);
    for (const drive of env.paths[0]) assertEquals(await segments(drive), [], drive);
    await queue.close();
  } finally {
    await env.close();
  }
});

Deno.test("heal queue: retryNow (a drive came back) makes objects waiting on their backoff due", async () => {
  let offline = true;
  const healed: string[] = [];
  const queue = new HealQueue((_bucket, object) => {
    if (offline) return Promise.reject(new Error("drive still offline"));
    healed.push(object);
    return Promise.resolve();
  }, { retryDelayMs: 60_000 });
  try {
    queue.enqueue("bucket", "a");
    queue.enqueue("bucket", "b");
    await queue.idle();
    // Both failed once and wait a minute for their retry.
    assertEquals([queue.size, healed], [2, []]);
    offline = false;
    queue.retryNow();
    await queue.idle();
    assertEquals([queue.size, healed.sort()], [0, ["a", "b"]]);
  } finally {
    await queue.close();
  }
});
