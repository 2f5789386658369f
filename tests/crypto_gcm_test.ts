/**
 * The AES-256-GCM engines agree with each other and with node:crypto (and so with the
 * standard), every IPsec-MB implementation this CPU runs included, and the package and key
 * tests pass on the Web Crypto engine as well as on the one chosen here.
 */

import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { aesGcm } from "../src/crypto/engine.ts";
import { type GcmEngine, webCryptoGcm } from "../src/crypto/gcm.ts";
import { openSslGcm } from "../src/crypto/openssl-gcm.ts";
import { IPSEC_MB_PATHS, ipsecMbGcm, ipsecMbImplementations } from "../src/crypto/ipsec-mb-gcm.ts";
import { randomBytes } from "./crypto_util.ts";
import { createCipheriv, createHmac } from "node:crypto";

/** Set by the run below on the Web Crypto engine: the engine that run must be using. */
const EXPECTED_ENGINE = Deno.env.get("FLASHSTOR_TEST_GCM_ENGINE");
const openSsl = openSslGcm();
const ipsecMb = ipsecMbGcm();
/** The engines computing on this thread that load here. */
const syncEngines = [ipsecMb, openSsl].filter((e) => e !== undefined);

Deno.test("the engine in use is IPsec-MB where it loads, else OpenSSL, else Web Crypto", () => {
  assertEquals(aesGcm.name, EXPECTED_ENGINE ?? ipsecMb?.name ?? openSsl?.name ?? "webcrypto");
  // HMAC-SHA256 is OpenSSL's whichever cipher is chosen.
  assertEquals(aesGcm.hmacSha256 !== undefined, openSsl !== undefined);
});

Deno.test({
  name: "the engines open each other's seals and refuse changed ones",
  // Without libcrypto.so.3 and libIPSec_MB.so.1 (or ffi) there is only Web Crypto.
  ignore: syncEngines.length === 0,
  fn: async () => {
    const engines: GcmEngine[] = [webCryptoGcm, ...syncEngines];
    const key = randomBytes(32, 1);
    const nonce = randomBytes(12, 2);
    const aad = randomBytes(9, 3);
    for (const sealer of engines) {
      for (const opener of engines) {
        const sealing = await sealer.importKey(key);
        const opening = await opener.importKey(key);
        for (const size of [0, 1, 16, 65536, 100_003]) {
          const plain = randomBytes(size, size);
          const sealed = await sealing.seal(nonce, aad, plain);
          assertEquals(sealed.byteLength, 12 + size + 16);
          assertEquals(sealed.subarray(0, 12), nonce);
          const label = `${sealer.name} → ${opener.name}, ${size} bytes`;
          assertEquals(await opening.open(aad, sealed), plain, label);
          assertEquals(await opening.open(randomBytes(9, 4), sealed), undefined, label);
          for (const at of [0, 12, sealed.byteLength - 1]) {
            const changed = sealed.slice();
            changed[at] ^= 1;
            assertEquals(await opening.open(aad, changed), undefined, `${label}, byte ${at}`);
          }
          assertEquals(await opening.open(aad, sealed.subarray(0, 27)), undefined, label);
        }
      }
    }
  },
});

Deno.test({
  name: "OpenSSL's HMAC-SHA256 agrees with node:crypto",
  ignore: openSsl === undefined,
  fn: () => {
    for (const keySize of [0, 1, 32, 63, 64, 65, 100]) {
      for (const dataSize of [0, 1, 55, 56, 63, 64, 65, 1000]) {
        const key = randomBytes(keySize, keySize + 1);
        const data = randomBytes(dataSize, dataSize + 2);
        const expected = createHmac("sha256", key).update(data).digest();
        assertEquals(openSsl!.hmacSha256!(key, data), new Uint8Array(expected));
      }
    }
  },
});

