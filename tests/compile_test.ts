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
  // libcrypto and libIPSec_MB (AES-GCM of encryption at rest) when the machine has them: Web
  // Crypto otherwise; nothing else.
  assert(ffi !== undefined && ffi.every((path) => path.startsWith("/")), `${ffi}`);
  assert(ffi[0].endsWith("/libisal.so.2") && ffi[1].endsWith("/libc.so.6"), `${ffi}`);
  const optional = ffi.slice(2).map((path) => path.slice(path.lastIndexOf("/") + 1));
  const allowed = ["libcrypto.so.3", "libIPSec_MB.so.1"];
  assert(optional.every((name) => allowed.includes(name)), `${ffi}`);
  assertEquals(new Set(optional).size, optional.length);
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

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text.split("\n").filter((l) => !l.trimStart().startsWith("#")).join("\n")
    .replace(/\\\n/g, " ");
  return logical.split("\n").map((l) => l.trim()).filter((l) => l !== "").map((line) => {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    return { keyword: keyword.toUpperCase(), args };
  });
}

Deno.test("Dockerfile: multi-stage, compiled binary on slim Debian with libisal2, non-root, volume, healthcheck", async () => {
  const instructions = parseDockerfile(await Deno.readTextFile(`${root}/Dockerfile`));
  const known = new Set([
    "FROM",
    "RUN",
    "COPY",
    "WORKDIR",
    "ENV",
    "ARG",
    "USER",
    "VOLUME",
    "EXPOSE",
    "HEALTHCHECK",
    "ENTRYPOINT",
    "CMD",
    "LABEL",
  ]);
  for (const i of instructions) assert(known.has(i.keyword), `unknown instruction ${i.keyword}`);

  const froms = instructions.map((i, index) => ({ ...i, index })).filter((i) =>
    i.keyword === "FROM"
  );
  assertEquals(froms.length, 2);
  assert(/ AS build$/i.test(froms[0].args));
  assertEquals(froms[1].args, "debian:bookworm-slim");
  const build = instructions.slice(froms[0].index, froms[1].index);
  const final = instructions.slice(froms[1].index);

  assert(
    build.some((i) => i.keyword === "RUN" && i.args.includes("scripts/compile /out/flashstor")),
  );
  assert(!instructions.some((i) => /(^|\s)(-A|--allow-all)(\s|$)/.test(i.args)), "never -A");
  assert(final.some((i) => i.keyword === "RUN" && /apt-get install .*libisal2/.test(i.args)));
  // The libraries of the baked ffi permissions are in both stages (libipsec-mb1: amd64 only).
  for (const stage of [build, final]) {
    const install = stage.find((i) => i.keyword === "RUN" && /apt-get install/.test(i.args));
    assert(/libssl3/.test(install?.args ?? "") && /libipsec-mb1/.test(install?.args ?? ""));
  }
  assert(
    final.some((i) =>
      i.keyword === "COPY" && i.args === "--from=build /out/flashstor /usr/local/bin/flashstor"
    ),
  );

  const userIndex = final.findIndex((i) => i.keyword === "USER");
  assert(userIndex > 0, "a USER instruction");
  assert(!/^(root|0)(:|$)/.test(final[userIndex].args), "a non-root user");
  assert(
    final.slice(0, userIndex).some((i) =>
      i.keyword === "RUN" && /useradd .*flashstor/.test(i.args)
    ),
  );
  const runAfterUser = final.slice(userIndex).filter((i) => i.keyword === "RUN");
  assertEquals(runAfterUser, [], "nothing runs as root after USER");

  const one = (keyword: string) => final.filter((i) => i.keyword === keyword).map((i) => i.args);
  // One volume per drive: four directories on one disk protect against bitrot only.
  assertEquals(one("VOLUME"), ['["/data1", "/data2", "/data3", "/data4"]']);
  const cmd: string[] = JSON.parse(one("CMD")[0]);
  assertEquals(cmd.at(-1), "/data{1...4}");
  const dataPaths = build.find((i) =>
    i.keyword === "ENV" && i.args.includes("FLASHSTOR_DATA_PATHS")
  );
  assert(dataPaths?.args.includes("FLASHSTOR_DATA_PATHS=/data1,/data2,/data3,/data4"));
  assert(
    build.some((i) => i.keyword === "RUN" && i.args === "bash scripts/setup --server"),
    "the build installs no test-only npm packages",
  );
  assertEquals(one("EXPOSE"), ["9000"]);
  const [healthcheck] = one("HEALTHCHECK");
  const healthCmd = JSON.parse(healthcheck.slice(healthcheck.indexOf("CMD ") + 4));
  assertEquals(healthCmd.slice(0, 2), ["/usr/local/bin/flashstor", "healthcheck"]);
  assert(healthCmd.at(-1).endsWith("/flashstor/health/live"));
  assertEquals(JSON.parse(one("ENTRYPOINT")[0]), ["/usr/local/bin/flashstor"]);
  assertEquals(JSON.parse(one("CMD")[0])[0], "server");
});
