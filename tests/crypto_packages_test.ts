/** The package stream format: sizes, package layout, additional data, round trips. */

import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";
import { encryptingStream } from "../src/crypto/encrypting-stream.ts";
import { cipherThread, startCipherThread } from "../src/crypto/cipher-thread.ts";
import {
  PACKAGE_OVERHEAD,
  PACKAGE_SIZE,
  packageAad,
  plainSizeOf,
  sealedSize,
} from "../src/crypto/packages.ts";
import { decrypting, planDecryption } from "../src/crypto/object-stream.ts";
import { chunkedStream, collect, prng, randomBytes, sameBytes, through } from "./crypto_util.ts";

const KIB64 = 64 * 1024;
const SIZES = [0, 1, KIB64 - 1, KIB64, KIB64 + 1, 5 * 1024 * 1024 + 7];

Deno.test("package constants: 64 KiB of plaintext, nonce + tag of overhead", () => {
  assertEquals(PACKAGE_SIZE, KIB64);
  assertEquals(PACKAGE_OVERHEAD, 28);
});

Deno.test("sealedSize: one package per started 64 KiB, one for the empty stream", () => {
  assertEquals(sealedSize(0), 28);
  assertEquals(sealedSize(1), 29);
  assertEquals(sealedSize(KIB64), KIB64 + 28);
  assertEquals(sealedSize(KIB64 + 1), KIB64 + 1 + 56);
  assertEquals(sealedSize(3 * KIB64), 3 * KIB64 + 84);
  for (const bad of [-1, 0.5, NaN, Infinity, 2 ** 53]) {
    assertThrows(() => sealedSize(bad), RangeError);
  }
});

Deno.test("plainSizeOf inverts sealedSize and refuses every other stored size", () => {
  const random = prng(7);
  const sizes = [...SIZES, 2 * KIB64, 2 * KIB64 + 1, 5 * 1024 ** 4];
  for (let i = 0; i < 2000; i++) sizes.push(Math.floor(random() * 64 * 1024 * 1024));
  for (const size of sizes) assertEquals(plainSizeOf(sealedSize(size)), size);

  // Every stored size up to four packages: exactly the images of sealedSize are accepted.
  const limit = 4 * (KIB64 + PACKAGE_OVERHEAD) + 100;
  const images = new Set<number>();
  for (let plain = 0; sealedSize(plain) <= limit; plain++) images.add(sealedSize(plain));
  let refused = 0;
  for (let stored = 0; stored <= limit; stored++) {
    if (images.has(stored)) continue;
    assertThrows(() => plainSizeOf(stored), RangeError);
    refused++;
  }
  // Below 28, and after each of the four full packages the 28 sizes of an empty package.
  assertEquals(refused, 28 + 4 * 28);
  for (const bad of [-1, 28.5, NaN]) assertThrows(() => plainSizeOf(bad), RangeError);
});

Deno.test("encryptingStream refuses a key that is not 32 bytes", () => {
  for (const size of [0, 16, 31, 33]) {
    assertThrows(() => encryptingStream(new Uint8Array(size)), RangeError);
  }
});

Deno.test("additional data: the sequence as u64 big-endian, then the final flag", () => {
  assertEquals(packageAad(0, false), new Uint8Array(9));
  assertEquals(packageAad(2 ** 32 + 0x01020304, true), Uint8Array.of(0, 0, 0, 1, 1, 2, 3, 4, 1));
  const into = new Uint8Array(9).fill(0xff);
  assertEquals(packageAad(0x0a0b0c * 2 ** 32 + 0xfffffffe, false, into), into);
  assertEquals(into, Uint8Array.of(0, 10, 11, 12, 0xff, 0xff, 0xff, 0xfe, 0));
});

Deno.test("the empty stream is one final empty package", async () => {
  const key = randomBytes(32, 1);
  const stored = await through(new Uint8Array(0), encryptingStream(key, 0));
  assertEquals(stored.byteLength, PACKAGE_OVERHEAD);
  assertEquals(await openWithWebCrypto(key, stored, 0, true), new Uint8Array(0));
});

Deno.test("packages are standard AES-256-GCM: nonce || ciphertext || tag, aad = seq || final", async () => {
  const key = randomBytes(32, 2);
  const plain = randomBytes(2 * KIB64 + 5, 3);
  const stored = await through(chunkedStream(plain, 4), encryptingStream(key, plain.byteLength));
  assertEquals(stored.byteLength, sealedSize(plain.byteLength));
  const step = KIB64 + PACKAGE_OVERHEAD;
  const packages = [0, 1, 2].map((i) => stored.subarray(i * step, (i + 1) * step));
  const opened = [
    await openWithWebCrypto(key, packages[0], 0, false),
    await openWithWebCrypto(key, packages[1], 1, false),
    await openWithWebCrypto(key, packages[2], 2, true),
  ];
  assert(sameBytes(opened[0], plain.subarray(0, KIB64)));
  assert(sameBytes(opened[1], plain.subarray(KIB64, 2 * KIB64)));
  assert(sameBytes(opened[2], plain.subarray(2 * KIB64)));
  // The flag and the number are bound: package 2 does not open as non-final, nor as 1.
  await assertFailsToOpen(key, packages[2], 2, false);
  await assertFailsToOpen(key, packages[2], 1, true);
});

