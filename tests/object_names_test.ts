import { FileNotFound } from "../src/storage/errors.ts";
/** Name rules (typed errors for bad buckets and keys) and the strict xl.meta parser. */
import { assert, assertEquals, assertRejects, assertThrows } from "./helpers/assert.ts";
import { InvalidBucketName, InvalidObjectName, ObjectNameTooLong } from "../src/object/errors.ts";
import {
  checkBucketName,
  checkObjectName,
  decodeObjectName,
  encodeObjectName,
} from "../src/object/names.ts";
import { CorruptMeta, decodeXlMeta, encodeXlMeta, type XlMeta } from "../src/object/xl-meta.ts";
import { BUCKET, deployment, streamOf } from "./fixtures/object_env.ts";

Deno.test("bucket names follow the S3 rules", () => {
  for (const ok of ["abc", "a-b.c", "1bucket", "a".repeat(63), "my.bucket.name"]) {
    checkBucketName(ok);
  }
  const bad = [
    "ab",
    "a".repeat(64),
    "Abc",
    "-abc",
    "abc-",
    ".abc",
    "a..b",
    "a_b",
    "192.168.1.1",
    "xn--abc",
    "abc-s3alias",
    "a.-b",
    "",
  ];
  for (const name of bad) assertThrows(() => checkBucketName(name), InvalidBucketName, undefined);
});

Deno.test("object names: typed errors for bad keys, folder markers encoded", () => {
  for (const ok of ["a", "a/b/c", "dir/", "a b/ü/€", "x".repeat(1024), "a/.hidden", "..."]) {
    checkObjectName(ok);
  }
  for (
    const bad of ["", "/a", "a//b", "a/../b", "..", "a/.", "./a", "a\0b", "a__XLDIR__", "a/xl.meta"]
  ) {
    assertThrows(() => checkObjectName(bad), InvalidObjectName);
  }
  assertThrows(() => checkObjectName("x".repeat(1025)), ObjectNameTooLong);
  assertThrows(() => checkObjectName("€".repeat(342)), ObjectNameTooLong); // 1026 bytes
  assertEquals(encodeObjectName("a/b/"), "a/b__XLDIR__");
  assertEquals(encodeObjectName("a/b"), "a/b");
  assertEquals(decodeObjectName("a/b__XLDIR__"), "a/b/");
});

Deno.test("the object layer rejects bad names before touching drives", async () => {
  const env = await deployment(1, 4, 2);
  try {
    await assertRejects(() => env.layer.makeBucket("Bad_Bucket"), InvalidBucketName);
    await assertRejects(() => env.layer.getObjectInfo("no", "a"), InvalidBucketName);
    for (const name of ["a/../b", "a//b", "a\0b", "/a"]) {
      await assertRejects(
        () =>
          env.layer.putObject(BUCKET, name, streamOf(new Uint8Array(1)), { size: 1, metadata: {} }),
        InvalidObjectName,
      );
      await assertRejects(() => env.layer.getObject(BUCKET, name), InvalidObjectName);
    }
    await assertRejects(
      () => env.layer.getObjectInfo(BUCKET, "k".repeat(1025)),
      ObjectNameTooLong,
    );
  } finally {
    await env.close();
  }
});

const SAMPLE: XlMeta = {
  versions: [{
    versionId: "null",
    size: 3,
    modTime: 1_700_000_000_000,
    etag: "abc",
    metadata: { "content-type": "text/plain" },
    erasure: {
      dataShards: 2,
      parityShards: 2,
      blockSize: 1048576,
      index: 3,
      distribution: [3, 4, 1, 2],
    },
    dataDir: "4f1c",
    parts: [{ number: 1, size: 3, etag: "abc", actualSize: 3 }],
    checksums: [{ part: 1, algorithm: "crc64xz-framed" }],
    inline: new Uint8Array([1, 2, 3, 4, 5]),
  }],
};

Deno.test("xl.meta round trips and rejects any damage", () => {
  const bytes = encodeXlMeta(SAMPLE);
  assertEquals(decodeXlMeta(bytes), SAMPLE);
  for (let i = 0; i < bytes.byteLength; i += 7) {
    const damaged = bytes.slice();
    damaged[i] ^= 0x40;
    assertThrows(() => decodeXlMeta(damaged), CorruptMeta);
  }
  assertThrows(() => decodeXlMeta(bytes.subarray(0, bytes.byteLength - 1)), CorruptMeta);
  // Empty is what a crash during a new object's first write leaves: absent, not corrupt.
  assertThrows(() => decodeXlMeta(new Uint8Array(0)), FileNotFound);
  const badShape = structuredClone(SAMPLE);
  badShape.versions[0].erasure.distribution = [1, 1, 2, 3];
  assertThrows(() => decodeXlMeta(encodeXlMeta(badShape)), CorruptMeta);
  const badSize = structuredClone(SAMPLE);
  badSize.versions[0].size = 4;
  assertThrows(() => decodeXlMeta(encodeXlMeta(badSize)), CorruptMeta);
  assert(
    decodeXlMeta(encodeXlMeta({ versions: [{ ...SAMPLE.versions[0], inline: undefined }] }))
      .versions[0].inline === undefined,
  );
});
