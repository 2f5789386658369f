import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { newRequestId, RequestTrace } from "../src/observe/trace.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("request ids are 16 upper-case hex digits, unique and ordered by time", async () => {
  const ids = Array.from({ length: 200_000 }, () => newRequestId());
  for (const id of ids.slice(0, 1000)) assert(/^[0-9A-F]{16}$/.test(id), id);
  assertEquals(new Set(ids).size, ids.length);
  const before = newRequestId();
  await sleep(5);
  const after = newRequestId();
  assert(after > before, `${after} <= ${before}`);
  const ms = Number(BigInt(`0x${after}`) >> 20n);
  assert(Math.abs(ms - Date.now()) < 1000, "the high bits are the time in milliseconds");
});

Deno.test("phase timings add up across entries and count failed phases", async () => {
  const trace = new RequestTrace("0123456789ABCDEF");
  assertEquals(trace.id, "0123456789ABCDEF");
  await trace.time("auth", () => sleep(10));
  const end = trace.begin("storage");
  await sleep(10);
  end();
  end();
  await rejects(trace.time("storage", async () => {
    await sleep(10);
    throw new Error("drive gone");
  }));
  const timings = trace.finish();
  assert(timings.authMs! >= 9 && timings.authMs! < 1000, `auth ${timings.authMs}`);
  assert(timings.storageMs! >= 19 && timings.storageMs! < 1000, `storage ${timings.storageMs}`);
  assert(timings.totalMs >= timings.authMs! + timings.storageMs!);
  await sleep(5);
  assertEquals(trace.finish(), timings, "finish freezes the total");
});

Deno.test("a phase never entered is absent from the timings", () => {
  const timings = new RequestTrace().finish();
  assertEquals(Object.keys(timings), ["totalMs"]);
});
