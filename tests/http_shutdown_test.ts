import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("http shutdown: in-flight requests finish, idle ones close, new ones are refused", async () => {
  const server = startEcho();
  const busy = await RawClient.connect(server.port);
  const idle = await RawClient.connect(server.port);
  try {
    await idle.send(request("GET", "/idle"));
    assert.equal((await idle.response()).status, 200);
    await busy.send(request("GET", "/slow?ms=800"));
    await sleep(100);

    const started = Date.now();
    const stopping = server.shutdown(5000);
    assert.ok(await idle.closedWithin(500), "idle keep-alive connection not closed at once");
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));

    const response = await busy.response();
    assert.equal(response.body, "slow done");
    assert.equal(response.headers.get("connection"), "close");
    await stopping;
    const took = Date.now() - started;
    assert.ok(took >= 600 && took < 3000, `shutdown took ${took} ms`);
  } finally {
    busy.close();
    idle.close();
    await server.shutdown(100);
  }
});

Deno.test("http shutdown: requests still running at the deadline are cut off", async () => {
  const server = startEcho();
  const busy = await RawClient.connect(server.port);
  try {
    await busy.send(request("GET", "/slow?ms=1500"));
    await sleep(100);
    const started = Date.now();
    await server.shutdown(300);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 2000, `shutdown took ${took} ms`);
    await assert.rejects(busy.response());
  } finally {
    busy.close();
    await sleep(1500); // the handler's own timer
  }
});
