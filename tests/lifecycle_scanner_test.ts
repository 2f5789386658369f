/**
 * Lifecycle rules applied by the background scanner of a real server whose "day" is 2 s
 * (--lifecycle-day) and whose scanner pauses 1 s between cycles: current versions expire
 * (gone when unversioned, hidden by a delete marker when versioned), noncurrent versions go
 * with NewerNoncurrentVersions kept, a lone delete marker is cleaned up, a suspended bucket's
 * null version is replaced by a null marker, a stale multipart upload is aborted, prefix/tag/size
 * filters and a disabled rule spare what they do not select, and a version under object lock
 * (legal hold, GOVERNANCE retention) is never removed.
 */

import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  type LifecycleRule,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { s3Client, startServer, type TestServer } from "./helpers/server.ts";

/** Long enough for any expected state under load; the rules act within ~3 days (6 s). */
const DEADLINE_MS = 120_000;

async function setRules(client: S3Client, bucket: string, rules: LifecycleRule[]) {
  await client.send(
    new PutBucketLifecycleConfigurationCommand({
      Bucket: bucket,
      LifecycleConfiguration: { Rules: rules },
    }),
  );
}

async function put(client: S3Client, bucket: string, key: string, body: string | Uint8Array) {
  return (await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })))
    .VersionId!;
}

async function exists(client: S3Client, bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) {
      return false;
    }
    throw err;
  }
}

/** A key's versions and markers, newest first: "v:<id>" or "m:<id>". */
async function history(client: S3Client, bucket: string, key: string): Promise<string[]> {
  const listed = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
  const entries = [
    ...(listed.Versions ?? []).map((v) => ({ ...v, tag: "v" })),
    ...(listed.DeleteMarkers ?? []).map((m) => ({ ...m, tag: "m" })),
  ].filter((e) => e.Key === key);
  entries.sort((a, b) => b.LastModified!.getTime() - a.LastModified!.getTime());
  return entries.map((e) => `${e.tag}:${e.VersionId}`);
}

async function uploadsOf(client: S3Client, bucket: string): Promise<string[]> {
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (listed.Uploads ?? []).map((u) => u.Key!);
}

