/**
 * Encrypted objects made of parts: whole and range reads through planDecryption and
 * decrypting, and tampered stored bytes refused without releasing wrong plaintext.
 */

import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";
import {
  decrypting,
  type DecryptionPlan,
  type EncryptedPart,
  encryptingPartStream,
  planDecryption,
  storedObjectSize,
} from "../src/crypto/object-stream.ts";
import { partKey, randomObjectKey } from "../src/crypto/object-key.ts";
import { PACKAGE_OVERHEAD, sealedSize, TamperedObject } from "../src/crypto/packages.ts";
import { concatBytes } from "../src/bytes.ts";
import { chunkedStream, drain, prng, randomBytes, sameBytes, through } from "./crypto_util.ts";

const P = 64 * 1024;
const STORED_P = P + PACKAGE_OVERHEAD;

interface Fixture {
  objectKey: Uint8Array;
  parts: EncryptedPart[];
  plain: Uint8Array;
  stored: Uint8Array;
}

/** An object of parts with these sizes and numbers, each part its own package stream. */
async function encryptedObject(sizes: number[], numbers: number[], seed: number): Promise<Fixture> {
  const objectKey = randomObjectKey();
  const parts = sizes.map((size, i) => ({ number: numbers[i], size }));
  const plains = sizes.map((size, i) => randomBytes(size, seed + i));
  const stored: Uint8Array[] = [];
  for (const [i, part] of parts.entries()) {
    const stream = encryptingPartStream(objectKey, part.number, part.size);
    stored.push(await through(chunkedStream(plains[i], seed + 100 + i), stream));
    assertEquals(stored[i].byteLength, sealedSize(part.size));
  }
  return { objectKey, parts, plain: concatBytes(plains), stored: concatBytes(stored) };
}

/** The plan's stored bytes of `stored` decrypted, in random chunks (copies: opened in place). */
function read(f: Fixture, plan: DecryptionPlan, stored = f.stored, seed = 1) {
  const bytes = plan.stored ? stored.subarray(plan.stored.start, plan.stored.end + 1) : stored;
  return drain(decrypting(chunkedStream(bytes, seed), plan, (n) => partKey(f.objectKey, n)));
}

async function assertRange(f: Fixture, start: number, end: number, seed = 1): Promise<void> {
  const plan = planDecryption(f.parts, { start, end });
  const { bytes, error } = await read(f, plan, f.stored, seed);
  if (error) throw error;
  assert(sameBytes(bytes, f.plain.subarray(start, end + 1)), `range ${start}-${end}`);
}

// Parts 1, 2 and 5 (numbers need not be consecutive): 3 packages + 1 byte, exactly one
// package, and a short last part.
const SIZES = [3 * P + 1, P, 70_001];
const NUMBERS = [1, 2, 5];

Deno.test("multipart: three parts under three keys read back whole", async () => {
  const f = await encryptedObject(SIZES, NUMBERS, 10);
  assertEquals(f.stored.byteLength, storedObjectSize(f.parts));
  const plan = planDecryption(f.parts);
  assertEquals(plan.stored, { start: 0, end: f.stored.byteLength - 1 });
  const asked: number[] = [];
  const { bytes, error } = await drain(
    decrypting(chunkedStream(f.stored, 3), plan, (n) => {
      asked.push(n);
      return partKey(f.objectKey, n);
    }),
  );
  assertEquals(error, undefined);
  assert(sameBytes(bytes, f.plain));
  assertEquals(asked, NUMBERS);
});

Deno.test("range reads: every class of range over a multipart object", async () => {
  const f = await encryptedObject(SIZES, NUMBERS, 20);
  const total = f.plain.byteLength;
  const part2 = SIZES[0];
  const part3 = SIZES[0] + SIZES[1];
  const ranges: [string, number, number][] = [
    ["first byte", 0, 0],
    ["last byte", total - 1, total - 1],
    ["whole", 0, total - 1],
    ["inside one package", 100, 200],
    ["one whole package", P, 2 * P - 1],
    ["across a package boundary", P - 10, P + 10],
    ["across two package boundaries", P - 1, 2 * P],
    ["the lone byte of part 1's last package", 3 * P, 3 * P],
    ["across a part boundary", part2 - 5, part2 + 5],
    ["exactly part 2", part2, part3 - 1],
    ["across parts 1 to 3", 2 * P + 7, part3 + 3],
    ["inside the last package", total - 100, total - 50],
    ["from the middle to the end", 12345, total - 1],
  ];
  for (const [name, start, end] of ranges) {
    try {
      await assertRange(f, start, end);
    } catch (err) {
      throw new Error(`${name} (${start}-${end}): ${err}`);
    }
  }
  const random = prng(21);
  for (let i = 0; i < 40; i++) {
    const start = Math.floor(random() * total);
    const end = start + Math.floor(random() * Math.min(total - start, 3 * P));
    await assertRange(f, start, end, i);
  }
});

