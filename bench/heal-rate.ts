/**
 * Heal rate of a replaced drive: a flashstor 2+2 server on tmpfs is filled (4 KiB objects, then
 * separately 64 MiB ones), stopped, its fourth drive emptied, restarted; the drive heal it
 * starts by itself is polled through the admin API until done, and its own start and finish
 * times give objects/s and MB/s (object bytes; the drive receives a quarter of the shards'
 * bytes, i.e. about half the object bytes for 2+2). The scanner is off.
 *
 *   .deno/bin/deno run -A bench/heal-rate.ts [--small N] [--large N] [--dir DIR]
 *
 * Without --dir a tmpfs is mounted for the run (root), or /tmp is used and said so.
 */
import { parseArgs } from "node:util";
import { BenchClient } from "./signer.ts";
import { MiB, PATTERN } from "./load.ts";
import { type RunningTarget, startFlashstor } from "./servers.ts";
import { signRequest } from "../src/auth/sign-request.ts";
import type { HealProgress } from "../src/object/layer.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    small: { type: "string", default: "4000" },
    large: { type: "string", default: "16" },
    dir: { type: "string" },
  },
});

async function mountTmpfs(): Promise<{ dir: string; note: string; unmount: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-heal-bench-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=4g", "tmpfs", dir],
    stderr: "null",
  }).output().then((o) => o.success, () => false);
  return {
    dir,
    note: mounted ? "tmpfs" : `${dir} (tmpfs could not be mounted: not root?)`,
    unmount: async () => {
      if (mounted) await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function driveTask(target: RunningTarget): Promise<HealProgress | undefined> {
  const path = "/flashstor/admin/v1/info";
  const response = await fetch(target.endpoint + path, {
    headers: signRequest(target, "GET", path),
  });
  const info = await response.json() as { healTasks: HealProgress[] };
  return info.healTasks.find((t) => t.kind === "drive");
}

/** Fills a fresh deployment, replaces drive 4, and times the heal the restart starts. */
async function healCase(root: string, name: string, count: number, size: number) {
  const drives = [1, 2, 3, 4].map((i) => `${root}/${name}/d${i}`);
  const quiet = ["--scanner-interval", "0"];
  let server = await startFlashstor(name, drives, quiet);
  try {
    const client = new BenchClient(server);
    await client.createBucket("heal");
    const body = { size, pattern: PATTERN };
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < count) await client.put("heal", `obj-${next++}`, body);
    }));
    await server.stop();
    await Deno.remove(drives[3], { recursive: true });
    await Deno.mkdir(drives[3]);
    server = await startFlashstor(name, drives, quiet);
    let task: HealProgress | undefined;
    for (let i = 0; i < 36_000 && task?.state !== "done"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      task = await driveTask(server);
      if (task?.state === "failed") throw new Error(`drive heal failed: ${task.error}`);
    }
    if (!task || task.state !== "done") throw new Error("the drive heal did not finish in 1 h");
    const seconds = (Date.parse(String(task.finished)) - Date.parse(String(task.started))) / 1000;
    return {
      case: `${count} × ${size >= MiB ? `${size / MiB} MiB` : `${size / 1024} KiB`}`,
      objects: task.objectsHealed,
      seconds,
      objectsPerSecond: task.objectsHealed / seconds,
      mbPerSecond: task.bytesHealed / seconds / 1e6,
    };
  } finally {
    await server.stop();
  }
}

const where = values.dir
  ? { dir: values.dir, note: values.dir, unmount: () => Promise.resolve() }
  : await mountTmpfs();
try {
  const rows = [
    await healCase(where.dir, "small", Number(values.small), 4096),
    await healCase(where.dir, "large", Number(values.large), 64 * MiB),
  ];
  console.log(
    `drive heal of a replaced drive, 2+2 on ${where.note}, ${navigator.hardwareConcurrency} cores`,
  );
  console.log("case              objects  seconds  objects/s   MB/s (object bytes)");
  for (const r of rows) {
    console.log(
      `${r.case.padEnd(16)}  ${String(r.objects).padStart(7)}  ${
        r.seconds.toFixed(2).padStart(7)
      }  ` +
        `${r.objectsPerSecond.toFixed(0).padStart(9)}  ${r.mbPerSecond.toFixed(1).padStart(6)}`,
    );
  }
} finally {
  await where.unmount();
}
