import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH, healthResponse } from "../src/observe/health.ts";
import { runHealthcheck } from "../src/observe/health-probe.ts";

/** Serves health on 127.0.0.1 with a settable readiness; paths elsewhere answer 404. */
async function withServer(
  ready: () => Promise<boolean>,
  run: (base: string) => Promise<void>,
): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) =>
      await healthResponse(request, ready) ?? new Response("nope", { status: 404 }),
  );
  try {
    await run(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

async function status(url: string, method = "GET"): Promise<number> {
  const response = await fetch(url, { method });
  await response.body?.cancel();
  return response.status;
}

Deno.test("live is 200 while serving; ready follows the check, failing or throwing = 503", async () => {
  let ready: () => Promise<boolean> = () => Promise.resolve(true);
  await withServer(() => ready(), async (base) => {
    assertEquals(await status(base + HEALTH_LIVE_PATH), 200);
    assertEquals(await status(base + HEALTH_READY_PATH), 200);
    assertEquals(await status(base + HEALTH_READY_PATH, "HEAD"), 200);
    assertEquals(await status(base + HEALTH_READY_PATH, "POST"), 405);
    assertEquals(await status(base + "/flashstor/health/other"), 404);
    ready = () => Promise.resolve(false);
    assertEquals(await status(base + HEALTH_READY_PATH), 503);
    assertEquals(await status(base + HEALTH_LIVE_PATH), 200);
    ready = () => Promise.reject(new Error("drive walked off"));
    assertEquals(await status(base + HEALTH_READY_PATH), 503);
  });
});

Deno.test("healthcheck subcommand: 0 on 200, 1 on 503 or no server, 2 on bad arguments", async () => {
  await withServer(() => Promise.resolve(false), async (base) => {
    assertEquals(await runHealthcheck(["--url", base + HEALTH_LIVE_PATH]), 0);
    assertEquals(await runHealthcheck([`--url=${base}${HEALTH_READY_PATH}`, "--timeout", "2"]), 1);
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close();
  assertEquals(await runHealthcheck(["--url", `http://127.0.0.1:${closedPort}/`]), 1);
  assertEquals(await runHealthcheck(["--bogus", "1"]), 2);
  assertEquals(await runHealthcheck(["--timeout", "0"]), 2);
  assertEquals(await runHealthcheck(["--url"]), 2);
  assertEquals(await runHealthcheck(["--help"]), 0);
});

Deno.test("healthcheck gives up at its timeout on a server that never answers", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const start = performance.now();
    const probe = runHealthcheck([
      "--url",
      `http://127.0.0.1:${listener.addr.port}/`,
      "--timeout",
      "0.3",
    ]);
    // A generous bound that only a probe without a timeout reaches, never a busy machine.
    const hang = new Promise<"hang">((resolve) => timer = setTimeout(resolve, 30_000, "hang"));
    const code = await Promise.race([probe, hang]);
    const elapsed = performance.now() - start;
    assertEquals(code, 1);
    // Gave up at its timeout, not at once.
    assert(elapsed >= 250, `took ${elapsed} ms`);
  } finally {
    clearTimeout(timer);
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});
