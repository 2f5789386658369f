/**
 * The authorize step's cost on the hot path: 4 KiB GETs (c16, keep-alive) on one flashstor 2+2
 * server, as root (allowed before any policy is read) and as an IAM user with the built-in
 * readwrite policy (every request evaluated, or answered by the decision cache), in alternating
 * rounds, the best round of each kept. Target: the user's throughput ≥ 0.95× root's.
 *
 *   .deno/bin/deno run -A bench/nonroot-get.ts [--rounds 4] [--phase-ms 3000] [--dir /tmp]
 */
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import { BenchClient } from "./signer.ts";
import { ratioOf, roundsBench, smallObjects } from "./load.ts";
import { type RunningTarget, startFlashstor } from "./servers.ts";

export interface NonRootGetRow {
  who: "root" | "user";
  opsPerSecond: number;
  cpuPerOpUs: number;
}

async function createUser(
  target: RunningTarget,
): Promise<{ accessKey: string; secretKey: string }> {
  const iam = new IAMClient({
    endpoint: target.endpoint,
    region: target.region,
    credentials: { accessKeyId: target.accessKey, secretAccessKey: target.secretKey },
  });
  try {
    await iam.send(new CreateUserCommand({ UserName: "bench" }));
    await iam.send(
      new AttachUserPolicyCommand({
        UserName: "bench",
        PolicyArn: "arn:aws:iam::aws:policy/readwrite",
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "bench" }))).AccessKey;
    if (!key?.AccessKeyId || !key.SecretAccessKey) throw new Error("CreateAccessKey: no key");
    return { accessKey: key.AccessKeyId, secretKey: key.SecretAccessKey };
  } finally {
    iam.destroy();
  }
}

export async function measureNonRootGet(
  dir: string,
  plan: { rounds: number; phaseMs: number; count: number },
  log: (message: string) => void,
): Promise<NonRootGetRow[]> {
  const drives = Array.from({ length: 4 }, (_, i) => `${dir}/nonroot-get/d${i + 1}`);
  const target = await startFlashstor("flashstor 2+2", drives);
  try {
    const root = new BenchClient(target);
    await root.createBucket("bench");
    const user = new BenchClient({ ...target, ...await createUser(target) });
    const best = new Map<string, NonRootGetRow>();
    for (let round = 1; round <= plan.rounds; round++) {
      // Alternating order: whoever goes second on this shared machine may run slower.
      const turns = round % 2 === 1 ? ["root", "user"] as const : ["user", "root"] as const;
      for (const who of turns) {
        log(`non-root GET: ${who}, round ${round}`);
        const client = who === "root" ? root : user;
        const get = (await smallObjects(
          client,
          target,
          "bench",
          4096,
          16,
          plan.count,
          plan.phaseMs,
          round * 2 + (who === "root" ? 0 : 1),
          ["GET"],
        )).GET;
        if (!get) throw new Error("no GET figures");
        const seen = best.get(who);
        best.set(who, {
          who,
          opsPerSecond: Math.max(seen?.opsPerSecond ?? 0, get.opsPerSecond),
          cpuPerOpUs: Math.min(seen?.cpuPerOpUs ?? Infinity, get.cpuPerOp ?? Infinity),
        });
      }
    }
    return [best.get("root")!, best.get("user")!];
  } finally {
    await target.stop();
  }
}

if (import.meta.main) {
  await roundsBench("flashstor-nonroot-get-", 400, [], async (dir, plan) => {
    const rows = await measureNonRootGet(dir, plan, (m) => console.error(m));
    const [root, user] = rows;
    console.log("| 4 KiB GET × c16 | ops/s | server CPU per request (µs) |");
    console.log("|---|---|---|");
    for (const row of rows) {
      console.log(`| ${row.who} | ${row.opsPerSecond.toFixed(0)} | ${row.cpuPerOpUs.toFixed(0)} |`);
    }
    console.log(`user / root: ${ratioOf(user, root)}`);
  });
}
