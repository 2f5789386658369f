import { FileNotFound } from "../src/storage/errors.ts";
/** Name rules (typed errors for bad buckets and keys) and the strict xl.meta parser. */
import { assert, assertEquals, assertRejects, assertThrows } from "./helpers/assert.ts";
import { InvalidBucketName, InvalidObjectName, ObjectNameTooLong } from "../src/object/errors.ts";
import {
  checkBucketName,
  checkObjectName,
  DATA_DIR_SUFFIX,
  decodeObjectName,
  encodeObjectName,
  newDataDir,
} from "../src/object/names.ts";
import { CorruptMeta, decodeXlMeta, encodeXlMeta, type XlMeta } from "../src/storage/xl-meta.ts";
import { BUCKET, deployment, get, put, streamOf, testBytes } from "./fixtures/object_env.ts";

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
  for (
    const ok of [
      "a",
      "a/b/c",
      "dir/",
      "a b/ü/€",
      `${"x".repeat(255)}/`.repeat(3) + "x".repeat(255),
      "a/.hidden",
      "...",
    ]
  ) {
    checkObjectName(ok);
  }
  for (
    const bad of ["", "/a", "a//b", "a/../b", "..", "a/.", "./a", "a\0b", "a__XLDIR__", "a/xl.meta"]
  ) {
    assertThrows(() => checkObjectName(bad), InvalidObjectName);
  }
  assertThrows(() => checkObjectName("x".repeat(1025)), ObjectNameTooLong);
  assertThrows(() => checkObjectName("€".repeat(342)), ObjectNameTooLong); // 1026 bytes
  // Each stored segment is a directory name: at most 255 bytes, the folder suffix included.
  checkObjectName(`${"s".repeat(255)}/${"s".repeat(255)}`);
  checkObjectName(`${"s".repeat(246)}/`);
  for (const long of ["s".repeat(256), `a/${"é".repeat(128)}/b`, `${"s".repeat(247)}/`]) {
    assertThrows(() => checkObjectName(long), ObjectNameTooLong, "255 bytes");
  }
  // Data directories carry a reserved marker, so that no key can name one.
  const dataDir = newDataDir();
  assert(dataDir.endsWith(DATA_DIR_SUFFIX) && newDataDir() !== dataDir);
  for (const bad of [`a/${dataDir}`, `a/${dataDir}/part.1`, `x${DATA_DIR_SUFFIX}y`]) {
    assertThrows(() => checkObjectName(bad), InvalidObjectName, DATA_DIR_SUFFIX);
  }
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

Deno.test("no key names another object's data directory", async () => {
  const env = await deployment(1, 4, 2);
  try {
    const drive = env.paths[0][0];
    const dataDirOf = async (key: string) =>
      decodeXlMeta(await Deno.readFile(`${drive}/${BUCKET}/${key}/xl.meta`)).versions[0].dataDir;
    const big = testBytes(1024 * 1024);
    await put(env.layer, "key", big);
    const id = await env.layer.newMultipartUpload(BUCKET, "multi", {});
    const part = await env.layer.putObjectPart(BUCKET, "multi", id, 1, streamOf(big), {
      size: big.byteLength,
      metadata: {},
    });
    await env.layer.completeMultipartUpload(BUCKET, "multi", id, [{ number: 1, etag: part.etag }]);
    for (const key of ["key", "multi"]) {
      const dataDir = await dataDirOf(key);
      assert(dataDir.endsWith(DATA_DIR_SUFFIX), dataDir);
      // Once written, overwriting "key" would have removed its data dir: this object with it.
      await assertRejects(
        () => put(env.layer, `${key}/${dataDir}`, testBytes(10)),
        InvalidObjectName,
      );
      await assertRejects(
        () => put(env.layer, `${key}/${dataDir}/part.1`, testBytes(10)),
        InvalidObjectName,
      );
    }
    await put(env.layer, "key", testBytes(1024 * 1024, 2));
    assertEquals((await get(env.layer, "key")).byteLength, 1024 * 1024);
  } finally {
    await env.close();
  }
});

Deno.test("a data directory whose metadata is gone is listed neither as object nor prefix", async () => {
  const env = await deployment(1, 4, 2);
  try {
    await put(env.layer, "lost/key", testBytes(1024 * 1024));
    await put(env.layer, "kept", testBytes(10));
    for (const drive of env.paths[0]) await Deno.remove(`${drive}/${BUCKET}/lost/key/xl.meta`);
    for (const [prefix, delimiter] of [["", ""], ["", "/"], ["lost/", "/"], ["lost/key/", ""]]) {
      const page = await env.layer.listObjects(BUCKET, { prefix, delimiter, maxKeys: 1000 });
      const keys = [...page.objects.map((o) => o.name), ...page.prefixes];
      assertEquals(keys, prefix === "" ? ["kept"] : [], `prefix ${prefix} delimiter ${delimiter}`);
    }
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
