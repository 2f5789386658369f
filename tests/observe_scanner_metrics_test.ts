/**
 * The scanner's figures as metrics: running totals become counters that grow by what the
 * totals grew between scrapes, usage gauges follow the last cycle (a bucket gone is dropped).
 */
import { assertEquals } from "./helpers/assert.ts";
import { Metrics } from "../src/observe/metrics.ts";
import type { ScannerFigures } from "../src/observe/scanner-metrics.ts";
import { parseExposition, value } from "./helpers/prometheus.ts";

Deno.test("scanner metrics: counters from running totals, usage gauges from the last cycle", async () => {
  const updated = new Date();
  let figures: ScannerFigures = {
    status: {
      running: false,
      cycles: 0,
      objectsDamaged: 0,
      garbageDataDirs: 0,
      garbageTempEntries: 0,
      garbageBytes: 0,
      uploadsExpired: 0,
    },
    usage: [],
  };
  const metrics = new Metrics({ scanner: () => figures });
  let e = parseExposition(await metrics.render());
  assertEquals(value(e, "flashstor_scanner_cycles_total", {}), 0);
  assertEquals(value(e, "flashstor_garbage_removed_total", { kind: "data_dir" }), 0);

  figures = {
    status: {
      running: true,
      cycles: 2,
      lastCycle: { started: updated, durationMs: 1500, objects: 10 },
      objectsDamaged: 3,
      garbageDataDirs: 4,
      garbageTempEntries: 1,
      garbageBytes: 4096,
      uploadsExpired: 2,
    },
    usage: [
      { bucket: "photos", objects: 7, bytes: 7000, updated },
      { bucket: "logs", objects: 3, bytes: 30, updated },
    ],
  };
  await metrics.render();
  figures = {
    ...figures,
    status: { ...figures.status, cycles: 3, objectsDamaged: 4 },
    usage: [{ bucket: "photos", objects: 8, bytes: 8000, updated }],
  };
  e = parseExposition(await metrics.render());
  assertEquals(e.types.get("flashstor_scanner_cycles_total"), "counter");
  assertEquals(value(e, "flashstor_scanner_cycles_total", {}), 3);
  assertEquals(value(e, "flashstor_scanner_objects_damaged_total", {}), 4);
  assertEquals(value(e, "flashstor_scanner_last_cycle_seconds", {}), 1.5);
  assertEquals(value(e, "flashstor_garbage_removed_total", { kind: "data_dir" }), 4);
  assertEquals(value(e, "flashstor_garbage_removed_total", { kind: "temp" }), 1);
  assertEquals(value(e, "flashstor_garbage_removed_total", { kind: "upload" }), 2);
  assertEquals(value(e, "flashstor_garbage_removed_bytes_total", {}), 4096);
  assertEquals(value(e, "flashstor_bucket_objects", { bucket: "photos" }), 8);
  assertEquals(value(e, "flashstor_bucket_bytes", { bucket: "photos" }), 8000);
  assertEquals(value(e, "flashstor_bucket_objects", { bucket: "logs" }), undefined);
});
