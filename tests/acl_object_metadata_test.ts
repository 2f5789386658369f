/**
 * ObjectLayer.updateObjectMetadata (what PutObjectAcl stores an object's ACL with) over real
 * drives: the change sees the metadata the object has under its lock, the data and ETag stay,
 * and a missing object stays missing.
 */

import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { ObjectNotFound } from "../src/object/errors.ts";
import { BUCKET, deployment, equalBytes, get, put, testBytes } from "./fixtures/object_env.ts";

for (const size of [100, 3 * 1024 * 1024]) {
  Deno.test(`updateObjectMetadata changes metadata only (${size} bytes)`, async () => {
    const env = await deployment(1, 4, 2);
    try {
      const data = testBytes(size, 7);
      const before = await put(env.layer, "doc", data, { "content-type": "text/plain" });
      const seen: Record<string, string>[] = [];
      const after = await env.layer.updateObjectMetadata(BUCKET, "doc", (current) => {
        seen.push({ ...current });
        return { ...current, "x-flashstor-acl": "{}" };
      });
      assertEquals(seen, [{ "content-type": "text/plain" }]);
      assertEquals(after.etag, before.etag);
      const head = await env.layer.getObjectInfo(BUCKET, "doc");
      assertEquals(head.metadata, { "content-type": "text/plain", "x-flashstor-acl": "{}" });
      assertEquals([head.etag, head.size], [before.etag, size]);
      assert(equalBytes(await get(env.layer, "doc"), data), "the data is unchanged");

      // A later write replaces the object; a change after it starts from the new metadata.
      await put(env.layer, "doc", data, { "content-type": "image/png" });
      await env.layer.updateObjectMetadata(BUCKET, "doc", (current) => ({ ...current, k: "v" }));
      assertEquals((await env.layer.getObjectInfo(BUCKET, "doc")).metadata, {
        "content-type": "image/png",
        k: "v",
      });

      await assertRejects(
        () => env.layer.updateObjectMetadata(BUCKET, "missing", (current) => current),
        ObjectNotFound,
      );
    } finally {
      await env.close();
    }
  });
}