async function eventually(server: TestServer, what: string, check: () => Promise<boolean>) {
  const deadline = Date.now() + DEADLINE_MS;
  while (!await check()) {
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not within ${DEADLINE_MS / 1000} s\n${server.output().slice(-4000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The most removals object lock refused in one cycle, from the lifecycle's cycle lines. */
function keptByLock(server: TestServer): number {
  const counts = [...server.output().matchAll(/lifecycle: .* (\d+) kept by object lock/g)];
  return Math.max(0, ...counts.map((m) => Number(m[1])));
}

function cyclesDone(server: TestServer): number {
  const done = [...server.output().matchAll(/scanner: cycle (\d+) done/g)];
  return done.length === 0 ? 0 : Number(done[done.length - 1][1]);
}

Deno.test("lifecycle scanner: expiry of current and noncurrent versions, markers, uploads, filters and object lock with a 2 s day", async () => {
  const server = await startServer({
    args: ["--scanner-interval", "1s", "--lifecycle-day", "2s"],
  });
  const client = s3Client(server);
  try {
    // Unversioned: an expired object is gone; other prefixes and a disabled rule spare theirs.
    await client.send(new CreateBucketCommand({ Bucket: "plain" }));
    await setRules(client, "plain", [
      { ID: "tmp", Status: "Enabled", Filter: { Prefix: "tmp/" }, Expiration: { Days: 1 } },
      { ID: "off", Status: "Disabled", Filter: { Prefix: "off/" }, Expiration: { Days: 1 } },
    ]);
    for (const key of ["tmp/a", "keep/b", "off/c"]) await put(client, "plain", key, key);

    // Versioned: markers hide expired current versions; noncurrent ones go after a day.
    await client.send(new CreateBucketCommand({ Bucket: "ver" }));
    await client.send(
      new PutBucketVersioningCommand({
        Bucket: "ver",
        VersioningConfiguration: { Status: "Enabled" },
      }),
    );
    await setRules(client, "ver", [
      {
        ID: "cur",
        Status: "Enabled",
        Filter: { And: { Prefix: "cur/", Tags: [{ Key: "expire", Value: "yes" }] } },
        Expiration: { Days: 1 },
      },
      {
        ID: "nc",
        Status: "Enabled",
        Filter: { Prefix: "nc/" },
        NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 1 },
      },
      {
        ID: "dm",
        Status: "Enabled",
        Filter: { Prefix: "dm/" },
        Expiration: { ExpiredObjectDeleteMarker: true },
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      },
      {
        ID: "size",
        Status: "Enabled",
        Filter: { And: { Prefix: "size/", ObjectSizeGreaterThan: 1000 } },
        Expiration: { Days: 1 },
      },
    ]);
    await client.send(
      new PutObjectCommand({ Bucket: "ver", Key: "cur/x", Body: "x", Tagging: "expire=yes" }),
    );
    const curY = await put(client, "ver", "cur/y", "y");
    const nc: string[] = [];
    for (let i = 1; i <= 3; i++) nc.push(await put(client, "ver", "nc/k", `v${i}`));
    await put(client, "ver", "dm/k", "d");
    await client.send(new DeleteObjectCommand({ Bucket: "ver", Key: "dm/k" }));
    await put(client, "ver", "size/big", new Uint8Array(2000));
    const small = await put(client, "ver", "size/small", "small");

    // Suspended: expiry replaces the null version with a null marker; older versions stay.
    await client.send(new CreateBucketCommand({ Bucket: "susp" }));
    const versioning = (Status: "Enabled" | "Suspended") =>
      client.send(
        new PutBucketVersioningCommand({ Bucket: "susp", VersioningConfiguration: { Status } }),
      );
    await versioning("Enabled");
    await put(client, "susp", "k", "kept version");
    await versioning("Suspended");
    const enabledVersion = (await history(client, "susp", "k"))[0];
    await put(client, "susp", "k", "null version");
    await setRules(client, "susp", [
      { ID: "all", Status: "Enabled", Filter: {}, Expiration: { Days: 1 } },
    ]);

    // Object lock: the rules run into versions it protects, which stay.
    await client.send(
      new CreateBucketCommand({ Bucket: "locked", ObjectLockEnabledForBucket: true }),
    );
    await setRules(client, "locked", [
      {
        ID: "all",
        Status: "Enabled",
        Filter: { Prefix: "" },
        Expiration: { Days: 1 },
        NoncurrentVersionExpiration: { NoncurrentDays: 1 },
      },
    ]);
    const held = (await client.send(
      new PutObjectCommand({
        Bucket: "locked",
        Key: "held",
        Body: "held bytes",
        ObjectLockLegalHoldStatus: "ON",
      }),
    )).VersionId!;
    const retained = (await client.send(
      new PutObjectCommand({
        Bucket: "locked",
        Key: "retained",
        Body: "retained bytes",
        ObjectLockMode: "GOVERNANCE",
        ObjectLockRetainUntilDate: new Date(Date.now() + 3_600_000),
      }),
    )).VersionId!;

    // Multipart uploads: only the stale one under the rule's prefix is aborted.
    await client.send(new CreateBucketCommand({ Bucket: "uploads" }));
    await setRules(client, "uploads", [
      {
        ID: "abort",
        Status: "Enabled",
        Filter: { Prefix: "tmp/" },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      },
    ]);
    for (const Key of ["tmp/u", "keep/u"]) {
      await client.send(new CreateMultipartUploadCommand({ Bucket: "uploads", Key }));
    }

    await eventually(server, "tmp/a expired", async () => !await exists(client, "plain", "tmp/a"));
    await eventually(server, "cur/x hidden by a marker", async () => {
      const h = await history(client, "ver", "cur/x");
      return h.length === 2 && h[0].startsWith("m:") && h[1].startsWith("v:");
    });
    await eventually(server, "nc/k's oldest version removed", async () => {
      const h = await history(client, "ver", "nc/k");
      return h.join() === [`v:${nc[2]}`, `v:${nc[1]}`].join();
    });
    await eventually(
      server,
      "dm/k's version and then its lone marker removed",
      async () => (await history(client, "ver", "dm/k")).length === 0,
    );
    await eventually(server, "size/big hidden by a marker", async () => {
      return (await history(client, "ver", "size/big"))[0]?.startsWith("m:") ?? false;
    });
    await eventually(server, "susp/k's null version replaced by a null marker", async () => {
      return (await history(client, "susp", "k")).join() === ["m:null", enabledVersion].join();
    });
    await eventually(server, "tmp/u aborted", async () => {
      return (await uploadsOf(client, "uploads")).join() === "keep/u";
    });
    // Both locked versions are noncurrent and due by now: the layer refuses each cycle.
    await eventually(server, "both locked versions refused", () => {
      return Promise.resolve(keptByLock(server) >= 2);
    });

    // Two more whole cycles: what the rules do not select is still there as it was.
    const seen = cyclesDone(server);
    await eventually(server, "two more scanner cycles", () => {
      return Promise.resolve(cyclesDone(server) >= seen + 2);
    });
    assert(await exists(client, "plain", "keep/b"), "keep/b is under no rule");
    assert(await exists(client, "plain", "off/c"), "off/c is under a disabled rule");
    assertEquals(await history(client, "ver", "cur/y"), [`v:${curY}`]);
    assertEquals(await history(client, "ver", "size/small"), [`v:${small}`]);
    assertEquals(await history(client, "ver", "nc/k"), [`v:${nc[2]}`, `v:${nc[1]}`]);
    assertEquals(await uploadsOf(client, "uploads"), ["keep/u"]);
    for (
      const [key, versionId, body] of [
        ["held", held, "held bytes"],
        ["retained", retained, "retained bytes"],
      ]
    ) {
      const h = await history(client, "locked", key);
      assert(h[0].startsWith("m:"), `${key}: the current version expired behind a marker`);
      assertEquals(h.at(-1), `v:${versionId}`, `${key}: the locked version stays`);
      const got = await client.send(
        new GetObjectCommand({ Bucket: "locked", Key: key, VersionId: versionId }),
      );
      assertEquals(await got.Body!.transformToString(), body);
    }
  } finally {
    client.destroy();
    await server.cleanup();
  }
});
