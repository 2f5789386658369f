/**
 * An operator's first day, with the real server (scripts/flashstor): help and version, the
 * startup banner, and the mistakes a newcomer makes first — a file given as a drive, a port
 * in use, a certs dir without a usable certificate, a second server on the same drives — each
 * refused with a message that names the culprit, before any drive is touched.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { FLASHSTOR, startServer, type TestServer } from "./helpers/server.ts";
import { hasOpenssl, selfSignedCert } from "./helpers/tls.ts";
import {
  client,
  exists,
  expectExact,
  md5,
  MiB,
  pattern,
  slowPut,
  waitUntil,
} from "./fault_util.ts";
import { VERSION } from "../src/version.ts";

interface Run {
  /** Exit code; undefined when the server started serving instead (it is killed then). */
  code: number | undefined;
  text: string;
}

/**
 * Runs `flashstor ARGS` until it exits, or until it says it is listening (then kills it: a
 * start that should have been refused). At most 60 s, which only a hang reaches.
 */
async function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = new Deno.Command(FLASHSTOR, {
    args,
    env: { FLASHSTOR_ROOT_USER: "testadmin", FLASHSTOR_ROOT_PASSWORD: "testsecret-1234", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  let started = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (!started && text.includes("listening on")) {
        started = true;
        child.kill("SIGKILL");
      }
    }
  };
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
    return { code: started ? undefined : status.code, text };
  } finally {
    clearTimeout(timer);
  }
}

/** Expects a refused start: non-zero exit, nothing served, `message` in the output. */
function assertRefused(result: Run, message: string): void {
  assert(result.code !== undefined, `the server started:\n${result.text}`);
  assert(result.code !== 0, `exit code 0:\n${result.text}`);
  assertStringIncludes(result.text, message);
  assert(!result.text.includes("    at "), `a stack trace:\n${result.text}`);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-startup-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const drivesIn = (dir: string) => [1, 2, 3, 4].map((i) => `${dir}/d${i}`);

Deno.test("cli: --help, server --help and --version answer and exit 0", async () => {
  const help = await run(["--help"]);
  assertEquals(help.code, 0, help.text);
  assertStringIncludes(help.text, "server DRIVES...");
  const serverHelp = await run(["server", "--help"]);
  assertEquals(serverHelp.code, 0, serverHelp.text);
  assertStringIncludes(serverHelp.text, "--address HOST:PORT");
  assertStringIncludes(serverHelp.text, "FLASHSTOR_RUN_USER");
  const version = await run(["--version"]);
  assertEquals(version.code, 0, version.text);
  assertStringIncludes(version.text, `flashstor ${VERSION}`);
  const nothing = await run([]);
  assertEquals(nothing.code, 2, nothing.text);
  assertStringIncludes(nothing.text, "Usage: flashstor COMMAND");
});

Deno.test("banner: the version, the S3 endpoint and how to connect; no permission line that reads as an error", async () => {
  const server = await startServer();
  try {
    const connect = `aws --endpoint-url ${server.endpoint} s3 ls`;
    await waitUntil("the banner", () => Promise.resolve(server.output().includes(connect)));
    const text = server.output();
    assertStringIncludes(text, `flashstor ${VERSION}`);
    assertStringIncludes(text, `S3 endpoint ${server.endpoint}`);
    assertStringIncludes(text, "aws configure set aws_access_key_id testadmin");
    assert(!text.includes("testsecret-1234"), "the root password is printed");
    assert(!text.includes("permissions still granted"), text);
  } finally {
    await server.cleanup();
  }
});

Deno.test("a file given as a drive: named as not a directory (offline, like a failed disk)", async () => {
  await withTempDir(async (dir) => {
    const drives = drivesIn(dir);
    await Deno.writeTextFile(drives[1], "not a drive");
    // A new deployment is not formatted with a drive missing: the start stops, naming it.
    const result = await run(["server", "--address", "127.0.0.1:0", ...drives]);
    assertRefused(result, `drive ${drives[1]} is offline: it is not a directory`);
  });
});

Deno.test("a port in use: refused naming the address, before any drive is formatted", async () => {
  await withTempDir(async (dir) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const address = `127.0.0.1:${(taken.addr as Deno.NetAddr).port}`;
      const drives = drivesIn(dir);
      const result = await run(["server", "--address", address, ...drives]);
      assertRefused(result, `cannot listen on ${address}: the address is already in use`);
      for (const d of drives) {
        assert(!await exists(`${d}/.flashstor.sys/format.json`), `${d} was formatted`);
      }
    } finally {
      taken.close();
    }
  });
});

