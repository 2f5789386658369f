/**
 * A stuck drive, end to end: a shard file replaced by a FIFO makes the drive's open of it block
 * for good (as a hung disk does), in the real server. The GET is answered from the other drives
 * once that drive's deadline passes, the drive is reported offline, and the monitor brings it
 * back once it answers again.
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { assert } from "./helpers/assert.ts";
import { startServer } from "./helpers/server.ts";
import {
  client,
  expectExact,
  metaPath,
  MiB,
  parseMeta,
  partPath,
  pattern,
  put,
  waitUntil,
} from "./fault_util.ts";

const BUCKET = "stuck";
/** Far beyond the drive deadline (5 s): a GET still running then is stalled. */
const STALLED_MS = 30_000;

async function unstalled<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} stalled`)), STALLED_MS);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a drive whose shard read blocks for good: the GET is answered from the others, the drive goes offline and comes back", async () => {
  const server = await startServer({ env: { FLASHSTOR_DRIVE_PROBE_INTERVAL: "1" } });
  let fifo: string | undefined;
  try {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const bytes = pattern(3 * MiB + 5, 1);
    const want = { bytes, etag: await put(s3, BUCKET, "obj", bytes) };
    // The drive holding data shard 1: reads go to it first.
    let holder = "";
    for (const d of server.drives) {
      const { version } = parseMeta(await Deno.readFile(metaPath(d, BUCKET, "obj")));
      if (version.erasure.index === 1) holder = d;
    }
    fifo = await partPath(holder, BUCKET, "obj");
    await Deno.remove(fifo);
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert(made.success, "mkfifo");

    await unstalled("GET with a stuck drive", expectExact(s3, BUCKET, "obj", want));
    assert(server.output().includes(`drive ${holder} offline: `), "no offline line");
    // Once its stuck read is released, the drive answers and the probe brings it back.
    const writer = await Deno.open(fifo, { write: true });
    writer.close();
    await Deno.remove(fifo);
    await waitUntil(
      "the drive back online",
      () => Promise.resolve(server.output().includes(`drive ${holder} back online`)),
    );
    await unstalled("GET once back", expectExact(s3, BUCKET, "obj", want));
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.cleanup();
  }
});