Deno.test({
  name: "in-place opening agrees with open and refuses changed or short packages",
  ignore: syncEngines.length === 0,
  fn: () => {
    for (const engine of syncEngines) {
      const key = engine.importKeyNow!(randomBytes(32, 5));
      const aad = randomBytes(9, 6);
      for (const size of [0, 1, 65536]) {
        const plain = randomBytes(size, size + 7);
        const sealed = key.seal(randomBytes(12, 8), aad, plain);
        assertEquals(key.openInPlace(aad, sealed.slice(0, 11)), undefined, engine.name);
        const changed = sealed.slice();
        changed[changed.byteLength - 1] ^= 1;
        assertEquals(key.openInPlace(aad, changed), undefined, engine.name);
        const opened = key.openInPlace(aad, sealed);
        assertEquals(opened, plain, engine.name);
        // The plaintext is where the ciphertext was.
        assertEquals(opened!.buffer, sealed.buffer);
        assertEquals(opened!.byteOffset, sealed.byteOffset + 12);
      }
    }
  },
});

/**
 * `sealed` cut at `cuts` (offsets, ascending; equal ones make empty pieces), each piece a copy
 * in a buffer of its own at an odd offset, as chunks of a stream are.
 */
function cutInto(sealed: Uint8Array, cuts: number[]): Uint8Array[] {
  const ends = [0, ...cuts, sealed.byteLength];
  return ends.slice(1).map((end, i) => {
    const piece = new Uint8Array(end - ends[i] + 3).subarray(3);
    piece.set(sealed.subarray(ends[i], end));
    return piece;
  });
}

/** Where a package of `size` plaintext bytes is cut: inside and at the ends of every field. */
function cutsOf(size: number): number[][] {
  const sealedLength = 12 + size + 16;
  const points = [0, 1, 11, 12, 13, 12 + (size >> 1), sealedLength - 17, sealedLength - 16]
    .concat([sealedLength - 15, sealedLength - 1, sealedLength])
    .filter((p, i, all) => p >= 0 && p <= sealedLength && all.indexOf(p) === i)
    .sort((a, b) => a - b);
  const cuts = points.map((p) => [p]);
  for (const [i, a] of points.entries()) {
    for (const b of points.slice(i)) cuts.push([a, b], [a, b, b]);
  }
  return cuts;
}

Deno.test({
  name: "a package cut into pieces opens in their places, for every engine and implementation",
  ignore: syncEngines.length === 0,
  fn: () => {
    const engines = [
      ...ipsecMbImplementations().map((implementation) => ipsecMbGcm({ implementation })!),
      ...(openSsl ? [openSsl] : []),
    ];
    for (const engine of engines) {
      const key = engine.importKeyNow!(randomBytes(32, 9));
      const aad = randomBytes(9, 10);
      for (const size of [0, 1, 17, 1000]) {
        const plain = randomBytes(size, size + 11);
        const sealed = key.seal(randomBytes(12, size + 12), aad, plain);
        for (const cuts of cutsOf(size)) {
          const label = `${engine.name}, ${size} bytes cut at ${cuts}`;
          const pieces = cutInto(sealed, cuts);
          const opened = key.openPiecesInPlace(aad, pieces);
          assert(opened !== undefined, label);
          assertEquals(new Uint8Array(opened.flatMap((p) => [...p])), plain, label);
          // Each piece's plaintext is in that piece, where its ciphertext was.
          for (const [i, text] of opened.entries()) {
            assertEquals(text.buffer, pieces[i].buffer, label);
            const nonceHere = Math.max(12 - (i === 0 ? 0 : cuts[i - 1]), 0);
            const offset = Math.min(nonceHere, pieces[i].length);
            assertEquals(text.byteOffset - pieces[i].byteOffset, offset, label);
          }
          for (const at of [0, 11, 12 + (size >> 1), sealed.byteLength - 1]) {
            const changed = sealed.slice();
            changed[at] ^= 1;
            assertEquals(key.openPiecesInPlace(aad, cutInto(changed, cuts)), undefined, label);
          }
          assertEquals(key.openPiecesInPlace(randomBytes(9, 13), cutInto(sealed, cuts)), undefined);
        }
      }
      assertEquals(key.openPiecesInPlace(aad, cutInto(randomBytes(27, 14), [5])), undefined);
    }
  },
});

