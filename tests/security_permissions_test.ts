import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { SYS_KINDS } from "../src/security/permissions.ts";

const PERMISSIONS = new URL("../src/security/permissions.ts", import.meta.url).href;
const ISAL = new URL("../ffi/isal.ts", import.meta.url).href;
const LIBC = new URL("../ffi/libc.ts", import.meta.url).href;
const LIBRARY = new URL("../ffi/library.ts", import.meta.url).href;
const ROOT = new URL("..", import.meta.url).pathname;

interface Dirs {
  root: string;
  certs: string;
  drives: string;
}

interface ChildResult {
  report?: { denied: string[]; notRevocable: { permission: string }[] };
  error?: string;
  before: Record<string, string>;
  after: Record<string, string>;
}

/**
 * A --no-prompt Deno child that opens ISA-L and libc, probes, revokes, and probes again. Each
 * probe is "ok" or the error's name.
 */
async function runChild(
  dirs: Dirs,
  flags: string[],
  options: { keepSys?: string[] } = {},
): Promise<ChildResult> {
  const code = `
    import { revokeUnneeded } from ${JSON.stringify(PERMISSIONS)};
    import { crc32, loadIsal } from ${JSON.stringify(ISAL)};
    import { getuid, loadLibc, prctl } from ${JSON.stringify(LIBC)};
    import { libraryCandidates } from ${JSON.stringify(LIBRARY)};
    import { statfsSync } from "node:fs";
    const probe = (f) => { try { f(); return "ok"; } catch (e) { return e.name; } };
    loadIsal();
    const crc = (d) => crc32(d);
    loadLibc();
    const data = new TextEncoder().encode("123456789");
    const probes = () => ({
      crc32: probe(() => { if (crc(data) !== 0xcbf43926) throw new Error("bad crc"); }),
      getuid: probe(() => getuid()),
      errno: probe(() => {
        try { prctl(9999); } catch (e) { if (e.errno === 22) return; throw e; }
        throw new Error("prctl(9999) succeeded");
      }),
      envFlashstor: probe(() => Deno.env.get("FLASHSTOR_REGION")),
      envPath: probe(() => Deno.env.get("PATH")),
      hostname: probe(() => Deno.hostname()),
      statfs: probe(() => statfsSync(${JSON.stringify(dirs.drives)})),
      run: probe(() => new Deno.Command("true").outputSync()),
      ffiOther: probe(() => Deno.dlopen(libraryCandidates("libm.so.6").find((p) => {
        try { Deno.statSync(p); return true; } catch { return false; } }) ?? "libm.so.6",
        { cos: { parameters: ["f64"], result: "f64" } })),
      readCerts: probe(() => Deno.readTextFileSync(${JSON.stringify(dirs.certs + "/public.crt")})),
      readDrives: probe(() => Deno.readTextFileSync(${JSON.stringify(dirs.drives + "/x")})),
      writeDrives: probe(() => Deno.writeTextFileSync(${JSON.stringify(dirs.drives + "/y")}, "y")),
    });
    const result = { before: probes() };
    try {
      result.report = revokeUnneeded({ certsDir: ${JSON.stringify(dirs.certs)},
        keepRead: [${JSON.stringify(dirs.drives)}],
        ${options.keepSys ? `keepSys: ${JSON.stringify(options.keepSys)},` : ""} });
    } catch (e) {
      result.error = e.name;
    }
    result.after = probes();
    console.log(JSON.stringify(result));
  `;
  // `deno eval` would grant everything: the child is a script file run with explicit flags.
  const script = `${dirs.root}/child.js`;
  await Deno.writeTextFile(script, code);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, script],
    env: { FLASHSTOR_REGION: "test-region" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (output.code !== 0 || !stdout.startsWith("{")) {
    throw new Error(`child failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(stdout);
}

async function withDirs(run: (dirs: Dirs) => Promise<void>) {
  const root = await Deno.makeTempDir({ prefix: "flashstor-perm-" });
  const dirs = { root, certs: `${root}/certs`, drives: `${root}/drives` };
  try {
    await Deno.mkdir(dirs.certs);
    await Deno.mkdir(dirs.drives);
    await Deno.writeTextFile(`${dirs.certs}/public.crt`, "cert");
    await Deno.writeTextFile(`${dirs.drives}/x`, "data");
    await run(dirs);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const OTHER_SYS = SYS_KINDS.filter((k) => k !== "statfs");

// ffi is unscoped here because ffi/isal.ts opens libisal by its bare soname.
const BASE = ["--no-prompt", "--allow-env", "--allow-run", "--allow-ffi"];

Deno.test("revoked permissions are denied under --no-prompt; opened libraries and statfs keep working", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [
      ...BASE,
      "--allow-sys=statfs,hostname",
      `--allow-read=${dirs.certs},${dirs.drives}`,
      `--allow-write=${dirs.drives}`,
    ]);
    assertEquals(result.error, undefined);
    assertEquals(result.report?.denied, [
      "run",
      "env",
      ...OTHER_SYS.map((k) => `sys:${k}`),
      "ffi",
      `read:${dirs.certs}`,
    ]);
    assertEquals(result.report?.notRevocable, []);
    assertEquals(Object.values(result.before).filter((v) => v !== "ok"), []);
    assertEquals(result.after, {
      crc32: "ok",
      getuid: "ok",
      errno: "ok",
      envFlashstor: "NotCapable",
      envPath: "NotCapable",
      hostname: "NotCapable",
      statfs: "ok",
      run: "NotCapable",
      ffiOther: "NotCapable",
      readCerts: "NotCapable",
      readDrives: "ok",
      writeDrives: "ok",
    });
  }));

Deno.test("keepSys: [] revokes sys as a whole, statfs included", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [...BASE, "--allow-sys", "--allow-read", "--allow-write"], {
      keepSys: [],
    });
    assertEquals(result.report?.denied, ["run", "env", "sys", "ffi"]);
    assertEquals([result.before.statfs, result.after.statfs], ["ok", "NotCapable"]);
  }));

Deno.test("unscoped --allow-read and --allow-sys: certs dir and sys kinds reported as not revocable", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [...BASE, "--allow-sys", "--allow-read", "--allow-write"]);
    assertEquals(result.report?.denied, ["run", "env", "ffi"]);
    assertEquals(
      result.report?.notRevocable.map((n) => n.permission),
      [...OTHER_SYS.map((k) => `sys:${k}`), `read:${dirs.certs}`],
    );
    assertEquals([result.after.readCerts, result.after.hostname], ["ok", "ok"]);
  }));

Deno.test("a certs dir granted through the drives' parent costs the drives: refused loudly", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [...BASE, `--allow-read=${dirs.root}`]);
    assertEquals(result.error, "PermissionRevokeError");
    assertEquals(result.after.readDrives, "NotCapable");
  }));

Deno.test("the real PERMISSION_FLAGS: enough for the server, nothing more, revocable", () =>
  withDirs(async (dirs) => {
    const listed = await new Deno.Command("bash", {
      args: ["-c", 'source scripts/permissions.sh && printf "%s\\n" "${PERMISSION_FLAGS[@]}"'],
      cwd: ROOT,
      env: { FLASHSTOR_DATA_PATHS: dirs.drives, FLASHSTOR_CONFIG_PATHS: dirs.certs },
      stdout: "piped",
    }).output();
    assertEquals(listed.code, 0);
    const flags = new TextDecoder().decode(listed.stdout).trimEnd().split("\n");
    const result = await runChild(dirs, flags);
    assertEquals(result.error, undefined);
    assertEquals(result.before, {
      crc32: "ok",
      getuid: "ok",
      errno: "ok",
      envFlashstor: "ok",
      envPath: "NotCapable",
      hostname: "NotCapable",
      statfs: "ok",
      run: "NotCapable",
      ffiOther: "NotCapable",
      readCerts: "ok",
      readDrives: "ok",
      writeDrives: "ok",
    });
    assertEquals(result.report?.denied, [
      "run",
      "env",
      ...OTHER_SYS.map((k) => `sys:${k}`),
      "ffi",
      `read:${dirs.certs}`,
    ]);
    assertEquals(result.report?.notRevocable, []);
    assertEquals(
      [
        result.after.envFlashstor,
        result.after.readCerts,
        result.after.crc32,
        result.after.statfs,
        result.after.errno,
      ],
      ["NotCapable", "NotCapable", "ok", "ok", "ok"],
    );
  }));