Deno.test("certs dir: half a pair, junk or a mismatched pair is refused naming the file; empty means plain HTTP", async (t) => {
  await withTempDir(async (dir) => {
    const certs = `${dir}/certs`;
    const start = () =>
      run(["server", "--address", "127.0.0.1:0", "--certs-dir", certs, ...drivesIn(dir)]);
    const reset = async (files: Record<string, string>) => {
      await Deno.remove(certs, { recursive: true }).catch(() => {});
      await Deno.mkdir(certs);
      for (const [name, text] of Object.entries(files)) {
        await Deno.writeTextFile(`${certs}/${name}`, text);
      }
    };
    await t.step("only public.crt", async () => {
      await reset({ "public.crt": "-----BEGIN CERTIFICATE-----\n" });
      assertRefused(await start(), `${certs}/private.key is missing`);
    });
    await t.step("only private.key", async () => {
      await reset({ "private.key": "-----BEGIN PRIVATE KEY-----\n" });
      assertRefused(await start(), `${certs}/public.crt is missing`);
    });
    await t.step("other files, no pair", async () => {
      await reset({ "cert.pem": "x", "key.pem": "y" });
      assertRefused(await start(), `certs dir ${certs} holds cert.pem, key.pem but no public.crt`);
    });
    await t.step("junk under the right names", async () => {
      await reset({ "public.crt": "junk", "private.key": "junk" });
      assertRefused(await start(), `${certs}/public.crt is not a PEM certificate`);
    });
    await t.step({
      name: "a certificate with another certificate's key",
      ignore: !await hasOpenssl(),
      fn: async () => {
        await reset({});
        await selfSignedCert(`${certs}/public.crt`, `${dir}/unused.key`, "one");
        await selfSignedCert(`${dir}/unused.crt`, `${certs}/private.key`, "two");
        assertRefused(await start(), `${certs}/private.key is not the key of ${certs}/public.crt`);
      },
    });
    await t.step("an empty certs dir: plain HTTP", async () => {
      await reset({});
      const server = await startServer({ args: ["--certs-dir", certs] });
      try {
        assertStringIncludes(server.output(), "listening on http://");
      } finally {
        await server.cleanup();
      }
    });
    for (const d of drivesIn(dir)) {
      assert(!await exists(`${d}/.flashstor.sys/format.json`), `${d} was formatted`);
    }
  });
});

Deno.test("a second server on the same drives refuses to start, names the first, and a PUT in flight on the first survives", async () => {
  let first: TestServer | undefined;
  try {
    first = await startServer();
    const s3 = client(first);
    await s3.send(new CreateBucketCommand({ Bucket: "owned" }));
    // 256 MiB at 1 MiB per 20 ms (5 s at least): the second start (about 1 s) happens while
    // the shards sit in the temp area.
    const body = pattern(256 * MiB, 11);
    const progress = { sent: 0 };
    const putting = slowPut(first, "/owned/racing", [], body, progress);
    await waitUntil("the upload to start", () => Promise.resolve(progress.sent >= 4 * MiB));
    const second = await run(["server", "--address", "127.0.0.1:0", ...first.drives]);
    assertRefused(second, `is in use by another flashstor server (pid ${first.process.pid})`);
    assert(progress.sent < body.byteLength, "the upload ended before the second start: no race");
    assertEquals(await putting, 200);
    await expectExact(s3, "owned", "racing", { bytes: body, etag: md5(body) });
  } catch (err) {
    console.error(first?.output().slice(-4000));
    throw err;
  } finally {
    await first?.cleanup();
  }
});
