import assert from "node:assert/strict";
import { RawClient, request, startEcho } from "./http_client.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A shutdown deadline no test reaches unless shutdown hangs on something already done. */
const DEADLINE_MS = 60_000;

Deno.test("http shutdown: in-flight requests finish, idle ones close, new ones are refused", async () => {
  const server = startEcho();
  const busy = await RawClient.connect(server.port);
  const idle = await RawClient.connect(server.port);
  try {
    await idle.send(request("GET", "/idle"));
    assert.equal((await idle.response()).status, 200);
    await busy.send(request("GET", "/slow?ms=3000"));
    await sleep(100);

    const started = Date.now();
    let stopped = false;
    const stopping = server.shutdown(DEADLINE_MS).then(() => stopped = true);
    const answered = busy.response();
    let busyAnswered = false;
    answered.then(() => busyAnswered = true, () => {});
    assert.ok(await idle.closedWithin(DEADLINE_MS), "idle keep-alive connection not closed");
    assert.ok(!busyAnswered, "the idle connection was closed only after the busy one finished");
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));

    const response = await answered;
    assert.equal(response.body, "slow done");
    assert.equal(response.headers.get("connection"), "close");
    // Done once the in-flight request is: long before the deadline, which only a hang reaches.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([stopping, new Promise((r) => timer = setTimeout(r, DEADLINE_MS / 2))]);
    clearTimeout(timer);
    assert.ok(stopped, "shutdown waited for its deadline with nothing left in flight");
    const took = Date.now() - started;
    assert.ok(took >= 2500, `shutdown took ${took} ms: it did not wait for the in-flight request`);
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
    assert.ok(took >= 250, `shutdown took ${took} ms, less than its deadline`);
    // Cut, not waited for: the handler would have answered "slow done" after 1.5 s.
    await assert.rejects(busy.response());
  } finally {
    busy.close();
    await sleep(1500); // the handler's own timer
  }
});
