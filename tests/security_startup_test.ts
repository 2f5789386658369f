import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { getuid } from "../ffi/libc.ts";
import { resolveIdentity } from "../src/security/privileges.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const PRIVILEGES = new URL("../src/security/privileges.ts", import.meta.url).href;
const PERMISSIONS = new URL("../src/security/permissions.ts", import.meta.url).href;
const LIBC = new URL("../ffi/libc.ts", import.meta.url).href;

const isRoot = Deno.build.os === "linux" && getuid() === 0;
if (!isRoot) console.log("security_startup_test: not root, so the startup sequence is skipped");

async function permissionFlags(env: Record<string, string>): Promise<string[]> {
  const output = await new Deno.Command("bash", {
    args: ["-c", 'source scripts/permissions.sh && printf "%s\\n" "${PERMISSION_FLAGS[@]}"'],
    cwd: ROOT,
    env,
    stdout: "piped",
  }).output();
  assertEquals(output.code, 0);
  return new TextDecoder().decode(output.stdout).trimEnd().split("\n");
}

Deno.test({
  name: "startup under the real PERMISSION_FLAGS: load libs, read certs, drop to nobody, revoke",
  ignore: !isRoot,
  fn: async () => {
    const root = await Deno.makeTempDir({ prefix: "flashstor-startup-" });
    try {
      await Deno.chmod(root, 0o755);
      const certs = `${root}/certs`, drives = `${root}/drives`;
      await Deno.mkdir(certs, { mode: 0o700 });
      await Deno.writeTextFile(`${certs}/private.key`, "key", { mode: 0o600 });
      await Deno.mkdir(`${drives}/d1/.flashstor.sys`, { recursive: true, mode: 0o700 });
      await Deno.chmod(drives, 0o755);
      const code = `
        import { becomeRunUser, prepareRunUser } from ${JSON.stringify(PRIVILEGES)};
        import { revokeUnneeded } from ${JSON.stringify(PERMISSIONS)};
        import * as libc from ${JSON.stringify(LIBC)};
        import { statfsSync } from "node:fs";
        const probe = (f) => { try { f(); return "ok"; } catch (e) { return e.name; } };
        libc.loadLibc();
        const key = Deno.readTextFileSync(${JSON.stringify(`${certs}/private.key`)});
        const drop = becomeRunUser(await prepareRunUser({ user: Deno.env.get("FLASHSTORE_RUN_USER"),
          drives: [${JSON.stringify(`${drives}/d1`)}] }));
        const revoke = revokeUnneeded({ certsDir: ${JSON.stringify(certs)},
          keepRead: [${JSON.stringify(drives)}] });
        console.log(JSON.stringify({
          key, uid: drop.uid, euid: libc.geteuid(), egid: libc.getegid(),
          noNewPrivs: libc.prctl(libc.PR_GET_NO_NEW_PRIVS),
          notRevocable: revoke.notRevocable,
          writeDrive: probe(() => Deno.writeTextFileSync(${
        JSON.stringify(`${drives}/d1/.flashstor.sys/format.json`)
      }, "{}")),
          statfs: probe(() => statfsSync(${JSON.stringify(drives)})),
          readCerts: probe(() => Deno.readTextFileSync(${JSON.stringify(`${certs}/private.key`)})),
          env: probe(() => Deno.env.get("FLASHSTORE_RUN_USER")),
          setuid0: probe(() => libc.setuid(0)),
        }));
      `;
      const script = `${root}/startup.js`;
      await Deno.writeTextFile(script, code);
      const flags = await permissionFlags({
        FLASHSTOR_DATA_PATHS: drives,
        FLASHSTOR_CONFIG_PATHS: certs,
      });
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...flags, script],
        env: { FLASHSTORE_RUN_USER: "nobody" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(output.code, 0, new TextDecoder().decode(output.stderr));
      const nobody = resolveIdentity({ user: "nobody" });
      assertEquals(JSON.parse(new TextDecoder().decode(output.stdout)), {
        key: "key",
        uid: nobody.uid,
        euid: nobody.uid,
        egid: nobody.gid,
        noNewPrivs: 1,
        notRevocable: [],
        writeDrive: "ok",
        statfs: "ok",
        readCerts: "NotCapable",
        env: "NotCapable",
        setuid0: "LibcCallError",
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
