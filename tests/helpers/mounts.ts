/**
 * Mounts for fault tests (root only): a small tmpfs makes a drive fill up, a read-only bind
 * mount makes one refuse writes. mount(8) can fail for a moment while other tests mount at the
 * same time (its table lock), so each call tries a few times before it reports the error.
 */

async function run(command: "mount" | "umount", args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(command, { args, stdout: "null", stderr: "piped" })
      .output();
    return out.success ? undefined : new TextDecoder().decode(out.stderr).trim();
  } catch (err) {
    return (err as Error).message;
  }
}

async function mount(args: string[]): Promise<void> {
  let error: string | undefined;
  for (let attempt = 1; attempt <= 5; attempt++) {
    error = await run("mount", args);
    if (error === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
  throw new Error(`mount ${args.join(" ")}: ${error}`);
}

export async function unmount(path: string): Promise<void> {
  await run("umount", [path]);
}

/** Mounts a tmpfs of `mib` MiB on `path`. */
export async function mountTmpfs(path: string, mib: number): Promise<void> {
  await mount(["-t", "tmpfs", "-o", `size=${mib}m`, "tmpfs", path]);
}

/** Remounts `path` read-only over itself; returns the undo. */
export async function makeReadOnly(path: string): Promise<() => Promise<void>> {
  await mount(["--bind", path, path]);
  try {
    await mount(["-o", "remount,bind,ro", path]);
  } catch (err) {
    await unmount(path);
    throw err;
  }
  return () => unmount(path);
}

/** Why these mounts cannot be made here (probed on a scratch directory); undefined if they can. */
export async function mountsUnavailable(): Promise<string | undefined> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-mount-probe-" });
  try {
    const tmpfs = await run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir]);
    if (tmpfs !== undefined) return `cannot mount a tmpfs (needs root): ${tmpfs}`;
    await unmount(dir);
    const undo = await makeReadOnly(dir).catch((err: Error) => err.message);
    if (typeof undo === "string") return `cannot make a read-only bind mount: ${undo}`;
    await undo();
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
