/**
 * The heal queue survives a crash: objects written while a drive was offline are queued and
 * journaled on the other drives; the server is SIGKILLed before it could heal them (the drive
 * is still away); once the drive is back and the server restarted, they are healed without any
 * read or listing (their shard files appear on the drive) and the journal empties. The scanner
 * is off, so only the queue can have done it. (Before: the queue lived in memory only.)
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { assertEquals } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";
import { client, expectExact, MiB, pattern, put, waitUntil } from "./fault_util.ts";
import { signRequest } from "../src/auth/sign-request.ts";

const BUCKET = "mrfbkt";
const QUIET = ["--scanner-interval", "0"];
const SIZES = [0, 100, 5000, 200 * 1024, 2 * MiB + 3, 5 * MiB];

/** The entries of a directory; none when it does not exist. */
async function entries(dir: string): Promise<Deno.DirEntry[]> {
  return await Array.fromAsync(Deno.readDir(dir)).catch(() => []);
}

/** Object names in every journal segment of a drive. */
async function journaled(drive: string): Promise<Set<string>> {
  const names = new Set<string>();
  const dir = `${drive}/.flashstor.sys/mrf`;
  for (const entry of await entries(dir)) {
    const text = await Deno.readTextFile(`${dir}/${entry.name}`).catch(() => "");
    if (!text) continue;
    for (const [, object] of JSON.parse(text).objects as [string, string][]) names.add(object);
  }
  return names;
}

/** Relative paths of the files under a drive's bucket directory. */
async function filesOf(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await entries(`${dir}/${rel}`)) {
    const path = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await filesOf(dir, path));
    else out.push(path);
  }
  return out.sort();
}

async function queueLength(server: TestServer): Promise<number> {
  const path = "/flashstor/admin/v1/info";
  const headers = signRequest(
    {
      endpoint: server.endpoint,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      region: "us-east-1",
    },
    "GET",
    path,
  );
  return (await (await fetch(server.endpoint + path, { headers })).json()).healQueueLength;
}

Deno.test("heal queue: objects degraded before a SIGKILL are healed after the restart, without a read", async () => {
  let server = await startServer({ args: QUIET });
  const { dir, drives } = server;
  try {
    await client(server).send(new CreateBucketCommand({ Bucket: BUCKET }));
    await server.stop();
    // The fourth drive goes away: a file stands where it was.
    await Deno.rename(drives[3], `${drives[3]}.away`);
    await Deno.writeTextFile(drives[3], "pulled\n");
    server = await startServer({ dir, args: QUIET });
    const s3 = client(server);
    const objects = new Map(SIZES.map((size, i) => [`obj-${i}`, pattern(size, i)]));
    const etags = new Map<string, string>();
    for (const [key, bytes] of objects) etags.set(key, await put(s3, BUCKET, key, bytes));
    await waitUntil("every degraded object journaled", async () => {
      const names = await journaled(drives[0]);
      return [...objects.keys()].every((k) => names.has(k));
    });
    assertEquals(await queueLength(server), objects.size, "retried, not dropped");
    await server.kill();

    await Deno.remove(drives[3]);
    await Deno.rename(`${drives[3]}.away`, drives[3]);
    server = await startServer({ dir, args: QUIET });
    const expected = await filesOf(`${drives[0]}/${BUCKET}`);
    await waitUntil("the objects' files on the returned drive", async () => {
      const files = await filesOf(`${drives[3]}/${BUCKET}`);
      return JSON.stringify(files) === JSON.stringify(expected);
    }, 30_000);
    await waitUntil("the journal emptied", async () => {
      for (const d of drives.slice(0, 3)) if ((await journaled(d)).size > 0) return false;
      return await queueLength(server) === 0;
    });
    await server.stop();

    // Without two other drives, the healed one serves its shards: every object is exact.
    for (const d of drives.slice(0, 2)) {
      await Deno.rename(d, `${d}.gone`);
      await Deno.writeTextFile(d, "pulled\n");
    }
    server = await startServer({ dir, args: QUIET });
    for (const [key, bytes] of objects) {
      await expectExact(client(server), BUCKET, key, { bytes, etag: etags.get(key)! });
    }
  } finally {
    await server.cleanup();
  }
});
