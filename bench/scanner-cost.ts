/**
 * The background scanner's cost to foreground traffic: two flashstor 2+2 servers run at once
 * on the same file system with the same objects, one with the scanner off, one with it at its
 * most demanding (a new cycle 0.1 s after the last, every object deep-scanned, so it is always
 * working), and take turns serving 4 KiB GETs (c16) and 64 MiB PUTs (c1), the server not
 * measured frozen (SIGSTOP). Each case is measured `rounds` times per server, in alternating
 * order, the best round kept, as the small-object cases are.
 */
import { BenchClient } from "./signer.ts";
import { largeObjects, MiB, PATTERN, pool, smallObjects } from "./load.ts";
import { type RunningTarget, startFlashstor } from "./servers.ts";

export interface ScannerCostRow {
  case: string;
  unit: string;
  without: number;
  with: number;
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
    const best = new Map<string, number>();
    const keep = (key: string, value: number) => best.set(key, Math.max(best.get(key) ?? 0, value));
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
        const large = await largeObjects(client, target, "bench", 64 * MiB, 1, 8);
        keep(`put-${on}`, large.putMBps);
      }
    }
    return [
      {
        case: "4 KiB GET × c16",
        unit: "ops/s",
        without: best.get("get-false")!,
        with: best.get("get-true")!,
      },
      {
        case: "64 MiB PUT × c1",
        unit: "MB/s",
        without: best.get("put-false")!,
        with: best.get("put-true")!,
      },
    ];
  } finally {
    for (const { target } of servers) {
      Deno.kill(target.pid, "SIGCONT");
      await target.stop();
    }
  }
}
