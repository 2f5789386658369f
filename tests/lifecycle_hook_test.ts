/**
 * BucketLifecycle in process, driven by the scanner one cycle at a time with a clock moved
 * ahead instead of a short day: an object overwritten after its versions were read is not
 * expired on the strength of the old reading, a noncurrent version under legal hold is refused
 * by the object layer (counted, kept) while its unlocked sibling goes, and a cycle says what
 * the rules did in one line.
 */

import { BucketLifecycle } from "../src/bucket/lifecycle-scanner.ts";
import { parseLifecycle } from "../src/bucket/lifecycle.ts";
import { ConfigBucketMetadataStore } from "../src/bucket/metadata-store.ts";
import { LOCK_LEGAL_HOLD } from "../src/object/object-lock.ts";
import { Scanner } from "../src/object/scanner.ts";
import { parseXml } from "../src/s3/xml.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { BUCKET, deployment, put, testBytes } from "./fixtures/object_env.ts";
import { ObjectNotFound } from "../src/object/errors.ts";

const DAY = 86_400_000;

/** Versions written in one millisecond would be ordered by id, not by the order written. */
async function nextMillisecond(after: Date): Promise<void> {
  for (let i = 0; i < 100 && Date.now() <= after.getTime(); i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
}

async function setup(rules: string) {
  const env = await deployment(1, 4, 2);
  const buckets = new ConfigBucketMetadataStore(env.layer);
  env.layer.setBucketVersioning(buckets);
  await buckets.update(BUCKET, (current) => ({
    ...current,
    lifecycle: parseLifecycle(
      parseXml(
        `<LifecycleConfiguration><Rule><ID>r</ID><Filter/><Status>Enabled</Status>${rules}` +
          `</Rule></LifecycleConfiguration>`,
      ),
    ),
  }));
  const lines: string[] = [];
  let now = Date.now();
  const lifecycle = new BucketLifecycle(buckets, env.layer, {
    dayMs: DAY,
    log: (line) => lines.push(line),
    now: () => now,
  });
  const scanner = new Scanner(env.layer.sets, {
    intervalMs: 0,
    deepEvery: 0,
    garbageAgeMs: 0,
    uploadExpiryMs: 0,
    busy: () => false,
    sleepFactor: 0,
    log: (line) => lines.push(line),
    lifecycle,
  });
  return {
    ...env,
    buckets,
    lifecycle,
    scanner,
    lines,
    later: (days: number) => now += days * DAY,
  };
}

Deno.test("lifecycle hook: an object overwritten since its versions were read is not expired by that reading", async () => {
  const env = await setup("<Expiration><Days>1</Days></Expiration>");
  try {
    await put(env.layer, "k", testBytes(10, 1));
    const read = await env.layer.sets[0].objectVersions(BUCKET, "k");
    await put(env.layer, "k", testBytes(10, 2));
    env.later(3);
    const step = await env.lifecycle.bucket(BUCKET);
    assert(step !== undefined, "the bucket's rule applies to objects");
    await step(read);
    assertEquals((await env.layer.getObjectInfo(BUCKET, "k")).size, 10);
    await step(await env.layer.sets[0].objectVersions(BUCKET, "k"));
    await assertRejects(() => env.layer.getObjectInfo(BUCKET, "k"), ObjectNotFound);
    assertEquals(await env.lifecycle.bucket("other-bucket"), undefined);
  } finally {
    await env.close();
  }
});

Deno.test("lifecycle hook: a scanner cycle removes the unlocked noncurrent version, counts the locked one and keeps it", async () => {
  const env = await setup(
    "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration>",
  );
  try {
    await env.buckets.update(BUCKET, (current) => ({ ...current, versioning: "Enabled" }));
    const held = await put(env.layer, "k", testBytes(10, 1), { [LOCK_LEGAL_HOLD]: "ON" });
    await nextMillisecond(held.modTime);
    const free = await put(env.layer, "k", testBytes(10, 2));
    await nextMillisecond(free.modTime);
    const current = await put(env.layer, "k", testBytes(10, 3));
    await env.scanner.cycle();
    assertEquals((await env.layer.sets[0].objectVersions(BUCKET, "k")).length, 3, "not due yet");
    env.later(3);
    await env.scanner.cycle();
    const left = await env.layer.sets[0].objectVersions(BUCKET, "k");
    assertEquals(left.map((v) => v.versionId), [current.versionId, held.versionId]);
    assert(
      env.lines.includes(
        "flashstor: lifecycle: 0 expired, 1 versions removed, 0 uploads aborted, " +
          "1 kept by object lock",
      ),
      env.lines.join("\n"),
    );
  } finally {
    await env.close();
  }
});
