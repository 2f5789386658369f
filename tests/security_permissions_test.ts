import { deepStrictEqual as assertEquals } from "node:assert/strict";

const PERMISSIONS = new URL("../src/security/permissions.ts", import.meta.url).href;
const ISAL = new URL("../ffi/isal.ts", import.meta.url).href;
const LIBC = new URL("../ffi/libc.ts", import.meta.url).href;

interface ChildResult {
  crcBefore?: number;
  report?: unknown;
  error?: string;
  after?: Record<string, string>;
}

/**
 * A --no-prompt Deno child that opens ISA-L and libc, revokes, then tries what was revoked.
 * Each probe prints "ok" or the error's name.
 */
async function runChild(
  dirs: { root: string; certs: string; drives: string },
  flags: string[],
) {
  const code = `
    import { revokeUnneeded } from ${JSON.stringify(PERMISSIONS)};
    import { crc32, loadIsal } from ${JSON.stringify(ISAL)};
    import { getuid, loadLibc } from ${JSON.stringify(LIBC)};
    const probe = (f) => { try { f(); return "ok"; } catch (e) { return e.name; } };
    const data = new TextEncoder().encode("123456789");
    loadIsal();
    loadLibc();
    const result = { crcBefore: crc32(data) };
    try {
      result.report = revokeUnneeded({ certsDir: ${JSON.stringify(dirs.certs)},
        keepRead: [${JSON.stringify(dirs.drives)}] });
    } catch (e) {
      result.error = e.name;
    }
    result.after = {
      crc32: probe(() => { if (crc32(data) !== 0xcbf43926) throw new Error("bad crc"); }),
      getuid: probe(() => getuid()),
      env: probe(() => Deno.env.get("HOME")),
      sys: probe(() => Deno.hostname()),
      run: probe(() => new Deno.Command("true").outputSync()),
      ffi: probe(() => Deno.dlopen("libc.so.6", { getpid: { parameters: [], result: "i32" } })),
      readCerts: probe(() => Deno.readTextFileSync(${JSON.stringify(dirs.certs + "/public.crt")})),
      readDrives: probe(() => Deno.readTextFileSync(${JSON.stringify(dirs.drives + "/x")})),
    };
    console.log(JSON.stringify(result));
  `;
  // `deno eval` would grant everything: the child is a script file run with explicit flags.
  const script = `${dirs.root}/child.js`;
  await Deno.writeTextFile(script, code);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  if (output.code !== 0 || !stdout.startsWith("{")) {
    throw new Error(`child failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(stdout) as ChildResult;
}

async function withDirs(
  run: (dirs: { root: string; certs: string; drives: string }) => Promise<void>,
) {
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

// ffi is unscoped because ffi/isal.ts opens libisal by its bare soname.
const BASE = ["--allow-env", "--allow-sys", "--allow-run", "--allow-ffi"];

Deno.test("revoked permissions are denied under --no-prompt; opened libraries keep working", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [
      ...BASE,
      `--allow-read=${dirs.certs},${dirs.drives}`,
    ]);
    assertEquals(result.crcBefore, 0xcbf43926);
    assertEquals(result.error, undefined);
    assertEquals(result.report, {
      revoked: ["run", "env", "sys", "ffi", `read:${dirs.certs}`],
      notGranted: [],
      notRevocable: [],
    });
    assertEquals(result.after, {
      crc32: "ok",
      getuid: "ok",
      env: "NotCapable",
      sys: "NotCapable",
      run: "NotCapable",
      ffi: "NotCapable",
      readCerts: "NotCapable",
      readDrives: "ok",
    });
  }));

Deno.test("under an unscoped --allow-read the certs dir is reported as not revocable", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [...BASE, "--allow-read"]);
    const report = result.report as { revoked: string[]; notRevocable: { permission: string }[] };
    assertEquals(report.revoked, ["run", "env", "sys", "ffi"]);
    assertEquals(report.notRevocable.map((n) => n.permission), [`read:${dirs.certs}`]);
    assertEquals(result.after?.readCerts, "ok");
  }));

Deno.test("a certs dir granted through the drives' parent costs the drives: refused loudly", () =>
  withDirs(async (dirs) => {
    const result = await runChild(dirs, [...BASE, `--allow-read=${dirs.root}`]);
    assertEquals(result.error, "PermissionRevokeError");
    assertEquals(result.after?.readDrives, "NotCapable");
  }));
