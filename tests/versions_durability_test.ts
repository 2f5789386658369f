/**
 * A versioned bucket's whole history, with real server processes and the JS SDK: several
 * versions and delete markers per key (inline, data-dir and multipart versions) survive a drive
 * wiped under the running server (the drive heal rebuilds every version, found on the drive
 * itself), rot in the shards of an old version (a deep heal through the admin API rewrites them
 * byte for byte), and SIGKILL + restart on the same drives (where a bucket holding only a
 * delete marker still refuses DeleteBucket). Finally two of the four drives are
 * pulled and every version still reads back exact from the wiped drive and one other. The
 * scanner is off: only the heals can have done it.
 */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  equalBytes,
  failure,
  MiB,
  pattern,
  putMultipart,
  waitUntil,
} from "./fault_util.ts";
import { signRequest } from "../src/auth/sign-request.ts";
import type { HealProgress } from "../src/object/layer.ts";
import { decodeXlMeta } from "../src/storage/xl-meta.ts";

const BUCKET = "history";
const QUIET = ["--scanner-interval", "0", "--drive-probe-interval", "1"];

async function admin(server: TestServer, method: string, api: string, query = "") {
  const path = `/flashstor/admin/v1/${api}`;
  const headers = signRequest(
    {
      endpoint: server.endpoint,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      region: "us-east-1",
    },
    method,
    path,
    query,
  );
  const response = await fetch(`${server.endpoint}${path}${query ? `?${query}` : ""}`, {
    method,
    headers,
  });
  assertEquals(response.status, 200);
  return await response.json();
}

/** What was written: the bytes of each version, and the delete markers, by version id. */
interface History {
  versions: Map<string, { key: string; bytes: Uint8Array }>;
  markers: Map<string, string>;
}

async function putVersion(s3: S3Client, history: History, key: string, bytes: Uint8Array) {
  const out = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
  history.versions.set(out.VersionId!, { key, bytes });
  return out.VersionId!;
}

async function deleteKey(s3: S3Client, history: History, key: string, versionId?: string) {
  const out = await s3.send(
    new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }),
  );
  if (versionId) history.versions.delete(versionId);
  else history.markers.set(out.VersionId!, key);
}

/** Keys with several versions and markers each; the old version of "doc" lives in a data dir. */
async function populate(s3: S3Client): Promise<History & { oldDoc: string }> {
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await s3.send(
    new PutBucketVersioningCommand({
      Bucket: BUCKET,
      VersioningConfiguration: { Status: "Enabled" },
    }),
  );
  const history: History = { versions: new Map(), markers: new Map() };
  const oldDoc = await putVersion(s3, history, "doc", pattern(600_000, 1));
  await putVersion(s3, history, "doc", pattern(3000, 2));
  await deleteKey(s3, history, "doc");
  await putVersion(s3, history, "doc", pattern(900_001, 3));
  await putVersion(s3, history, "dir/a", pattern(10, 4));
  await deleteKey(s3, history, "dir/a");
  await putVersion(s3, history, "dir/b", pattern(100, 5));
  await putVersion(s3, history, "dir/b", pattern(MiB + 7, 6));
  await putVersion(s3, history, "dir/b", pattern(0, 7));
  const gone = await putVersion(s3, history, "gone", pattern(200, 8));
  await putVersion(s3, history, "gone", pattern(300, 9));
  await deleteKey(s3, history, "gone", gone);
  const parts = [pattern(5 * MiB, 10), pattern(1000, 11)];
  await putMultipart(s3, BUCKET, "mp", parts);
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "mp" }));
  history.versions.set(head.VersionId!, {
    key: "mp",
    bytes: new Uint8Array([...parts[0], ...parts[1]]),
  });
  await putVersion(s3, history, "mp", pattern(50, 12));
  await deleteKey(s3, history, "mp");
  return { ...history, oldDoc };
}

/** Every version and marker as ListObjectVersions pages them (3 at a time), sorted. */
async function listed(s3: S3Client): Promise<string[]> {
  const entries: string[] = [];
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  for (let page = 0; page < 100; page++) {
    const out = await s3.send(
      new ListObjectVersionsCommand({
        Bucket: BUCKET,
        MaxKeys: 3,
        KeyMarker: keyMarker,
        VersionIdMarker: versionIdMarker,
      }),
    );
    for (const v of out.Versions ?? []) entries.push(`${v.Key} ${v.VersionId} ${v.IsLatest}`);
    for (const m of out.DeleteMarkers ?? []) {
      entries.push(`${m.Key} ${m.VersionId} ${m.IsLatest} marker`);
    }
    if (!out.IsTruncated) return entries.sort();
    keyMarker = out.NextKeyMarker;
    versionIdMarker = out.NextVersionIdMarker;
  }
  throw new Error("listing did not end within 100 pages");
}

