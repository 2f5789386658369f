/**
 * The metrics bearer token against the real server: never the root password, made at first
 * start and kept (mode 0600) on every drive, the same after a restart, overridden by
 * FLASHSTOR_METRICS_TOKEN, and never printed.
 */

import { assert, assertEquals, assertNotEquals } from "./helpers/assert.ts";
import { SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";

const TOKEN_FILE = ".flashstor.sys/config/metrics-token";

async function scrape(server: TestServer, token: string): Promise<number> {
  const response = await fetch(`${server.endpoint}/flashstor/v1/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test("metrics token: random, kept 0600 on every drive, stable across restarts, not the root password", async () => {
  let server = await startServer();
  const dir = server.dir;
  try {
    const tokens = await Promise.all(
      server.drives.map((d) => Deno.readTextFile(`${d}/${TOKEN_FILE}`)),
    );
    const token = tokens[0].trim();
    assertEquals(tokens.map((t) => t.trim()), server.drives.map(() => token));
    assert(token.length >= 32, `a long random token: ${token.length} characters`);
    assertNotEquals(token, SECRET_KEY);
    for (const drive of server.drives) {
      assertEquals((await Deno.stat(`${drive}/${TOKEN_FILE}`)).mode! & 0o777, 0o600, drive);
    }
    assertEquals(await scrape(server, SECRET_KEY), 401, "the root password is no metrics token");
    assertEquals(await scrape(server, token), 200);
    assert(!server.output().includes(token), "the token is never printed");
    assert(
      server.output().includes(`cat ${server.drives[0]}/${TOKEN_FILE}`),
      `the log says where to read it:\n${server.output()}`,
    );

    await server.stop();
    server = await startServer({ dir });
    assertEquals(await scrape(server, token), 200, "the same token after a restart");
    assertEquals((await Deno.readTextFile(`${server.drives[1]}/${TOKEN_FILE}`)).trim(), token);
  } finally {
    await server.cleanup();
  }
});

Deno.test("metrics token: FLASHSTOR_METRICS_TOKEN overrides the stored one", async () => {
  const server = await startServer({ env: { FLASHSTOR_METRICS_TOKEN: "operator-chosen-token" } });
  try {
    assertEquals(await scrape(server, "operator-chosen-token"), 200);
    assertEquals(await scrape(server, SECRET_KEY), 401);
    assert(!server.output().includes("operator-chosen-token"), "the token is never printed");
  } finally {
    await server.cleanup();
  }
});