Deno.test("a range read fetches only the stored packages covering it", async () => {
  const f = await encryptedObject(SIZES, NUMBERS, 30);
  // Inside package 1 of part 1.
  assertEquals(planDecryption(f.parts, { start: P + 3, end: P + 9 }).stored, {
    start: STORED_P,
    end: 2 * STORED_P - 1,
  });
  // The last byte of part 1 and the first of part 2: part 1's 1-byte final package, then
  // part 2's only package.
  const part2Stored = sealedSize(SIZES[0]);
  assertEquals(planDecryption(f.parts, { start: SIZES[0] - 1, end: SIZES[0] }).stored, {
    start: 3 * STORED_P,
    end: part2Stored + STORED_P - 1,
  });
  // The very last byte: the last stored package of part 5.
  const total = f.plain.byteLength;
  assertEquals(planDecryption(f.parts, { start: total - 1, end: total - 1 }).stored, {
    start: f.stored.byteLength - (70_001 - P + PACKAGE_OVERHEAD),
    end: f.stored.byteLength - 1,
  });
});

Deno.test("a 0-byte object reads no stored bytes, and refuses any given", async () => {
  const f = await encryptedObject([0], [1], 40);
  assertEquals(f.stored.byteLength, PACKAGE_OVERHEAD);
  const plan = planDecryption(f.parts);
  assertEquals(plan.stored, undefined);
  const empty = await read(f, plan, new Uint8Array(0));
  assertEquals(empty, { bytes: new Uint8Array(0) });
  const extra = await read(f, plan, f.stored);
  assert(extra.error instanceof TamperedObject);
});

Deno.test("empty parts: one in the middle is read and checked, one at the end is not read", async () => {
  const f = await encryptedObject([100, 0, 50, 0], [1, 2, 3, 4], 45);
  assertEquals(f.stored.byteLength, 150 + 4 * PACKAGE_OVERHEAD);
  assertEquals(planDecryption(f.parts).stored, { start: 0, end: 150 + 3 * PACKAGE_OVERHEAD - 1 });
  await assertRange(f, 0, 149);
  await assertRange(f, 99, 100);
  await assertRange(f, 100, 149);
  // Part 2's empty final package dropped: part 3's first package stands in its place.
  const dropped = concatBytes([
    f.stored.subarray(0, 100 + PACKAGE_OVERHEAD),
    f.stored.subarray(100 + 2 * PACKAGE_OVERHEAD),
  ]);
  const plan = planDecryption(f.parts, { start: 99, end: 100 });
  const { bytes, error } = await read(f, { ...plan, stored: { start: 0, end: 150 } }, dropped);
  assert(error instanceof TamperedObject);
  // Byte 99 authenticated in part 1's package; nothing after the missing package comes out.
  assertEquals(bytes, f.plain.slice(99, 100));
});

Deno.test("planDecryption refuses ranges outside the object", () => {
  const parts = [{ number: 1, size: 10 }];
  for (const range of [{ start: 0, end: 10 }, { start: 5, end: 4 }, { start: -1, end: 3 }]) {
    assertThrows(() => planDecryption(parts, range), RangeError);
  }
  assertThrows(() => planDecryption([], { start: 0, end: 0 }), RangeError);
  assertThrows(() => planDecryption([{ number: 1, size: -1 }]), RangeError);
});

/** A tampering of the stored bytes, and the plaintext offset before which all is genuine. */
interface Tampering {
  name: string;
  change(f: Fixture): Uint8Array;
  /** Plaintext bytes that may still come out (those of packages before the damage). */
  genuine: number;
}

const storedOf = (f: Fixture) => f.stored.slice();
const part2At = sealedSize(SIZES[0]);

