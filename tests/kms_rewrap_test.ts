/**
 * The re-wrap pass after a rotation, over a real object layer: every version (of every bucket)
 * whose KEK the rotated key sealed gets it re-sealed under the new version and still opening to
 * the same KEK; its data, other metadata and Last-Modified stay; objects under other keys, SSE-C
 * and plain ones are left alone; a version whose KEK does not open is counted and named, not
 * fatal; a newer rotation's pass cancels the one running for the same key.
 */
import { BuiltinKeyService } from "../src/kms/builtin.ts";
import { RewrapPasses, type RewrapProgress } from "../src/kms/rewrap.ts";
import {
  kekContext,
  readSealed,
  type SealedEncryption,
  sealedEntries,
  withoutSealed,
} from "../src/crypto/sealed-metadata.ts";
import type { EncryptionContext } from "../src/kms/key-service.ts";
import type { ObjectInfo, ObjectMetadata } from "../src/object/layer.ts";
import {
  BUCKET,
  deployment,
  equalBytes,
  readAll,
  streamOf,
  testBytes,
} from "./fixtures/object_env.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { waitUntil } from "./fault_util.ts";
import { rootKey } from "./kms_util.ts";

const VERSIONED = "versioned";
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** The version a sealed data key names (format byte, u32 version). */
const versionOf = (sealed: Uint8Array) =>
  new DataView(sealed.buffer, sealed.byteOffset).getUint32(1);

Deno.test("kms rewrap: a rotation re-seals the KEKs under the key, only them, data untouched", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const { layer } = d;
    layer.setBucketVersioning({
      versioning: (bucket) => Promise.resolve(bucket === VERSIONED ? "Enabled" : undefined),
    });
    await layer.makeBucket(VERSIONED);
    const kms = await BuiltinKeyService.open(layer, rootKey());
    await kms.createKey("rotating");
    await kms.createKey("other");

    /** The KEK of each version put, by bucket/name/versionId. */
    const keks = new Map<string, Uint8Array>();
    const idOf = (info: ObjectInfo) => `${info.bucket}/${info.name}/${info.versionId}`;
    /** Puts an object whose metadata records `mode` (its KEK from the key service). */
    const putSealed = async (
      bucket: string,
      name: string,
      mode: SealedEncryption["mode"] | "plain",
      keyId?: string,
      client: EncryptionContext = {},
    ): Promise<ObjectInfo> => {
      let metadata: ObjectMetadata = { "x-amz-meta-color": "blue" };
      let kek: Uint8Array | undefined;
      if (mode !== "plain") {
        const e: SealedEncryption = { mode, objectKey: { iv: random(32), sealed: random(48) } };
        if (keyId) {
          const dataKey = await kms.generateDataKey(keyId, kekContext(bucket, name, client));
          e.kms = { keyId, sealedKek: dataKey.sealed, context: client };
          kek = dataKey.plaintext;
        }
        metadata = { ...metadata, ...sealedEntries(e) };
      }
      const data = testBytes(1000, name.length);
      const info = await layer.putObject(bucket, name, streamOf(data), { size: 1000, metadata });
      if (kek) keks.set(idOf(info), kek);
      return info;
    };
    const targets = [
      await putSealed(BUCKET, "s3", "SSE-S3", "rotating"),
      await putSealed(BUCKET, "kms", "SSE-KMS", "rotating", { dept: "x" }),
      await putSealed(VERSIONED, "v", "SSE-KMS", "rotating", { dept: "y" }),
      await putSealed(VERSIONED, "v", "SSE-KMS", "rotating", { dept: "y" }),
    ];
    await layer.deleteObject(VERSIONED, "v"); // a delete marker on top of both
    const untouched = [
      await putSealed(BUCKET, "under-other", "SSE-KMS", "other"),
      await putSealed(BUCKET, "ssec", "SSE-C"),
      await putSealed(BUCKET, "plain", "plain"),
    ];
    // A KEK that does not open (altered on disk, say): counted, named, and the pass goes on.
    await putSealed(BUCKET, "garbage", "SSE-S3", "rotating");
    const garbage = await layer.updateObjectMetadata(BUCKET, "garbage", (m) => {
      const e = readSealed(m)!;
      return { ...m, ...sealedEntries({ ...e, kms: { ...e.kms!, sealedKek: random(80) } }) };
    });

    const passes = new RewrapPasses(layer, kms);
    const rotated = await kms.rotateKey("rotating");
    const progress = passes.start(rotated);
    await waitUntil("the pass ends", () => Promise.resolve(progress.state !== "running"));
    assertEquals(progress.state, "done", JSON.stringify(progress));
    assertEquals(
      [progress.keyId, progress.version, progress.versionsRewrapped, progress.versionsFailed],
      ["rotating", 2, 4, 1],
    );
    // Every version and the delete marker were looked at: 4 targets, 3 others, garbage, marker.
    assertEquals(progress.versionsScanned, 9);
    assertEquals(progress.failures.map((f) => [f.bucket, f.object, f.versionId]), [
      [BUCKET, "garbage", garbage.versionId],
    ]);
    assert(progress.failures[0].error.includes("KeySealBroken"), progress.failures[0].error);
    assert(progress.finished && progress.finished >= progress.started);
    assertEquals(passes.list(), [progress]);

    for (const before of targets) {
      const info = await layer.getObjectInfo(before.bucket, before.name, {
        versionId: before.versionId,
      });
      const was = readSealed(before.metadata)!;
      const now = readSealed(info.metadata)!;
      assertEquals([versionOf(was.kms!.sealedKek), versionOf(now.kms!.sealedKek)], [1, 2]);
      const context = kekContext(info.bucket, info.name, now.kms!.context);
      const kek = await kms.decrypt("rotating", now.kms!.sealedKek, context);
      assert(equalBytes(kek, keks.get(idOf(info))!), `${idOf(info)}: the same KEK`);
      // All else as it was: the object key, the other metadata, the data, Last-Modified.
      assertEquals({ ...now, kms: { ...now.kms!, sealedKek: was.kms!.sealedKek } }, was);
      assertEquals(withoutSealed(info.metadata), withoutSealed(before.metadata));
      assertEquals([info.etag, info.modTime, info.size], [
        before.etag,
        before.modTime,
        before.size,
      ]);
      const data = await readAll(
        (await layer.getObject(info.bucket, info.name, { versionId: info.versionId })).body,
      );
      assert(equalBytes(data, testBytes(1000, info.name.length)), `${idOf(info)}: data`);
    }
    for (const before of [...untouched, garbage]) {
      const info = await layer.getObjectInfo(before.bucket, before.name);
      assertEquals(info.metadata, before.metadata, before.name);
    }
  } finally {
    await d.close();
  }
});

Deno.test("kms rewrap: a newer rotation's pass cancels the running one of the same key", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const kms = await BuiltinKeyService.open(d.layer, rootKey());
    const passes = new RewrapPasses(d.layer, kms);
    const rotations = [];
    for (let i = 0; i < 2; i++) rotations.push(await kms.rotateKey(kms.defaultKeyId));
    const first = passes.start(rotations[0]);
    const second = passes.start(rotations[1]);
    const ended = (p: RewrapProgress) => p.state !== "running";
    await waitUntil("both passes end", () => Promise.resolve(ended(first) && ended(second)));
    assertEquals([first.state, first.version, second.state, second.version], [
      "cancelled",
      2,
      "done",
      3,
    ]);
    assertEquals(passes.list(), [second]);
  } finally {
    await d.close();
  }
});
