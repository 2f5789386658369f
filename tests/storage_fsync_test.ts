/**
 * fsyncDir shares fsyncs between concurrent callers of one directory. A directory removed
 * while callers wait (a delete pruning it) fails their calls, and never becomes an unhandled
 * rejection, which would end the server.
 */
import { assert } from "./helpers/assert.ts";
import { fsyncDir } from "../src/storage/fs-util.ts";

Deno.test("fsyncDir: waves of callers on a directory removed meanwhile get its error, nothing is left unhandled", async () => {
  const root = await Deno.makeTempDir({ prefix: "flashstor-fsync-" });
  try {
    for (let round = 0; round < 20; round++) {
      const dir = `${root}/d${round}`;
      await Deno.mkdir(dir);
      // Each call's outcome is taken at once: only fsyncDir's own promises may dangle.
      const calls: Promise<Error | undefined>[] = [];
      const call = () => fsyncDir(dir).then(() => undefined, (err: Error) => err);
      // Each wave arrives while the previous fsync runs, so each queues one behind it.
      for (let wave = 0; wave < 4; wave++) {
        calls.push(call(), call());
        if (wave === 1) await Deno.remove(dir);
        await new Promise((r) => setTimeout(r, 0));
      }
      const errors = (await Promise.all(calls)).filter((e) => e !== undefined);
      assert(errors.length > 0, `round ${round}: fsyncs after the removal fail`);
      for (const e of errors) assert(e instanceof Deno.errors.NotFound, String(e));
    }
    // Still usable afterwards.
    await Deno.mkdir(`${root}/again`);
    await Promise.all([fsyncDir(`${root}/again`), fsyncDir(`${root}/again`)]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
