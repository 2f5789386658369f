import { deepStrictEqual as assertEquals, rejects, throws } from "node:assert/strict";
import {
  chownTree,
  parseGroup,
  parsePasswd,
  prepareRunUser,
  PrivilegeDropError,
  resolveIdentity,
} from "../src/security/privileges.ts";
import { getuid } from "../ffi/libc.ts";

const ROOT = new URL("..", import.meta.url).pathname;

interface Runtime {
  deno: string;
  privileges: string;
  libc: string;
}

/** Every directory from / down to `path` can be entered by others (nobody). */
function traversableByOthers(path: string): boolean {
  const parts = path.split("/").filter(Boolean);
  return parts.every((_, i) =>
    ((Deno.statSync("/" + parts.slice(0, i + 1).join("/")).mode ?? 0) & 0o001) !== 0
  );
}

let copied: Runtime | undefined;

/**
 * Deno and the modules for a child that starts as nobody. A checkout under a private directory
 * (a CI clone in `mktemp -d`, mode 0700) is out of nobody's reach: then a world-readable copy of
 * the Deno binary, ffi/ and src/security/ is made once and removed when the tests end.
 */
function runtimeFor(startsUnprivileged: boolean): Runtime {
  const inPlace = (root: string, deno: string): Runtime => ({
    deno,
    privileges: `file://${root}src/security/privileges.ts`,
    libc: `file://${root}ffi/libc.ts`,
  });
  if (!startsUnprivileged || (traversableByOthers(ROOT) && traversableByOthers(Deno.execPath()))) {
    return inPlace(ROOT, Deno.execPath());
  }
  if (!copied) {
    const dir = Deno.makeTempDirSync({ prefix: "flashstor-runtime-" });
    Deno.chmodSync(dir, 0o755);
    for (const sub of ["ffi", "src/security"]) {
      Deno.mkdirSync(`${dir}/${sub}`, { recursive: true, mode: 0o755 });
      for (const entry of Deno.readDirSync(`${ROOT}${sub}`)) {
        Deno.copyFileSync(`${ROOT}${sub}/${entry.name}`, `${dir}/${sub}/${entry.name}`);
      }
    }
    Deno.copyFileSync(Deno.execPath(), `${dir}/deno`);
    Deno.chmodSync(`${dir}/deno`, 0o755);
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    copied = inPlace(`${dir}/`, `${dir}/deno`);
  }
  return copied;
}

const FILES = {
  passwd: [
    "root:x:0:0:root:/root:/bin/bash",
    "# a comment",
    "svc:x:1001:1002::/home/svc:/bin/sh",
    "broken:x:notanumber:1:::",
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
  ].join("\n"),
  group: ["root:x:0:", "svcgrp:x:1002:", "storage:x:2000:svc", "nogroup:x:65534:"].join("\n"),
};

const isRoot = Deno.build.os === "linux" && getuid() === 0;
if (!isRoot) {
  console.log("security_privileges_test: not root, so the real privilege drop is skipped");
}

Deno.test("passwd and group texts parse, skipping comments and malformed rows", () => {
  assertEquals(parsePasswd(FILES.passwd).map((e) => e.name), ["root", "svc", "nobody"]);
  assertEquals(parseGroup(FILES.group).find((g) => g.name === "storage")?.gid, 2000);
});

Deno.test("identities resolve by name, by number, with and without a group", () => {
  assertEquals(resolveIdentity({ user: "svc" }, FILES), {
    uid: 1001,
    gid: 1002,
    user: "svc",
    group: "svcgrp",
  });
  assertEquals(resolveIdentity({ user: "1001", group: "storage" }, FILES), {
    uid: 1001,
    gid: 2000,
    user: "svc",
    group: "storage",
  });
  assertEquals(resolveIdentity({ user: "4242", group: "4343" }, FILES), {
    uid: 4242,
    gid: 4343,
    user: "4242",
    group: "4343",
  });
  for (
    const spec of [{ user: "ghost" }, { user: "svc", group: "ghosts" }, { user: "4242" }]
  ) {
    throws(
      () => resolveIdentity(spec, FILES),
      (err) => err instanceof PrivilegeDropError && err.step === "resolve",
    );
  }
});

