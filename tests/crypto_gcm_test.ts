/**
 * The two AES-256-GCM engines agree with each other (and so with the standard), and the
 * package and key tests pass on the Web Crypto engine as well as on the one chosen here.
 */

import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { aesGcm } from "../src/crypto/engine.ts";
import { type GcmEngine, webCryptoGcm } from "../src/crypto/gcm.ts";
import { openSslGcm } from "../src/crypto/openssl-gcm.ts";
import { randomBytes } from "./crypto_util.ts";
import { createHmac } from "node:crypto";

/** Set by the run below on the Web Crypto engine: the engine that run must be using. */
const EXPECTED_ENGINE = Deno.env.get("FLASHSTOR_TEST_GCM_ENGINE");
const openSsl = openSslGcm();

Deno.test("the engine in use is OpenSSL where libcrypto loads, else Web Crypto", () => {
  assertEquals(aesGcm.name, EXPECTED_ENGINE ?? openSsl?.name ?? "webcrypto");
});

Deno.test({
  name: "OpenSSL and Web Crypto open each other's seals and refuse changed ones",
  // Without libcrypto.so.3 (or ffi) there is only the Web Crypto engine to compare.
  ignore: openSsl === undefined,
  fn: async () => {
    const engines: GcmEngine[] = [webCryptoGcm, openSsl!];
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
  name: "OpenSSL's HMAC-SHA256 and its in-place opening agree with node:crypto and with open",
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
    const key = openSsl!.importKeyNow!(randomBytes(32, 5));
    const aad = randomBytes(9, 6);
    for (const size of [0, 1, 65536]) {
      const plain = randomBytes(size, size + 7);
      const sealed = key.seal(randomBytes(12, 8), aad, plain);
      assertEquals(key.openInPlace(aad, sealed.slice(0, 11)), undefined);
      const changed = sealed.slice();
      changed[changed.byteLength - 1] ^= 1;
      assertEquals(key.openInPlace(aad, changed), undefined);
      const opened = key.openInPlace(aad, sealed);
      assertEquals(opened, plain);
      // The plaintext is where the ciphertext was.
      assertEquals(opened!.buffer, sealed.buffer);
      assertEquals(opened!.byteOffset, sealed.byteOffset + 12);
    }
  },
});

Deno.test("engines refuse keys that are not 32 bytes", async () => {
  for (const engine of [webCryptoGcm, openSsl].filter((e) => e !== undefined)) {
    await assertRejects(() => engine.importKey(new Uint8Array(16)), RangeError);
  }
});

Deno.test({
  name: "the crypto tests pass on the Web Crypto engine (ffi denied)",
  ignore: EXPECTED_ENGINE !== undefined,
  fn: async () => {
    const files = ["crypto_packages_test.ts", "crypto_object_stream_test.ts"]
      .concat(["crypto_object_key_test.ts", "crypto_gcm_test.ts"])
      .map((name) => new URL(name, import.meta.url).pathname);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--quiet", "--no-prompt", "-A", "--deny-ffi", ...files],
      env: { FLASHSTOR_TEST_GCM_ENGINE: "webcrypto", NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert(code === 0, `the Web Crypto run failed:\n${output.slice(-4000)}`);
    assert(/ok \| \d+ passed \| 0 failed/.test(output), output.slice(-2000));
  },
});
