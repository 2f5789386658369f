/**
 * Issue 11 defect 4, with real server processes: a drive replaced by an empty one (across a
 * restart, or wiped under the running server) is rebuilt in the background WITHOUT any read or
 * listing — its shard files come back byte for byte — and the drive heal's progress, polled
 * through the admin API, reaches done with the right counts. Then m other drives are taken
 * away and every object still reads back exact. The scanner is off, so only the drive heal
 * can have done it. (Before heal tasks, only a GET or HEAD healed an object.)
 */
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  exists,
  expectAll,
  type Expected,
  fillBucket,
  pattern,
  put,
  restored,
  snapshot,
  waitUntil,
} from "./fault_util.ts";
import { signRequest } from "../src/auth/sign-request.ts";
import type { HealProgress } from "../src/object/layer.ts";
import { decodeXlMeta, latestVersion } from "../src/storage/xl-meta.ts";

const BUCKETS = ["healme", "healtoo"];
const EMPTY_BUCKET = "healempty";
const QUIET = ["--scanner-interval", "0"];
const RECORDS = ".flashstor.sys/config/records";

async function info(
  server: TestServer,
): Promise<{ healTasks: HealProgress[]; drives: { state: string }[] }> {
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
  const response = await fetch(server.endpoint + path, { headers });
  assertEquals(response.status, 200);
  return await response.json();
}

/** Buckets of every shape (fillBucket) and an empty one; what each holds, and d4's files. */
async function populate(server: TestServer) {
  const s3 = client(server);
  const objects = new Map<string, Map<string, Expected>>();
  for (const [i, bucket] of [...BUCKETS, EMPTY_BUCKET].entries()) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    if (bucket !== EMPTY_BUCKET) objects.set(bucket, await fillBucket(s3, bucket, 10 * i, "p/"));
  }
  const drive = server.drives[3];
  const files = new Map<string, Map<string, Uint8Array>>();
  for (const bucket of BUCKETS) files.set(bucket, await snapshot(`${drive}/${bucket}`));
  // The server's own config records (the IAM account) are objects the drive heal rebuilds too.
  files.set(RECORDS, await snapshot(`${drive}/${RECORDS}`));
  const records = [...files.get(RECORDS)!].filter(([path]) => path.endsWith("xl.meta"))
    .map(([, meta]) => latestVersion(decodeXlMeta(meta)).size);
  assert(records.length > 0, "the server keeps config records");
  return { objects, files, records };
}

/** Waits (no S3 request) for every shard file of d4, then checks the drive heal's progress. */
async function expectDriveHealed(
  server: TestServer,
  populated: Awaited<ReturnType<typeof populate>>,
) {
  const drive = server.drives[3];
  await waitUntil("every shard file back on the replaced drive", async () => {
    for (const [dir, files] of populated.files) {
      if (!(await restored(`${drive}/${dir}`, files))) return false;
    }
    return await exists(`${drive}/${EMPTY_BUCKET}`);
  }, 60_000);
  let task: HealProgress | undefined;
  await waitUntil("the drive heal done", async () => {
    task = (await info(server)).healTasks.find((t) => t.kind === "drive" && t.drive === drive);
    return task !== undefined && task.state !== "running";
  });
  const objects = [...populated.objects.values()].flatMap((m) => [...m.values()]);
  const count = objects.length + populated.records.length;
  const bytes = objects.reduce((n, o) => n + o.bytes.byteLength, 0) +
    populated.records.reduce((n, size) => n + size, 0);
  // A config record may be healed first by the read that loads it at start (the drive heal
  // then finds it whole): every object is the drive heal's, records may not be.
  const recordBytes = populated.records.reduce((n, size) => n + size, 0);
  assertEquals(
    [task!.state, task!.objectsScanned, task!.objectsFailed, task!.objectsTotal],
    ["done", count, 0, count],
  );
  const healedRecords = task!.objectsHealed - objects.length;
  assert(healedRecords >= 0 && healedRecords <= populated.records.length, `${healedRecords}`);
  assert(
    task!.bytesHealed >= bytes - recordBytes && task!.bytesHealed <= bytes,
    `${task!.bytesHealed} bytes healed`,
  );
  assertEquals((await info(server)).drives.map((d) => d.state), Array(4).fill("online"));
  assertStringIncludes(server.output(), `heal of drive ${drive} (set 1, drive 4) started`);
  assertStringIncludes(
    server.output(),
    `finished: ${count} objects scanned, ${task!.objectsHealed} healed (${
      task!.bytesHealed
    } bytes), 0 failed`,
  );
  assert(!(await exists(`${drive}/.flashstor.sys/healing.json`)), "the heal's record is removed");
}

