/**
 * `flashstor admin info|heal` as an operator runs it, against a real server: credentials from
 * the environment or flags, plain progress lines when stdout is no terminal, exit codes 0 (done),
 * 1 (refused or unreachable) and 2 (usage).
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { ACCESS_KEY, FLASHSTOR, SECRET_KEY, startServer } from "./helpers/server.ts";
import { client, pattern, put } from "./fault_util.ts";
import { formatBytes, progressLine } from "../src/admin/cli.ts";

async function admin(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(FLASHSTOR, {
    args: ["admin", ...args],
    env: { FLASHSTOR_ROOT_USER: ACCESS_KEY, FLASHSTOR_ROOT_PASSWORD: SECRET_KEY, ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

Deno.test("flashstor admin info and heal against a running server", async () => {
  const server = await startServer({ args: ["--scanner-interval", "0"] });
  try {
    const endpoint = ["--endpoint", server.endpoint];
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: "clibkt" }));
    for (const name of ["logs/1", "logs/2", "other"]) {
      await put(s3, "clibkt", name, pattern(3000, 1));
    }
    await Deno.remove(`${server.drives[2]}/clibkt/logs/2`, { recursive: true });

    const info = await admin(["info", ...endpoint]);
    assertEquals(info.code, 0, info.stderr);
    assertStringIncludes(info.stdout, "1 erasure set(s) of 2 data + 2 parity drives");
    for (const d of server.drives) assertStringIncludes(info.stdout, `${d}  online`);
    assertStringIncludes(info.stdout, "heal queue: 0 object(s)");
    const json = await admin(["info", "--json", ...endpoint]);
    assertEquals(JSON.parse(json.stdout).drives.length, 4);

    const heal = await admin(["heal", "clibkt/logs/", "--deep", ...endpoint]);
    assertEquals(heal.code, 0, heal.stderr + heal.stdout);
    assert(!heal.stdout.includes("\r"), "no bar when stdout is no terminal");
    assert(/heal [0-9a-f-]{36} started\n/.test(heal.stdout), heal.stdout);
    assertStringIncludes(heal.stdout, " done\n");
    assertStringIncludes(heal.stdout, "2/2 objects  1 healed (2.9 KiB)");
    await Deno.stat(`${server.drives[2]}/clibkt/logs/2/xl.meta`);

    // Flags instead of the environment; a wrong secret; usage mistakes; nobody listening.
    const flagged = await admin(
      ["info", ...endpoint, "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY],
      { FLASHSTOR_ROOT_USER: "", FLASHSTOR_ROOT_PASSWORD: "" },
    );
    assertEquals(flagged.code, 0, flagged.stderr);
    const wrong = await admin(["info", ...endpoint, "--secret-key", "wrong-secret"]);
    assertEquals(wrong.code, 1);
    assertStringIncludes(wrong.stderr, "403 SignatureDoesNotMatch");
    const missing = await admin(["heal", "no-such-bucket", ...endpoint]);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.stderr, "404 NoSuchBucket");
    for (
      const args of [
        ["info"],
        ["info", "--endpoint", "ftp://x"],
        ["info", "--endpoint"],
        ["heal", "a", "b", ...endpoint],
        ["info", "--deep", ...endpoint],
        ["frobnicate", ...endpoint],
      ]
    ) {
      const r = await admin(args);
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertStringIncludes(r.stderr, "Usage:");
    }
    const help = await admin(["--help"]);
    assertEquals(help.code, 0);
    assertStringIncludes(help.stdout, "flashstor admin heal [BUCKET[/PREFIX]]");
    const top = await new Deno.Command(FLASHSTOR, { args: ["--help"], stdout: "piped" }).output();
    assertStringIncludes(new TextDecoder().decode(top.stdout), "admin info|heal");
    await server.stop();
    const gone = await admin(["info", ...endpoint]);
    assertEquals(gone.code, 1);
    assertStringIncludes(gone.stderr, server.endpoint);
  } finally {
    await server.cleanup();
  }
});

Deno.test("admin CLI progress line: bar, counts, rate and ETA", () => {
  const line = progressLine(
    {
      id: "x",
      kind: "drive",
      state: "running",
      started: new Date(),
      objectsScanned: 250,
      objectsHealed: 200,
      objectsFailed: 1,
      bytesHealed: 300 * 1024 * 1024,
      objectsTotal: 1000,
    },
    10,
    20,
  );
  assertEquals(
    line,
    "[#####...............]  25%  250/1000 objects  200 healed (300.0 MiB)  1 failed  " +
      "30.0 MiB/s, 25.0 objects/s  ETA 30s",
  );
  assertStringIncludes(
    progressLine({
      id: "x",
      kind: "drive",
      state: "running",
      started: new Date(),
      objectsScanned: 1,
      objectsHealed: 1,
      objectsFailed: 0,
      bytesHealed: 300 * 1024 * 1024,
      bytesTotal: 1024 ** 3,
    }, 1),
    "1 healed (300.0 MiB of 1.0 GiB)",
  );
  assertEquals(formatBytes(1023), "1023 B");
  assertEquals(formatBytes(5 * 1024 ** 4), "5.0 TiB");
});