interface ChildResult {
  before: { uid: number; readSecret: boolean };
  report?: { uid: number; gid: number; groups: number[]; noNewPrivs: boolean };
  error?: { name: string; step?: string; message: string };
  after?: {
    ids: number[];
    threadUids: string[];
    threadGids: string[];
    threadNoNewPrivs: string[];
    noNewPrivs: string;
    secret: string;
    publicText: string;
    driveWrite: string;
    setuid0: string;
    setuid0Errno: number;
  };
}

/** A Deno child that reads `secret`, awaits the `drop` expression, then probes what it can do. */
async function runDropChild(
  dir: string,
  drop: string,
  options: { uid?: number; gid?: number } = {},
): Promise<{ code: number; result: ChildResult }> {
  const runtime = runtimeFor(options.uid !== undefined);
  const code = `
    import { becomeRunUser, dropPrivileges, prepareRunUser } from ${
    JSON.stringify(runtime.privileges)
  };
    import * as libc from ${JSON.stringify(runtime.libc)};
    const dir = ${JSON.stringify(dir)};
    const attempt = (f) => { try { return String(f()); } catch (e) { return e.name; } };
    const statusField = (text, field) => text.split("\\n").find((l) => l.startsWith(field + ":"))
      .split(/\\s+/).slice(1).join(" ");
    const result = { before: { uid: libc.geteuid(),
      readSecret: attempt(() => Deno.readTextFileSync(dir + "/secret")) === "s3cret" } };
    try {
      result.report = await ${drop};
    } catch (e) {
      result.error = { name: e.name, step: e.step, message: e.message };
      console.log(JSON.stringify(result));
      Deno.exit(3);
    }
    const tasks = [...Deno.readDirSync("/proc/self/task")].map((t) =>
      Deno.readTextFileSync("/proc/self/task/" + t.name + "/status"));
    result.after = {
      ids: [libc.getuid(), libc.geteuid(), libc.getgid(), libc.getegid()],
      threadUids: [...new Set(tasks.map((t) => statusField(t, "Uid")))],
      threadGids: [...new Set(tasks.map((t) => statusField(t, "Gid")))],
      threadNoNewPrivs: [...new Set(tasks.map((t) => statusField(t, "NoNewPrivs")))],
      noNewPrivs: statusField(Deno.readTextFileSync("/proc/self/status"), "NoNewPrivs"),
      secret: attempt(() => Deno.readTextFileSync(dir + "/secret")),
      publicText: attempt(() => Deno.readTextFileSync(dir + "/public")),
      driveWrite: attempt(() => Deno.writeTextFileSync(dir + "/drive/.flashstor.sys/new", "x")),
      setuid0: attempt(() => libc.setuid(0)),
      setuid0Errno: (() => { try { libc.setuid(0); } catch (e) { return e.errno; } })(),
    };
    console.log(JSON.stringify(result));
  `;
  const output = await new Deno.Command(runtime.deno, {
    args: ["eval", "--no-prompt", code],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    ...options,
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (!stdout.startsWith("{")) {
    throw new Error(`child printed no result: ${new TextDecoder().decode(output.stderr)}`);
  }
  return { code: output.code, result: JSON.parse(stdout) };
}

/**
 * A world-traversable dir with a root-owned 0600 secret, a 0644 control file and a drive
 * created by root.
 */
async function withFiles(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-drop-" });
  try {
    await Deno.chmod(dir, 0o755);
    await Deno.writeTextFile(`${dir}/secret`, "s3cret", { mode: 0o600 });
    await Deno.chmod(`${dir}/secret`, 0o600);
    await Deno.writeTextFile(`${dir}/public`, "hello", { mode: 0o644 });
    await Deno.chmod(`${dir}/public`, 0o644);
    await Deno.mkdir(`${dir}/drive/.flashstor.sys`, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(`${dir}/drive/.flashstor.sys/format.json`, "{}");
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "a root process drops to nobody for good: ids read back, 0600 root file unreadable",
  ignore: !isRoot,
  fn: () =>
    withFiles(async (dir) => {
      const nobody = resolveIdentity({ user: "nobody" });
      const { code, result } = await runDropChild(
        dir,
        `becomeRunUser(await prepareRunUser({ user: "nobody", drives: [dir + "/drive", dir + "/offline-drive"] }))`,
      );
      assertEquals(code, 0, JSON.stringify(result.error));
      assertEquals(result.before, { uid: 0, readSecret: true });
      assertEquals(result.report?.uid, nobody.uid);
      assertEquals(result.report?.gid, nobody.gid);
      assertEquals(result.report?.groups, [nobody.gid]);
      assertEquals(result.report?.noNewPrivs, true);
      const after = result.after!;
      assertEquals(after.ids, [nobody.uid, nobody.uid, nobody.gid, nobody.gid]);
      // Every thread (tokio workers included) carries the new real/effective/saved/fs ids.
      assertEquals(after.threadUids, [Array(4).fill(nobody.uid).join(" ")]);
      assertEquals(after.threadGids, [Array(4).fill(nobody.gid).join(" ")]);
      assertEquals(after.noNewPrivs, "1");
      // Deno's threads started before the drop: the flag reached them too (seccomp TSYNC).
      assertEquals(after.threadNoNewPrivs, ["1"]);
      assertEquals(after.secret, "PermissionDenied");
      assertEquals(after.publicText, "hello");
      assertEquals(after.driveWrite, "undefined", "the root-created drive was handed over");
      assertEquals(after.setuid0, "LibcCallError");
      assertEquals(after.setuid0Errno, 1, "EPERM");
    }),
});

Deno.test({
  name: "a drop that cannot happen fails with a typed error and a non-zero exit",
  ignore: !isRoot,
  fn: () =>
    withFiles(async (dir) => {
      // Started as nobody, the child has no right to switch to another user.
      const nobody = resolveIdentity({ user: "nobody" });
      const { code, result } = await runDropChild(dir, `dropPrivileges({ user: "root" })`, nobody);
      assertEquals(code, 3);
      assertEquals(result.error?.name, "PrivilegeDropError");
      assertEquals(result.error?.step, "resolve");
      const daemon = await runDropChild(
        dir,
        `becomeRunUser(await prepareRunUser({ user: "1", group: "1", drives: [dir + "/drive"] }))`,
        nobody,
      );
      assertEquals(daemon.code, 3);
      assertEquals(daemon.result.error?.step, "not-root");
      assertEquals(daemon.result.before.readSecret, false);
    }),
});

Deno.test({
  name: "chownTree hands a root-created drive to the run user, skipping owned subtrees",
  ignore: !isRoot,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "flashstor-chown-" });
    try {
      await Deno.mkdir(`${root}/drive/.flashstor.sys/tmp`, { recursive: true });
      await Deno.writeTextFile(`${root}/drive/.flashstor.sys/format.json`, "{}");
      await Deno.mkdir(`${root}/drive/bucket/obj`, { recursive: true });
      await Deno.writeTextFile(`${root}/drive/bucket/obj/xl.meta`, "m");
      await Deno.writeTextFile(`${root}/outside`, "o");
      await Deno.symlink(`${root}/outside`, `${root}/drive/link`);

      const first = await chownTree([`${root}/drive`], 65534, 65534);
      assertEquals(first, { changed: 7, visited: 8 });
      assertEquals((await Deno.stat(`${root}/drive/bucket/obj/xl.meta`)).uid, 65534);
      assertEquals((await Deno.stat(`${root}/outside`)).uid, 0, "symlink target untouched");

      assertEquals(await chownTree([`${root}/drive`], 65534, 65534), { changed: 0, visited: 1 });
      await Deno.writeTextFile(`${root}/drive/bucket/obj/stray`, "s");
      assertEquals(await chownTree([`${root}/drive`], 65534, 65534, { full: true }), {
        changed: 1,
        visited: 9,
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "already running as the run user: only NO_NEW_PRIVS is set",
  ignore: !isRoot,
  fn: () =>
    withFiles(async (dir) => {
      const nobody = resolveIdentity({ user: "nobody" });
      const { code, result } = await runDropChild(
        dir,
        `becomeRunUser(await prepareRunUser({ user: "nobody", drives: [] }))`,
        nobody,
      );
      assertEquals(code, 0, JSON.stringify(result.error));
      assertEquals(result.report?.uid, nobody.uid);
      assertEquals(result.after?.noNewPrivs, "1");
      assertEquals(result.after?.secret, "PermissionDenied");
    }),
});

Deno.test("no run user configured: nothing to do; a group alone is refused", async () => {
  assertEquals(await prepareRunUser({ drives: [] }), undefined);
  await rejects(
    prepareRunUser({ group: "nogroup", drives: [] }),
    (err) => err instanceof PrivilegeDropError && err.step === "resolve",
  );
});
