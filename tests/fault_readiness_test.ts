/**
 * Readiness and metrics tell the truth (issue 11 defect 2), end to end: with 2 of 4 drives
 * remounted read-only under a running server, /flashstor/health/ready answers 503 and the
 * drive metrics say offline; once writable again, the monitor brings them back.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { ignoreWithout, mountsUnavailable } from "./helpers/capabilities.ts";
import { makeReadOnly } from "./helpers/mounts.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { client, expectExact, failure, MiB, pattern, put, waitUntil } from "./fault_util.ts";
import { parseExposition } from "./helpers/prometheus.ts";

const BUCKET = "ready";
const TOKEN = "readiness-metrics-token";

async function ready(server: TestServer): Promise<number> {
  const response = await fetch(`${server.endpoint}/flashstor/health/ready`);
  await response.body?.cancel();
  return response.status;
}

/** drive → [flashstor_drive_online, the state flashstor_drive_state marks with 1]. */
async function drives(server: TestServer): Promise<Map<string, [number, string]>> {
  const response = await fetch(`${server.endpoint}/flashstor/v1/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const samples = parseExposition(await response.text()).samples;
  const out = new Map<string, [number, string]>();
  for (const s of samples.filter((s) => s.name === "flashstor_drive_online")) {
    const state = samples.find((x) =>
      x.name === "flashstor_drive_state" && x.labels.drive === s.labels.drive && x.value === 1
    );
    out.set(s.labels.drive, [s.value, state?.labels.state ?? "none"]);
  }
  return out;
}

const readinessTest =
  "defect 2: 2 of 4 drives remounted read-only → ready 503, drive metrics offline; writable again → ready 200, online";
Deno.test({
  name: readinessTest,
  ignore: ignoreWithout(readinessTest, await mountsUnavailable()),
  async fn() {
    const server = await startServer({
      env: { FLASHSTOR_DRIVE_PROBE_INTERVAL: "0.5", FLASHSTOR_METRICS_TOKEN: TOKEN },
    });
    const [d1, d2, d3, d4] = server.drives;
    const mounted: (() => Promise<void>)[] = [];
    try {
      const s3 = client(server);
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const bytes = pattern(2 * MiB, 1);
      const etag = await put(s3, BUCKET, "kept", bytes);
      assertEquals(await ready(server), 200);

      for (const d of [d1, d2]) {
        mounted.push(await makeReadOnly(d));
      }
      assertEquals((await failure(put(s3, BUCKET, "refused", pattern(1000, 2)))).status, 503);
      await waitUntil("ready to answer 503", async () => await ready(server) === 503, 15_000);
      const states = await drives(server);
      assertEquals(states.get(d1), [0, "offline"]);
      assertEquals(states.get(d2), [0, "offline"]);
      assertEquals(states.get(d3), [1, "online"]);
      assertEquals(states.get(d4), [1, "online"]);
      assert(server.output().includes(`drive ${d1} offline: `), "no log line for the lost drive");
      // Reads still have their quorum.
      await expectExact(s3, BUCKET, "kept", { bytes, etag });

      for (const undo of mounted.splice(0)) await undo();
      await waitUntil("ready to answer 200 again", async () => await ready(server) === 200, 15_000);
      assertEquals((await drives(server)).get(d1), [1, "online"]);
      assert(server.output().includes(`drive ${d1} back online`));
      const again = pattern(1000, 3);
      await expectExact(s3, BUCKET, "again", {
        bytes: again,
        etag: await put(s3, BUCKET, "again", again),
      });
    } catch (err) {
      console.error(server.output().slice(-4000));
      throw err;
    } finally {
      for (const undo of mounted) await undo();
      await server.cleanup();
    }
  },
});