Deno.test({
  name: "every IPsec-MB implementation this CPU runs matches node:crypto, at any buffer offset",
  ignore: ipsecMb === undefined,
  fn: () => {
    const implementations = ipsecMbImplementations();
    assertEquals(ipsecMb!.name, `ipsec-mb/${implementations[0]}`);
    for (const implementation of implementations) {
      const engine = ipsecMbGcm({ implementation })!;
      assertEquals(engine.name, `ipsec-mb/${implementation}`);
      // Keys, data and additional data of odd sizes, in buffers at odd offsets.
      for (const [size, offset] of [[0, 0], [1, 3], [15, 1], [16, 7], [17, 0], [4099, 5]]) {
        const rawKey = randomBytes(32 + offset, size + 1).subarray(offset);
        const nonce = randomBytes(12 + offset, size + 2).subarray(offset);
        const aad = randomBytes(9 + size % 40 + offset, size + 3).subarray(offset);
        const plain = randomBytes(size + offset, size + 4).subarray(offset);
        const cipher = createCipheriv("aes-256-gcm", rawKey, nonce).setAAD(aad);
        const text = new Uint8Array([...cipher.update(plain), ...cipher.final()]);
        const expected = new Uint8Array([...nonce, ...text, ...cipher.getAuthTag()]);
        const key = engine.importKeyNow!(rawKey);
        const label = `${implementation}, ${size} bytes at offset ${offset}`;
        assertEquals(key.seal(nonce, aad, plain), expected, label);
        const stored = new Uint8Array(expected.byteLength + offset);
        stored.set(expected, offset);
        assertEquals(key.open(aad, stored.subarray(offset)), plain, label);
        stored[offset + 12 + (size >> 1)] ^= 1;
        assertEquals(key.open(aad, stored.subarray(offset)), undefined, label);
      }
    }
    assertEquals(ipsecMbGcm({ implementation: "no-such-implementation" }), undefined);
  },
});

Deno.test("engines refuse keys that are not 32 bytes", async () => {
  for (const engine of [webCryptoGcm, ...syncEngines]) {
    await assertRejects(() => engine.importKey(new Uint8Array(16)), RangeError);
  }
});

/** The crypto tests again in a process where only some engines load. */
async function cryptoTestsOn(engine: string, ffiFlag: string): Promise<void> {
  const files = ["crypto_packages_test.ts", "crypto_object_stream_test.ts"]
    .concat(["crypto_object_key_test.ts", "crypto_gcm_test.ts"])
    .map((name) => new URL(name, import.meta.url).pathname);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--quiet", "--no-prompt", "-A", ffiFlag, ...files],
    env: { FLASHSTOR_TEST_GCM_ENGINE: engine, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert(code === 0, `the ${engine} run failed:\n${output.slice(-4000)}`);
  assert(/ok \| \d+ passed \| 0 failed/.test(output), output.slice(-2000));
}

Deno.test({
  name: "the crypto tests pass on the Web Crypto engine (ffi denied)",
  ignore: EXPECTED_ENGINE !== undefined,
  fn: () => cryptoTestsOn("webcrypto", "--deny-ffi"),
});

Deno.test({
  name: "the crypto tests pass on OpenSSL, cipher thread included (IPsec-MB denied)",
  // Where IPsec-MB does not load, the run above this file's is already on OpenSSL.
  ignore: EXPECTED_ENGINE !== undefined || ipsecMb === undefined || openSsl === undefined,
  fn: () => cryptoTestsOn("openssl", `--deny-ffi=${IPSEC_MB_PATHS.join(",")}`),
});