/** Restarts without m = 2 other drives: every object reads back exact from d3 and d4. */
async function expectReadableWithoutOthers(
  server: TestServer,
  populated: Awaited<ReturnType<typeof populate>>,
) {
  await server.stop();
  for (const d of server.drives.slice(0, 2)) {
    await Deno.rename(d, `${d}.gone`);
    await Deno.writeTextFile(d, "this drive was pulled\n");
  }
  const degraded = await startServer({ dir: server.dir, args: QUIET });
  try {
    const s3 = client(degraded);
    for (const [bucket, objects] of populated.objects) await expectAll(s3, bucket, objects);
  } finally {
    await degraded.stop();
  }
}

Deno.test("defect 4: a drive replaced by an empty one across a restart is healed without any read", async () => {
  let server = await startServer({ args: QUIET });
  try {
    const populated = await populate(server);
    await server.stop();
    const drive = server.drives[3];
    await Deno.remove(drive, { recursive: true });
    await Deno.mkdir(drive);
    server = await startServer({ dir: server.dir, args: QUIET });
    await expectDriveHealed(server, populated);
    await expectReadableWithoutOthers(server, populated);
  } finally {
    await server.cleanup();
  }
});

Deno.test("defect 4: a drive wiped under the running server is formatted back and healed without any read", async () => {
  const server = await startServer({ args: [...QUIET, "--drive-probe-interval", "1"] });
  try {
    const populated = await populate(server);
    const drive = server.drives[3];
    for await (const entry of Deno.readDir(drive)) {
      await Deno.remove(`${drive}/${entry.name}`, { recursive: true });
    }
    await expectDriveHealed(server, populated);
    await expectReadableWithoutOthers(server, populated);
  } finally {
    await server.cleanup();
  }
});

Deno.test("defect 4: a drive heal killed midway resumes after the restart from its saved position", async () => {
  let server = await startServer({ args: QUIET });
  try {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKETS[0] }));
    const count = 1500;
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < count) {
        const i = next++;
        await put(s3, BUCKETS[0], `k/${String(i).padStart(5, "0")}`, pattern(100, i));
      }
    }));
    await server.stop();
    const drive = server.drives[3];
    await Deno.remove(drive, { recursive: true });
    await Deno.mkdir(drive);
    server = await startServer({ dir: server.dir, args: QUIET });
    // Killed once the heal has saved a position (it saves every second).
    const record = `${drive}/.flashstor.sys/healing.json`;
    let saved: { object: string; objectsScanned: number } | undefined;
    await waitUntil("a saved position", async () => {
      const text = await Deno.readTextFile(record).catch(() => "");
      saved = text ? JSON.parse(text) : undefined;
      return saved !== undefined && saved.object !== "";
    });
    await server.kill();
    // What the killed heal last saved: the resume starts after it.
    saved = JSON.parse(await Deno.readTextFile(record));
    const after = count - 1 - Number(saved!.object.slice("k/".length));
    assert(after > 0, `killed before the end: ${JSON.stringify(saved)}`);
    server = await startServer({ dir: server.dir, args: QUIET });
    await waitUntil("every object on the healed drive", async () => {
      const names = await Array.fromAsync(Deno.readDir(`${drive}/${BUCKETS[0]}/k`)).catch(() => []);
      return names.length === count;
    }, 60_000);
    assertStringIncludes(server.output(), `resumed after ${BUCKETS[0]}/k/`);
    let task: HealProgress | undefined;
    await waitUntil("the resumed heal done", async () => {
      task = (await info(server)).healTasks.find((t) => t.kind === "drive");
      return task?.state === "done";
    });
    // It went on from the saved counts and walked only the objects after the saved position.
    assertEquals(task!.objectsScanned, saved!.objectsScanned + after);
    assertEquals(task!.objectsTotal, saved!.objectsScanned + after);
    assertEquals(task!.objectsFailed, 0);
  } finally {
    await server.cleanup();
  }
});