Deno.test("each package gets a fresh nonce: the same plaintext encrypts differently", async () => {
  const key = randomBytes(32, 5);
  const plain = new Uint8Array(2 * KIB64);
  const a = await through(plain, encryptingStream(key, plain.byteLength));
  const b = await through(plain, encryptingStream(key, plain.byteLength));
  assertEquals(a.byteLength, b.byteLength);
  assert(!sameBytes(a.subarray(0, 12), b.subarray(0, 12)));
  assert(!sameBytes(a.subarray(0, 12), a.subarray(KIB64 + 28, KIB64 + 40)));
});

for (const size of SIZES) {
  Deno.test(`round trip of ${size} bytes with random chunking both ways`, async () => {
    const key = randomBytes(32, size + 11);
    const plain = randomBytes(size, size + 12);
    // Sealed on this thread, or on the cipher thread from a MiB.
    const stored = await through(chunkedStream(plain, size + 13), encryptingStream(key, size));
    assertEquals(stored.byteLength, sealedSize(size));
    const plan = planDecryption([{ number: 1, size }]);
    // The whole of an object is all its stored bytes; of a 0-byte object, none.
    assertEquals(plan.stored, size === 0 ? undefined : { start: 0, end: stored.byteLength - 1 });
    const back = await collect(
      decrypting(
        chunkedStream(size === 0 ? new Uint8Array(0) : stored, size + 14),
        plan,
        () => Promise.resolve(key),
      ),
    );
    assert(sameBytes(back, plain), `${size} bytes did not come back`);
  });
}

// Bodies of a MiB or more, or of unknown size, are sealed on the cipher thread when it runs
// (not where ffi is denied: the Web Crypto rerun of these tests).
const threadRuns = await startCipherThread();
const MIB = 1 << 20;

for (const size of [0, 1, MIB - 1, MIB, MIB + 1, 2 * MIB, 2 * MIB + 5]) {
  Deno.test({
    name: `sealed on the cipher thread, ${size} bytes: every package opens alone as its number`,
    ignore: !threadRuns,
    fn: async () => {
      assert(cipherThread() !== undefined);
      const key = randomBytes(32, size + 31);
      const plain = randomBytes(size, size + 32);
      // Of unknown size, bodies under a MiB go to the thread too.
      const stored = await through(
        chunkedStream(plain, size + 33),
        encryptingStream(key, size < MIB ? -1 : size),
      );
      assertEquals(stored.byteLength, sealedSize(size));
      const step = KIB64 + PACKAGE_OVERHEAD;
      const count = Math.max(1, Math.ceil(size / KIB64));
      const nonces = new Set<string>();
      for (let i = 0; i < count; i++) {
        const sealed = stored.subarray(i * step, (i + 1) * step);
        nonces.add(sealed.subarray(0, 12).join());
        const opened = await openWithWebCrypto(key, sealed, i, i === count - 1);
        assert(sameBytes(opened, plain.subarray(i * KIB64, (i + 1) * KIB64)), `package ${i}`);
      }
      assertEquals(nonces.size, count);
    },
  });
}

Deno.test("a caller changing its key after the stream starts does not change the stream", async () => {
  const key = randomBytes(32, 21);
  const original = key.slice();
  const stream = encryptingStream(key, 100);
  key.fill(0);
  const stored = await through(randomBytes(100, 22), stream);
  await openWithWebCrypto(original, stored, 0, true);
});

async function openWithWebCrypto(
  key: Uint8Array,
  stored: Uint8Array,
  sequence: number,
  final: boolean,
): Promise<Uint8Array> {
  const aad = new Uint8Array(9);
  new DataView(aad.buffer).setBigUint64(0, BigInt(sequence));
  aad[8] = final ? 1 : 0;
  const cryptoKey = await crypto.subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [
    "decrypt",
  ]);
  return new Uint8Array(
    await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: stored.slice(0, 12), additionalData: aad },
      cryptoKey,
      stored.slice(12),
    ),
  );
}

async function assertFailsToOpen(
  key: Uint8Array,
  stored: Uint8Array,
  sequence: number,
  final: boolean,
): Promise<void> {
  try {
    await openWithWebCrypto(key, stored, sequence, final);
  } catch {
    return;
  }
  throw new Error(`package opened as ${sequence}${final ? " final" : ""}`);
}
