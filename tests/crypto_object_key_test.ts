/** Object keys: part key derivation and the seal of an object key under a KEK. */

import { assertEquals, assertNotEquals, assertThrows } from "./helpers/assert.ts";
import {
  KeyMismatch,
  partKey,
  randomObjectKey,
  sealObjectKey,
  unsealObjectKey,
} from "../src/crypto/object-key.ts";
import type { SealedObjectKey } from "../src/crypto/sealed-metadata.ts";

const PATH = "bucket/dir/object.bin";

async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data as BufferSource));
}

Deno.test("randomObjectKey: 32 random bytes", () => {
  const a = randomObjectKey();
  const b = randomObjectKey();
  assertEquals(a.byteLength, 32);
  assertNotEquals(a, b);
});

Deno.test("partKey is HMAC-SHA256(objectKey, 'part' || u32 big-endian)", async () => {
  const objectKey = randomObjectKey();
  for (const n of [1, 2, 10_000, 0xffff_ffff]) {
    const label = new Uint8Array([
      0x70,
      0x61,
      0x72,
      0x74,
      n >>> 24,
      (n >>> 16) & 255,
      (n >>> 8) & 255,
      n & 255,
    ]);
    assertEquals(await partKey(objectKey, n), await hmacSha256(objectKey, label));
  }
  assertNotEquals(await partKey(objectKey, 1), await partKey(objectKey, 2));
  assertNotEquals(await partKey(objectKey, 1), await partKey(randomObjectKey(), 1));
});

Deno.test("partKey refuses bad part numbers and keys", () => {
  const objectKey = randomObjectKey();
  for (const n of [-1, 1.5, 2 ** 32, NaN]) assertThrows(() => partKey(objectKey, n), RangeError);
  assertThrows(() => partKey(new Uint8Array(16), 1), RangeError);
});

Deno.test("sealObjectKey round trip; each seal is fresh", () => {
  const kek = randomObjectKey();
  const objectKey = randomObjectKey();
  for (const domain of ["SSE-C", "SSE-S3", "SSE-KMS"]) {
    const a = sealObjectKey(kek, objectKey, domain, PATH);
    const b = sealObjectKey(kek, objectKey, domain, PATH);
    assertEquals(a.iv.byteLength, 32);
    assertEquals(a.sealed.byteLength, 48);
    assertNotEquals(a.iv, b.iv);
    assertNotEquals(a.sealed, b.sealed);
    assertEquals(unsealObjectKey(kek, a, domain, PATH), objectKey);
    assertEquals(unsealObjectKey(kek, b, domain, PATH), objectKey);
  }
});

Deno.test("the seal is AES-256-GCM, zero nonce, under HMAC-SHA256(kek, iv), domain || path authenticated", async () => {
  const kek = randomObjectKey();
  const objectKey = randomObjectKey();
  const sealed = sealObjectKey(kek, objectKey, "SSE-KMS", PATH);
  const sealingKey = await crypto.subtle.importKey(
    "raw",
    await hmacSha256(kek, sealed.iv) as BufferSource,
    "AES-GCM",
    false,
    ["decrypt"],
  );
  const opened = await crypto.subtle.decrypt(
    {
      name: "AES-GCM",
      iv: new Uint8Array(12),
      additionalData: new TextEncoder().encode("SSE-KMS" + PATH),
    },
    sealingKey,
    sealed.sealed as BufferSource,
  );
  assertEquals(new Uint8Array(opened), objectKey);
});

Deno.test("unsealObjectKey: wrong kek, other path, other domain or changed bytes → KeyMismatch", () => {
  const kek = randomObjectKey();
  const objectKey = randomObjectKey();
  const sealed = sealObjectKey(kek, objectKey, "SSE-C", PATH);
  const changed = (field: keyof SealedObjectKey, at: number): SealedObjectKey => {
    const copy = { iv: sealed.iv.slice(), sealed: sealed.sealed.slice() };
    copy[field][at] ^= 0x80;
    return copy;
  };
  const cases: [string, () => unknown][] = [
    ["wrong kek", () => unsealObjectKey(randomObjectKey(), sealed, "SSE-C", PATH)],
    ["other path", () => unsealObjectKey(kek, sealed, "SSE-C", "bucket/dir/object.bin2")],
    ["other bucket", () => unsealObjectKey(kek, sealed, "SSE-C", "bucket2/dir/object.bin")],
    ["other domain", () => unsealObjectKey(kek, sealed, "SSE-S3", PATH)],
    ["changed sealed key", () => unsealObjectKey(kek, changed("sealed", 3), "SSE-C", PATH)],
    ["changed tag", () => unsealObjectKey(kek, changed("sealed", 47), "SSE-C", PATH)],
    ["changed iv", () => unsealObjectKey(kek, changed("iv", 31), "SSE-C", PATH)],
    [
      "truncated",
      () => unsealObjectKey(kek, { ...sealed, sealed: sealed.sealed.slice(0, 40) }, "SSE-C", PATH),
    ],
    [
      "short iv",
      () => unsealObjectKey(kek, { ...sealed, iv: sealed.iv.slice(0, 16) }, "SSE-C", PATH),
    ],
  ];
  for (const [name, unseal] of cases) {
    try {
      assertThrows(unseal, KeyMismatch);
    } catch (err) {
      throw new Error(`${name}: ${err}`);
    }
  }
});

Deno.test("sealing refuses an unknown domain and keys that are not 32 bytes", () => {
  const key = randomObjectKey();
  assertThrows(() => sealObjectKey(key, key, "SSE-X", PATH), RangeError);
  assertThrows(() => sealObjectKey(new Uint8Array(31), key, "SSE-C", PATH), RangeError);
  assertThrows(() => sealObjectKey(key, new Uint8Array(33), "SSE-C", PATH), RangeError);
});
