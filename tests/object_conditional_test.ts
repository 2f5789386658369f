/**
 * Conditional writes in the object layer: If-None-Match: * and If-Match on PUT, Complete and
 * Copy, checked before the body (PreconditionFailed) and again under the object's write lock
 * (ConditionalRequestConflict), so that of two concurrent create-only PUTs exactly one wins.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import {
  ConditionalRequestConflict,
  ObjectNotFound,
  PreconditionFailed,
} from "../src/object/errors.ts";
import type { BucketVersioning, WritePreconditions } from "../src/object/layer.ts";
import type { Pools } from "../src/object/pools.ts";
import {
  BUCKET,
  type Deployment,
  deployment,
  equalBytes,
  get,
  streamOf,
  testBytes,
} from "./fixtures/object_env.ts";

const MiB = 1024 * 1024;

async function withLayer(fn: (env: Deployment) => Promise<void>): Promise<void> {
  const env = await deployment(1, 4, 2);
  try {
    await fn(env);
  } finally {
    await env.close();
  }
}

function put(layer: Pools, name: string, data: Uint8Array, preconditions?: WritePreconditions) {
  return layer.putObject(BUCKET, name, streamOf(data), {
    size: data.byteLength,
    metadata: {},
    preconditions,
  });
}

Deno.test("If-None-Match: * writes only where no current version is", async () => {
  await withLayer(async ({ layer }) => {
    await put(layer, "k", testBytes(10, 1), { ifNoneMatch: "*" });
    await assertRejects(
      () => put(layer, "k", testBytes(10, 2), { ifNoneMatch: "*" }),
      PreconditionFailed,
    );
    await assertRejects(
      () => put(layer, "k", testBytes(3 * MiB, 2), { ifNoneMatch: "*" }),
      PreconditionFailed,
    );
    assert(equalBytes(await get(layer, "k"), testBytes(10, 1)));
    // Behind a delete marker there is no current version.
    const enabled: BucketVersioning = { versioning: () => Promise.resolve("Enabled") };
    layer.setBucketVersioning(enabled);
    await layer.deleteObject(BUCKET, "k");
    await put(layer, "k", testBytes(10, 3), { ifNoneMatch: "*" });
    assert(equalBytes(await get(layer, "k"), testBytes(10, 3)));
  });
});

Deno.test("If-Match: the current ETag (quotes ignored) or PreconditionFailed; NoSuchKey when absent", async () => {
  await withLayer(async ({ layer }) => {
    const first = await put(layer, "k", testBytes(10, 1));
    await assertRejects(
      () => put(layer, "k", testBytes(10, 2), { ifMatch: '"0123456789abcdef0123456789abcdef"' }),
      PreconditionFailed,
    );
    const second = await put(layer, "k", testBytes(10, 2), { ifMatch: `"${first.etag}"` });
    await assertRejects(
      () => put(layer, "k", testBytes(10, 3), { ifMatch: first.etag }),
      PreconditionFailed,
    );
    await put(layer, "k", testBytes(10, 3), { ifMatch: second.etag });
    await assertRejects(
      () => put(layer, "none", testBytes(10, 4), { ifMatch: first.etag }),
      ObjectNotFound,
    );
    await assertRejects(() => get(layer, "none"), ObjectNotFound);
  });
});

Deno.test("two concurrent If-None-Match: * PUTs of one key: exactly one wins, the other conflicts", async () => {
  await withLayer(async ({ layer }) => {
    for (const size of [100, 3 * MiB]) {
      const name = `race-${size}`;
      // A PUT reads its body only after its first check: each body is held back until both
      // are being read, so both PUTs passed that check before either commits.
      let reading = 0;
      let release!: () => void;
      const both = new Promise<void>((resolve) => release = resolve);
      const gated = (data: Uint8Array) =>
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (++reading === 2) release();
            await both;
            controller.enqueue(data);
            controller.close();
          },
        }, { highWaterMark: 0 });
      const bodies = [testBytes(size, 1), testBytes(size, 2)];
      const puts = bodies.map((data) =>
        layer.putObject(BUCKET, name, gated(data), {
          size,
          metadata: {},
          preconditions: { ifNoneMatch: "*" },
        })
      );
      const results = await Promise.allSettled(puts);
      const won = results.findIndex((r) => r.status === "fulfilled");
      assert(won >= 0, "one PUT wins");
      const lost = results[1 - won];
      assertEquals(lost.status, "rejected");
      const reason = (lost as PromiseRejectedResult).reason;
      assert(reason instanceof ConditionalRequestConflict, String(reason));
      assert(equalBytes(await get(layer, name), bodies[won]));
    }
  });
});

Deno.test("Complete and Copy honour the preconditions too", async () => {
  await withLayer(async ({ layer }) => {
    await put(layer, "taken", testBytes(10, 1));
    const id = await layer.newMultipartUpload(BUCKET, "taken", {});
    const part = await layer.putObjectPart(BUCKET, "taken", id, 1, streamOf(testBytes(10, 2)), {
      size: 10,
      metadata: {},
    });
    await assertRejects(
      () =>
        layer.completeMultipartUpload(BUCKET, "taken", id, [{ number: 1, etag: part.etag }], {
          preconditions: { ifNoneMatch: "*" },
        }),
      PreconditionFailed,
    );
    // The upload is still there: completed without the condition, it succeeds.
    await layer.completeMultipartUpload(BUCKET, "taken", id, [{ number: 1, etag: part.etag }]);
    assert(equalBytes(await get(layer, "taken"), testBytes(10, 2)));

    await put(layer, "src", testBytes(10, 3));
    await assertRejects(
      () =>
        layer.copyObject(BUCKET, "src", BUCKET, "taken", { preconditions: { ifNoneMatch: "*" } }),
      PreconditionFailed,
    );
    await layer.copyObject(BUCKET, "src", BUCKET, "fresh", { preconditions: { ifNoneMatch: "*" } });
    assert(equalBytes(await get(layer, "fresh"), testBytes(10, 3)));
  });
});