const TAMPERINGS: Tampering[] = [
  {
    name: "a flipped ciphertext byte",
    change: (f) => flip(storedOf(f), STORED_P + 12 + 500),
    genuine: P,
  },
  {
    name: "a flipped tag byte",
    change: (f) => flip(storedOf(f), 2 * STORED_P - 1),
    genuine: P,
  },
  {
    name: "a flipped nonce byte",
    change: (f) => flip(storedOf(f), 0),
    genuine: 0,
  },
  {
    name: "packages 0 and 1 swapped",
    change: (f) => {
      const s = storedOf(f);
      s.set(f.stored.subarray(STORED_P, 2 * STORED_P), 0);
      s.set(f.stored.subarray(0, STORED_P), STORED_P);
      return s;
    },
    genuine: 0,
  },
  {
    name: "a package duplicated over the next",
    change: (f) => {
      const s = storedOf(f);
      s.set(f.stored.subarray(STORED_P, 2 * STORED_P), 2 * STORED_P);
      return s;
    },
    genuine: 2 * P,
  },
  {
    name: "part 2's package replaced by part 1's first (another key)",
    change: (f) => {
      const s = storedOf(f);
      s.set(f.stored.subarray(0, STORED_P), part2At);
      return s;
    },
    genuine: SIZES[0],
  },
  {
    name: "the last package dropped",
    change: (f) => f.stored.slice(0, f.stored.byteLength - (SIZES[2] - P + PACKAGE_OVERHEAD)),
    genuine: SIZES[0] + SIZES[1] + P,
  },
  {
    name: "the last byte dropped",
    change: (f) => f.stored.slice(0, f.stored.byteLength - 1),
    genuine: SIZES[0] + SIZES[1] + P,
  },
  {
    name: "a part's final package dropped (part 1 ends at a full package)",
    change: (f) => concatBytes([f.stored.subarray(0, 3 * STORED_P), f.stored.subarray(part2At)]),
    genuine: 3 * P,
  },
  {
    name: "extra trailing bytes",
    change: (f) => concatBytes([f.stored, new Uint8Array(5)]),
    genuine: SIZES[0] + SIZES[1] + SIZES[2],
  },
  {
    name: "an extra copy of the final package",
    change: (f) =>
      concatBytes([
        f.stored,
        f.stored.subarray(f.stored.byteLength - (SIZES[2] - P + PACKAGE_OVERHEAD)),
      ]),
    genuine: SIZES[0] + SIZES[1] + SIZES[2],
  },
];

Deno.test("tampered objects fail with TamperedObject and release no wrong plaintext", async () => {
  const f = await encryptedObject(SIZES, NUMBERS, 50);
  const plan = planDecryption(f.parts);
  for (const t of TAMPERINGS) {
    const changed = t.change(f);
    // The stored range as the object layer would hand it over: all of the (changed) object.
    const whole = { ...plan, stored: { start: 0, end: changed.byteLength - 1 } };
    for (const seed of [1, 2, 3]) {
      const { bytes, error } = await read(f, whole, changed, seed);
      assert(error instanceof TamperedObject, `${t.name}: ${error ?? "no error"}`);
      assert(bytes.byteLength <= t.genuine, `${t.name}: ${bytes.byteLength} bytes released`);
      assert(sameBytes(bytes, f.plain.subarray(0, bytes.byteLength)), `${t.name}: wrong bytes`);
    }
  }
});

Deno.test("a range read notices tampering inside its range, and stored bytes ending early", async () => {
  const f = await encryptedObject(SIZES, NUMBERS, 60);
  const plan = planDecryption(f.parts, { start: P + 10, end: SIZES[0] + 10 });
  const { start, end } = plan.stored!;
  const flipped = flip(f.stored.slice(), 2 * STORED_P + 40);
  const bad = await read(f, plan, flipped);
  assert(bad.error instanceof TamperedObject);
  assert(bad.bytes.byteLength <= P - 10);
  assert(sameBytes(bad.bytes, f.plain.subarray(P + 10, P + 10 + bad.bytes.byteLength)));

  const short = await read(f, { ...plan, stored: { start, end: end - 1 } });
  assert(short.error instanceof TamperedObject);
  const long = await read(f, { ...plan, stored: { start, end: end + 1 } });
  assert(long.error instanceof TamperedObject);
  // Stored bytes shifted by one package: each package is checked against its number.
  const shifted = await read(f, { ...plan, stored: { start: start + STORED_P, end } });
  assert(shifted.error instanceof TamperedObject);
  assertEquals(shifted.bytes.byteLength, 0);
});

Deno.test("the wrong object key opens nothing", async () => {
  const f = await encryptedObject(SIZES, NUMBERS, 70);
  const other = { ...f, objectKey: randomObjectKey() };
  const { bytes, error } = await read(other, planDecryption(f.parts));
  assert(error instanceof TamperedObject);
  assertEquals(bytes.byteLength, 0);
});

function flip(bytes: Uint8Array, at: number): Uint8Array {
  bytes[at] ^= 0x01;
  return bytes;
}
