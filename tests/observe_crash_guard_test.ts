/**
 * The crash guard in a process of its own (in the test runner it would hide the runner's own
 * detection of leaked rejections): errors nobody handled do not end the process, each is logged
 * once with the id of the request it belongs to, counted, and the counts reach the metrics.
 */

import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { DENO } from "./helpers/server.ts";

const SRC = new URL("../src/", import.meta.url).href;

/** Runs `script` (which may import from src/ via SRC) and returns its exit code and output. */
async function runScript(script: string): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-guard-" });
  try {
    const path = `${dir}/script.ts`;
    await Deno.writeTextFile(path, script.replaceAll("SRC/", SRC));
    const { code, stdout, stderr } = await new Deno.Command(DENO, {
      args: [
        "run",
        "--allow-all",
        "--quiet",
        `--config=${new URL("../deno.json", SRC).pathname}`,
        path,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { code, output: text.decode(stdout) + text.decode(stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("crash guard: unhandled rejections and exceptions are logged once with the request id, counted, survived", async () => {
  const { code, output } = await runScript(`
    import { installCrashGuard, unhandledErrorCounts } from "SRC/observe/crash-guard.ts";
    import { RequestTrace, runInTrace } from "SRC/observe/trace.ts";
    import { Metrics } from "SRC/observe/metrics.ts";
    installCrashGuard();
    installCrashGuard();
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    await runInTrace(new RequestTrace("00000000000000AA"), async () => {
      await sleep(1);
      // One failure, two promises derived from it that nobody handles.
      const body = Promise.reject(new Error("body cut off"));
      body.then(() => {});
      body.then(() => {});
    });
    setTimeout(() => { throw new Error("timer threw"); }, 1);
    Promise.reject("a bare string");
    await sleep(50);
    const metrics = new Metrics({ unhandledErrors: unhandledErrorCounts });
    const text = await metrics.render();
    console.log(text.split("\\n").filter((l) => l.startsWith("flashstor_unhandled")).join("\\n"));
    console.log("still alive");
  `);
  assertEquals(code, 0, output);
  assertStringIncludes(output, "still alive");
  const lines = output.split("\n");
  const body = lines.filter((l) => l.includes("body cut off"));
  assertEquals(body.length, 1, output);
  assertStringIncludes(body[0], "flashstor: unhandled rejection in request 00000000000000AA:");
  assert(
    lines.some((l) => l.startsWith("flashstor: unhandled exception: Error: timer threw")),
    output,
  );
  assert(lines.includes("flashstor: unhandled rejection: a bare string"), output);
  assert(lines.includes('flashstor_unhandled_errors_total{kind="rejection"} 2'), output);
  assert(lines.includes('flashstor_unhandled_errors_total{kind="exception"} 1'), output);
});

Deno.test("crash guard: without it, the same script dies (the guard is what keeps it alive)", async () => {
  const { code, output } = await runScript(`
    Promise.reject(new Error("body cut off"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    console.log("still alive");
  `);
  assert(code !== 0, output);
  assert(!output.includes("still alive"), output);
});
