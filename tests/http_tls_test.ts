import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";
import { ignoreWithout, opensslUnavailable } from "./helpers/capabilities.ts";
import { selfSignedCert } from "./helpers/tls.ts";

function selfSigned(dir: string, name: string): Promise<{ cert: string; key: string }> {
  return selfSignedCert(`${dir}/${name}.crt`, `${dir}/${name}.key`, name);
}

const tlsRoundTrip = "http tls: round trip, and a certificate reload applies to new connections";
Deno.test({
  name: tlsRoundTrip,
  ignore: ignoreWithout(tlsRoundTrip, await opensslUnavailable()),
}, async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-tls-" });
  const first = await selfSigned(dir, "first");
  const second = await selfSigned(dir, "second");
  const server = startEcho({ tls: first });
  try {
    await t.step("raw TLS client: keep-alive, body echo, raw path", async () => {
      const client = await RawClient.connectTls(server.port, first.cert);
      await client.send(request("PUT", "/echo", "", "over tls"));
      assert.equal((await client.response()).body, "over tls");
      await client.send(request("GET", "/a/../b"));
      assert.equal((await client.response()).body, "GET /a/../b");
      client.close();
    });

    await t.step("a client stalling its handshake blocks no one", async () => {
      // Deno's TLS conn, once closed before its handshake completed, keeps the socket until
      // the handshake ends (measured: > 70 s with a silent client), so only this is testable.
      const silent = await RawClient.connect(server.port); // TCP only: never sends a ClientHello
      const client = await RawClient.connectTls(server.port, first.cert);
      await client.send(request("GET", "/during-handshake-stall"));
      assert.equal((await client.response()).body, "GET /during-handshake-stall");
      client.close();
      silent.close();
    });

    await t.step("fetch with the certificate as CA", async () => {
      const httpClient = Deno.createHttpClient({ caCerts: [first.cert] });
      const response = await fetch(`https://127.0.0.1:${server.port}/fetched`, {
        client: httpClient,
      });
      assert.equal(await response.text(), "GET /fetched");
      httpClient.close();
    });

    await t.step("after setTls, new connections get the new certificate", async () => {
      const before = await RawClient.connectTls(server.port, first.cert);
      await server.setTls(second);
      await assert.rejects(async () => {
        const stale = await RawClient.connectTls(server.port, first.cert);
        try {
          await stale.send(request("GET", "/x"));
          await stale.response();
        } finally {
          stale.close();
        }
      });
      const after = await RawClient.connectTls(server.port, second.cert);
      await after.send(request("GET", "/renewed"));
      assert.equal((await after.response()).body, "GET /renewed");
      after.close();
      // A certificate Deno refuses leaves the current one in place.
      await assert.rejects(server.setTls({ cert: "not a certificate", key: "not a key" }));
      const still = await RawClient.connectTls(server.port, second.cert);
      await still.send(request("GET", "/still"));
      assert.equal((await still.response()).body, "GET /still");
      still.close();
      // A connection accepted before the reload keeps working.
      await before.send(request("GET", "/old"));
      assert.equal((await before.response()).body, "GET /old");
      before.close();
    });
  } finally {
    await server.shutdown(1000);
    await Deno.remove(dir, { recursive: true });
  }
});
