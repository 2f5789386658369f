/**
 * Drive identity, end to end (issue 11 defect 1): a drive wiped (`rm -rf` of its contents,
 * format.json included) while PUTs run is taken offline and never written again while it has
 * no format.json; the next start does not refuse a drive that holds data without format.json:
 * it moves that data aside into a quarantine directory and formats the drive into its old slot.
 */
import { CreateBucketCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { client, type Expected, expectExact, MiB, pattern, put, waitUntil } from "./fault_util.ts";
import { parseExposition } from "./helpers/prometheus.ts";

const BUCKET = "identity";
const TOKEN = "identity-metrics-token";
/** No probe of offline drives during the test: only the identity check acts on the wiped one. */
const env = { FLASHSTOR_DRIVE_PROBE_INTERVAL: "600", FLASHSTOR_METRICS_TOKEN: TOKEN };

/** Every path under `dir` (directories end with "/"), relative to it. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string) => {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = `${rel}${e.name}${e.isDirectory ? "/" : ""}`;
      out.push(path);
      if (e.isDirectory) await visit(path);
    }
  };
  await visit("").catch(() => {});
  return out.sort();
}

async function driveStates(server: TestServer): Promise<Map<string, string>> {
  const response = await fetch(`${server.endpoint}/flashstor/v1/metrics`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const samples = parseExposition(await response.text()).samples;
  return new Map(
    samples.filter((s) => s.name === "flashstor_drive_state" && s.value === 1)
      .map((s) => [s.labels.drive, s.labels.state]),
  );
}

Deno.test("defect 1: a drive wiped under load is never written while it has no format.json; the restart quarantines what it holds and formats it into its slot", async () => {
  let server = await startServer({ env });
  const { dir } = server;
  const wiped = server.drives[0];
  try {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = new Map<string, Expected>();
    const write = async (key: string, size: number, seed: number) => {
      const bytes = pattern(size, seed);
      objects.set(key, { bytes, etag: await put(s3, BUCKET, key, bytes) });
    };
    for (let i = 0; i < 8; i++) await write(`before/${i}`, i % 2 ? 2 * MiB + i : 1000 + i, i);
    const format = await Deno.readFile(`${wiped}/.flashstor.sys/format.json`);

    // Writers keep going while the drive is wiped.
    let writing = true;
    let n = 0;
    const writer = (async () => {
      for (; writing && n < 400; n++) await write(`during/${n}`, n % 3 ? 4000 + n : MiB + n, n);
    })();
    await waitUntil("some writes in flight", () => Promise.resolve(n >= 5));
    for await (const e of Deno.readDir(wiped)) {
      await Deno.remove(`${wiped}/${e.name}`, { recursive: true }).catch(() => {});
    }
    // The identity check runs every second: give it a few (the defect never takes it offline).
    const offline = () => server.output().includes(`drive ${wiped} offline: `);
    for (let i = 0; i < 50 && !offline(); i++) await new Promise((r) => setTimeout(r, 100));
    // Whatever the rm raced with is left; from now on nothing new may appear.
    const left = await tree(wiped);
    const stop = n + 30;
    await waitUntil("30 more PUTs", () => Promise.resolve(n >= stop), 60_000);
    writing = false;
    await writer;
    // Reads find the wiped drive's shards missing and queue heals: those must not write either.
    for (const [key, want] of objects) await expectExact(s3, BUCKET, key, want);
    assertEquals(await tree(wiped), left, "written while it had no format.json");
    assert(offline(), "the wiped drive was not reported offline");
    assertEquals((await driveStates(server)).get(wiped), "offline");

    // What a drive wiped by an older server kept (the defect wrote exactly this).
    await server.stop();
    await Deno.mkdir(`${wiped}/${BUCKET}/before/0`, { recursive: true });
    await Deno.copyFile(
      `${server.drives[1]}/${BUCKET}/before/0/xl.meta`,
      `${wiped}/${BUCKET}/before/0/xl.meta`,
    );
    server = await startServer({ dir, env });
    const log = server.output();
    assertStringIncludes(log, `drive ${wiped} had no format.json but held data: moved it to`);
    assertEquals(await Deno.readFile(`${wiped}/.flashstor.sys/format.json`), format);
    // Moved, not copied nor deleted (a heal may have written the object back since).
    const quarantined = (await tree(`${wiped}/.flashstor.quarantine`)).filter((p) =>
      p.endsWith(`${BUCKET}/before/0/xl.meta`)
    );
    assertEquals(quarantined.length, 1);
    assertEquals(
      await Deno.readFile(`${wiped}/.flashstor.quarantine/${quarantined[0]}`),
      await Deno.readFile(`${server.drives[1]}/${BUCKET}/before/0/xl.meta`),
    );
    assertEquals(await driveStates(server).then((s) => s.get(wiped) !== "offline"), true);
    const s3b = client(server);
    const buckets = await s3b.send(new ListBucketsCommand({}));
    assertEquals(buckets.Buckets?.map((b) => b.Name), [BUCKET]);
    for (const [key, want] of objects) await expectExact(s3b, BUCKET, key, want);
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.cleanup();
  }
});
