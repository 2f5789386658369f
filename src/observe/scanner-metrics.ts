/**
 * The background scanner's figures as Prometheus metrics, pulled at scrape time: its running
 * totals become counters (increased by what they grew since the last scrape), the last cycle's
 * duration and each bucket's usage gauges.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { BucketUsage, ScannerStatus } from "../object/layer.ts";

export interface ScannerFigures {
  status: ScannerStatus & { garbageTempEntries?: number };
  usage: BucketUsage[];
}

type GarbageKind = "data_dir" | "temp" | "upload";

export class ScannerMetrics {
  readonly #cycles: Counter;
  readonly #lastCycle: Gauge;
  readonly #damaged: Counter;
  readonly #garbage: Counter<"kind">;
  readonly #garbageBytes: Counter;
  readonly #objects: Gauge<"bucket">;
  readonly #bytes: Gauge<"bucket">;
  readonly #seen = new Map<string, number>();

  constructor(registers: Registry[]) {
    this.#cycles = new Counter({
      name: "flashstor_scanner_cycles_total",
      help: "Background scanner cycles completed",
      registers,
    });
    this.#lastCycle = new Gauge({
      name: "flashstor_scanner_last_cycle_seconds",
      help: "Duration of the last completed scanner cycle",
      registers,
    });
    this.#damaged = new Counter({
      name: "flashstor_scanner_objects_damaged_total",
      help: "Objects the scanner found damaged (missing or rotted shards, stale metadata)",
      registers,
    });
    this.#garbage = new Counter({
      name: "flashstor_garbage_removed_total",
      help: "Garbage removed by the scanner: data_dir, temp (entries), upload (expired)",
      labelNames: ["kind"] as const,
      registers,
    });
    this.#garbageBytes = new Counter({
      name: "flashstor_garbage_removed_bytes_total",
      help: "Bytes of the data dirs and temp entries the scanner removed",
      registers,
    });
    this.#objects = new Gauge({
      name: "flashstor_bucket_objects",
      help: "Objects in the bucket, as the scanner's last cycle counted them",
      labelNames: ["bucket"] as const,
      registers,
    });
    this.#bytes = new Gauge({
      name: "flashstor_bucket_bytes",
      help: "Bytes of the bucket's objects, as the scanner's last cycle counted them",
      labelNames: ["bucket"] as const,
      registers,
    });
  }

  update({ status, usage }: ScannerFigures): void {
    this.#grow("cycles", status.cycles, (n) => this.#cycles.inc(n));
    this.#grow("damaged", status.objectsDamaged, (n) => this.#damaged.inc(n));
    const garbage: [GarbageKind, number][] = [
      ["data_dir", status.garbageDataDirs],
      ["temp", status.garbageTempEntries ?? 0],
      ["upload", status.uploadsExpired],
    ];
    for (const [kind, total] of garbage) {
      this.#grow(kind, total, (n) => this.#garbage.inc({ kind }, n));
    }
    this.#grow("bytes", status.garbageBytes, (n) => this.#garbageBytes.inc(n));
    if (status.lastCycle) this.#lastCycle.set(status.lastCycle.durationMs / 1000);
    this.#objects.reset();
    this.#bytes.reset();
    for (const u of usage) {
      this.#objects.set({ bucket: u.bucket }, u.objects);
      this.#bytes.set({ bucket: u.bucket }, u.bytes);
    }
  }

  /** Increases a counter by what its total grew (by 0 too, so that the series exists). */
  #grow(name: string, total: number, inc: (n: number) => void): void {
    const seen = this.#seen.get(name) ?? 0;
    inc(Math.max(0, total - seen));
    this.#seen.set(name, Math.max(seen, total));
  }
}
