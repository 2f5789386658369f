/**
 * Crash safety: a process killed with SIGKILL in the middle of a large put leaves the old
 * object or none (or, once committed, the new one), never a mix; its temp files are removed
 * when the drives are next opened.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ObjectNotFound } from "../src/object/errors.ts";
import { Pools } from "../src/object/pools.ts";
import { openLocalDrive } from "../src/storage/local-drive.ts";
import { BUCKET, deployment, equalBytes, get, put, testBytes } from "./fixtures/object_env.ts";

const DENO = new URL("../.deno/bin/deno", import.meta.url).pathname;
const CHILD = new URL("./fixtures/put_child.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

/** Runs the child and kills it once it printed `killAt` (or when it exits by itself). */
async function putAndKill(drives: string[], object: string, seed: number, killAt: string) {
  const child = new Deno.Command(DENO, {
    args: ["run", "--allow-all", CHILD, object, `${SIZE}`, `${seed}`, "5", ...drives],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let seen = "";
  let killed = false;
  const lines = child.stdout.pipeThrough(new TextDecoderStream());
  for await (const text of lines) {
    seen += text;
    if (!killed && seen.split("\n").includes(killAt)) {
      killed = true;
      try {
        child.kill("SIGKILL");
      } catch {
        // It finished by itself in the meantime: the caller sees "done" in the output.
      }
    }
  }
  const status = await child.status;
  return { killed: status.signal === "SIGKILL", output: seen };
}

async function tmpEntries(drive: string): Promise<number> {
  let n = 0;
  for await (const _ of Deno.readDir(`${drive}/.flashstor.sys/tmp`)) n++;
  return n;
}

Deno.test("SIGKILL during a 64 MiB put leaves the old object or nothing, never a mix", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const drives = env.paths[0];
    const old = testBytes(3 * MiB + 5, 1);
    await put(env.layer, "obj", old);
    const fresh = testBytes(SIZE, 2);
    const points = ["chunk 1", "chunk 20", "chunk 64"];
    for (const [i, point] of points.entries()) {
      const run = await putAndKill(drives, "obj", 2, point);
      const finished = run.output.includes("done");
      assert(run.killed || finished, `child neither killed nor done: ${run.output.slice(-100)}`);
      assert(run.killed || point === "chunk 64", `child finished before ${point}`);
      // Mid-stream the shard files exist (at "chunk 1" the put may not have created them yet).
      if (point === "chunk 20") {
        assert((await tmpEntries(drives[0])) > 0, "a killed put leaves temp files");
      }
      const storages = await Promise.all(drives.map((p) => openLocalDrive(p)));
      for (const d of drives) assertEquals(await tmpEntries(d), 0, `temp area of ${d}`);
      const view = new Pools([storages], { parity: 2, deploymentId: "test" });
      try {
        const got = await get(view, "obj");
        const committed = equalBytes(got, fresh);
        assert(committed || equalBytes(got, old), `mixed object after kill at ${point}`);
        if (point !== "chunk 64") assert(!committed, "the put cannot have committed yet");
        if (committed) await put(view, "obj", old);
      } finally {
        await view.close();
      }
      // A new object killed before its commit does not exist at all.
      if (i === 1) {
        await putAndKill(drives, "new-obj", 3, "chunk 30");
        const reopened = new Pools([await Promise.all(drives.map((p) => openLocalDrive(p)))], {
          parity: 2,
          deploymentId: "test",
        });
        await assertRejects(() => reopened.getObjectInfo(BUCKET, "new-obj"), ObjectNotFound);
        await reopened.close();
      }
    }
  } finally {
    await env.close();
  }
});
