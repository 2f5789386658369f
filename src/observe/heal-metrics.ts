/**
 * Heals as Prometheus metrics, pulled at scrape time from StorageInfo.heals: the layer's running
 * totals (heal queue and heal tasks together) become counters, increased by what they grew
 * since the last scrape; heal tasks by state a gauge.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { StorageInfo } from "../object/layer.ts";

type HealFigures = NonNullable<StorageInfo["heals"]>;
type Result = "healed" | "failed" | "clean";

export class HealMetrics {
  readonly #objects: Counter<"result">;
  readonly #bytes: Counter;
  readonly #tasks: Gauge<"state">;
  readonly #seen = new Map<string, number>();

  constructor(registers: Registry[]) {
    this.#objects = new Counter({
      name: "flashstor_heal_objects_total",
      help: "Objects heals checked: healed (some drive rewritten), failed, clean (nothing to do)",
      labelNames: ["result"] as const,
      registers,
    });
    this.#bytes = new Counter({
      name: "flashstor_heal_bytes_total",
      help: "Bytes of the objects healed (object sizes, not shard bytes written)",
      registers,
    });
    this.#tasks = new Gauge({
      name: "flashstor_heal_tasks",
      help: "Heal tasks (administrator and drive heals) by state, finished ones while kept",
      labelNames: ["state"] as const,
      registers,
    });
  }

  update(figures: HealFigures): void {
    for (const result of ["healed", "failed", "clean"] as Result[]) {
      // Always inc (by 0 too), so that every series exists before the first heal.
      this.#objects.inc({ result }, this.#growth(result, figures[result]));
    }
    this.#bytes.inc(this.#growth("bytes", figures.bytes));
    for (const [state, count] of Object.entries(figures.tasks)) this.#tasks.set({ state }, count);
  }

  /** How much a running total grew since the last scrape. */
  #growth(name: string, total: number): number {
    const grown = Math.max(0, total - (this.#seen.get(name) ?? 0));
    this.#seen.set(name, Math.max(total, this.#seen.get(name) ?? 0));
    return grown;
  }
}
