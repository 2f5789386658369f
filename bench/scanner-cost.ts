/**
 * The background scanner's cost to foreground traffic: two flashstor 2+2 servers run at once
 * on the same file system with the same objects, one with the scanner off, one with it at its
 * most demanding (a new cycle 0.1 s after the last, every object deep-scanned, so it is always
 * working), and take turns serving 4 KiB GETs (c16) and 64 MiB PUTs (c1), the server not
 * measured frozen (SIGSTOP). Each case is measured `rounds` times per server, in alternating
 * order, the best round kept, as the small-object cases are. Throughput on this shared machine
 * drifts by tens of percent; the server's CPU per request is the steadier figure of the cost.
 */
import { BenchClient } from "./signer.ts";
import { largeObjects, MiB, PATTERN, pool, smallObjects } from "./load.ts";
import { processCpuSeconds, type RunningTarget, startFlashstor } from "./servers.ts";

export interface ScannerCostRow {
  case: string;
  unit: string;
  without: number;
  with: number;
  /** CPU figures: the cost is what `with` adds, not what it loses. */
  lowerIsBetter: boolean;
}

export interface ScannerCostPlan {
  rounds: number;
  phaseMs: number;
  smallCount: number;
  /** Objects (4 KiB) and 64 MiB objects the scanner walks besides the benchmark's own. */
  filler: { small: number; large: number };
}

const SCANNER_ON = ["--scanner-interval", "0.1", "--scanner-deep-every", "1"];
const SCANNER_OFF = ["--scanner-interval", "0"];
/** 64 MiB objects per round and server. */
const LARGE_COUNT = 8;

export async function measureScannerCost(
  dir: string,
  plan: ScannerCostPlan,
  log: (message: string) => void,
): Promise<ScannerCostRow[]> {
  const servers: { on: boolean; target: RunningTarget; client: BenchClient }[] = [];
  try {
    for (const on of [false, true]) {
      const drives = Array.from({ length: 4 }, (_, i) => `${dir}/scan-${on}/d${i + 1}`);
      const target = await startFlashstor(
        `flashstor 2+2 scanner ${on ? "on" : "off"}`,
        drives,
        on ? SCANNER_ON : SCANNER_OFF,
      );
      const client = new BenchClient(target);
      servers.push({ on, target, client });
      await client.createBucket("bench");
      await client.createBucket("filler");
      log(`scanner cost: filling ${target.name}`);
      for (let i = 0; i < plan.filler.large; i++) {
        await client.put("filler", `large/${i}`, { size: 64 * MiB, pattern: PATTERN });
      }
      await pool(
        plan.filler.small,
        16,
        (i) => client.put("filler", `small/${i}`, { size: 4096, pattern: PATTERN }),
      );
    }
    // Per case and server: the best round (highest throughput, least CPU).
    const best = new Map<string, number>();
    const keep = (key: string, value: number, lowerIsBetter = false) => {
      const seen = best.get(key);
      if (seen === undefined || (lowerIsBetter ? value < seen : value > seen)) best.set(key, value);
    };
    for (let round = 1; round <= plan.rounds; round++) {
      // Turns alternate (off, on, on, off, …): whichever server goes second runs slower here.
      const turns = round % 2 === 1 ? servers : [...servers].reverse();
      for (const { on, target, client } of turns) {
        log(`scanner cost: ${target.name}, round ${round}`);
        // The other server is frozen meanwhile: its scanner must not take this one's CPU.
        for (const other of servers) {
          Deno.kill(other.target.pid, other.on === on ? "SIGCONT" : "SIGSTOP");
        }
        const small = await smallObjects(
          client,
          target,
          "bench",
          4096,
          16,
          plan.smallCount,
          plan.phaseMs,
          round,
          ["GET"],
        );
        keep(`get-${on}`, small.GET?.opsPerSecond ?? 0);
        keep(`get-cpu-${on}`, small.GET?.cpuPerOp ?? NaN, true);
        const cpu0 = await processCpuSeconds(target.pid);
        const large = await largeObjects(client, target, "bench", 64 * MiB, 1, LARGE_COUNT);
        keep(`put-${on}`, large.putMBps);
        // PUT, GET and DELETE of each object: the server's CPU per object, in ms.
        keep(
          `large-cpu-${on}`,
          (await processCpuSeconds(target.pid) - cpu0) * 1e3 / LARGE_COUNT,
          true,
        );
      }
    }
    const row = (name: string, unit: string, key: string, lowerIsBetter = false) => ({
      case: name,
      unit,
      without: best.get(`${key}-false`)!,
      with: best.get(`${key}-true`)!,
      lowerIsBetter,
    });
    return [
      row("4 KiB GET × c16", "ops/s", "get"),
      row("4 KiB GET × c16, server CPU per request", "µs", "get-cpu", true),
      row("64 MiB PUT × c1", "MB/s", "put"),
      row("64 MiB PUT + GET + DELETE, server CPU per object", "ms", "large-cpu", true),
    ];
  } finally {
    for (const { target } of servers) {
      Deno.kill(target.pid, "SIGCONT");
      await target.stop();
    }
  }
}