/** Every version reads back exact; a marker's version answers 405, a key under one 404. */
async function expectHistory(s3: S3Client, history: History, listing: string[]) {
  assertEquals(await listed(s3), listing);
  for (const [versionId, { key, bytes }] of history.versions) {
    const out = await s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId }),
    );
    const got = await out.Body!.transformToByteArray();
    assert(equalBytes(got, bytes), `${key} ${versionId}: ${got.byteLength} bytes`);
  }
  for (const [versionId, key] of history.markers) {
    const refused = await failure(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versionId })),
    );
    assertEquals(refused.status, 405, `${key} ${versionId}`);
  }
  const deleted = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "dir/a" })));
  assertEquals(deleted, { status: 404, code: "NoSuchKey" });
}

/** The version ids of every key in one drive's own xl.meta files. */
async function driveHistory(drive: string, keys: string[]): Promise<string> {
  const out: string[] = [];
  for (const key of keys) {
    const raw = await Deno.readFile(`${drive}/${BUCKET}/${key}/xl.meta`).catch(() => undefined);
    let ids: string[] = [];
    try {
      ids = raw ? decodeXlMeta(raw).versions.map((v) => v.versionId) : [];
    } catch { /* torn or being rewritten: not there yet */ }
    out.push(`${key}: ${ids.join(",")}`);
  }
  return out.join("\n");
}

Deno.test("versions: a bucket's whole history survives a wiped drive, rotten old shards and SIGKILL", async () => {
  let server = await startServer({ args: QUIET });
  try {
    let s3 = client(server);
    const history = await populate(s3);
    const listing = await listed(s3);
    assertEquals(listing.length, history.versions.size + history.markers.size);
    const keys = [...new Set([...history.versions.values()].map((v) => v.key))].sort();
    const [d1, d2, , d4] = server.drives;
    const want = await driveHistory(d1, keys);

    // 1. A drive wiped under the running server: the drive heal rebuilds every version on it.
    for await (const entry of Deno.readDir(d4)) {
      await Deno.remove(`${d4}/${entry.name}`, { recursive: true });
    }
    await waitUntil("every version back on the wiped drive", async () => {
      return await driveHistory(d4, keys) === want;
    }, 60_000);
    await waitUntil("the drive heal done", async () => {
      const tasks = (await admin(server, "GET", "info")).healTasks as HealProgress[];
      return tasks.some((t) => t.kind === "drive" && t.state === "done");
    }, 60_000);

    // 2. Rot in the shards of an old version on two drives: a deep heal rewrites them.
    const rotten: [string, Uint8Array][] = [];
    for (const drive of [d1, d2]) {
      const meta = decodeXlMeta(await Deno.readFile(`${drive}/${BUCKET}/doc/xl.meta`));
      const dataDir = meta.versions.find((v) => v.versionId === history.oldDoc)!.dataDir;
      const part = `${drive}/${BUCKET}/doc/${dataDir}/part.1`;
      const bytes = await Deno.readFile(part);
      rotten.push([part, bytes.slice()]);
      bytes[1000] ^= 0xff;
      bytes[bytes.byteLength - 2] ^= 0x0f;
      await Deno.writeFile(part, bytes);
    }
    const started = await admin(server, "POST", "heal", `bucket=${BUCKET}&deep=true`);
    let heal: HealProgress = started;
    await waitUntil("the deep heal done", async () => {
      heal = await admin(server, "GET", `heal/${started.id}`);
      return heal.state !== "running";
    }, 60_000);
    assertEquals([heal.state, heal.objectsFailed], ["done", 0]);
    assert(heal.objectsHealed >= 1, JSON.stringify(heal));
    for (const [part, original] of rotten) {
      assert(equalBytes(await Deno.readFile(part), original), `${part} rewritten as encoded`);
    }

    // 3. SIGKILL, then a start on the same drives.
    await server.kill();
    server = await startServer({ dir: server.dir, args: QUIET });
    s3 = client(server);
    await expectHistory(s3, history, listing);
    // A bucket holding nothing but a delete marker is not empty.
    await s3.send(new CreateBucketCommand({ Bucket: "markers" }));
    await s3.send(
      new PutBucketVersioningCommand({
        Bucket: "markers",
        VersioningConfiguration: { Status: "Enabled" },
      }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: "markers", Key: "never-written" }));
    assertEquals(
      await failure(s3.send(new DeleteBucketCommand({ Bucket: "markers" }))),
      { status: 409, code: "BucketNotEmpty" },
    );

    // 4. Two drives pulled: everything from the wiped drive and the one never touched.
    await server.stop();
    for (const d of [d1, d2]) {
      await Deno.rename(d, `${d}.gone`);
      await Deno.writeTextFile(d, "this drive was pulled\n");
    }
    server = await startServer({ dir: server.dir, args: QUIET });
    await expectHistory(client(server), history, listing);
  } finally {
    await server.cleanup();
  }
});
