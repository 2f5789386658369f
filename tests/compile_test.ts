import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;
const decoder = new TextDecoder();

async function bash(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command("bash", {
    args,
    env,
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function permissionFlags(env: Record<string, string> = {}): Promise<string[]> {
  const result = await bash([
    "-c",
    'source scripts/permissions.sh && printf "%s\\n" "${PERMISSION_FLAGS[@]}"',
  ], env);
  assertEquals(result.code, 0, result.stderr);
  return result.stdout.trimEnd().split("\n");
}

// Whether denort can be had decides whether the build test runs; exit status 3 is the
// script's "denort unavailable", anything else must be a working build.
const check = await bash(["scripts/compile", "--check"]);
const unavailable = check.code === 3 ? check.stderr.trim() : undefined;
if (unavailable) console.log(`compile_test: skipping the build: ${unavailable}`);

Deno.test("PERMISSION_FLAGS: no -A, no run; ffi, env and sys scoped", async () => {
  const flags = await permissionFlags();
  assert(
    !flags.some((f) => f === "-A" || f.startsWith("--allow-all") || f.startsWith("--allow-run")),
  );
  assert(flags.includes("--no-prompt"));
  const ffi = flags.find((f) => f.startsWith("--allow-ffi="))?.slice("--allow-ffi=".length).split(
    ",",
  );
  assertEquals(ffi?.length, 2);
  assert(ffi!.every((path) => path.startsWith("/")), "absolute library paths");
  assert(ffi![0].endsWith("/libisal.so.2") && ffi![1].endsWith("/libc.so.6"));
  assert(flags.includes("--allow-env=FLASHSTOR_*,FLASHSTORE_*,HOME"));
  assert(flags.includes("--allow-sys=statfs"));
  assert(
    flags.includes("--allow-read") && flags.includes("--allow-write"),
    "drives are runtime args",
  );
});

Deno.test("PERMISSION_FLAGS scope read and write when the data paths are known", async () => {
  const flags = await permissionFlags({
    FLASHSTOR_DATA_PATHS: "/data",
    FLASHSTOR_CONFIG_PATHS: "/etc/flashstor/certs",
  });
  assert(flags.includes("--allow-read=/data,/etc/flashstor/certs,/etc/passwd,/etc/group"));
  assert(flags.includes("--allow-write=/data"));
  assert(!flags.includes("--allow-read") && !flags.includes("--allow-write"));
});

Deno.test({
  name: "scripts/compile builds a working binary with the narrowed permissions",
  ignore: unavailable !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "flashstor-compile-" });
    try {
      const binary = `${dir}/flashstor`;
      const build = await bash(["scripts/compile", binary]);
      assertEquals(build.code, 0, build.stderr);
      assert(build.stderr.includes("--allow-ffi=") && !build.stderr.includes("--allow-all"));
      // Without a command the server prints its usage and exits 2; a binary built on the full
      // deno instead of denort would start a REPL instead.
      const run = await new Deno.Command(binary, {
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      })
        .output();
      assertEquals(run.code, 2, decoder.decode(run.stderr));
      assert(decoder.decode(run.stderr).includes("flashstor server"));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
