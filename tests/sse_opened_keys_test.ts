/** The cache of opened SSE-S3 / SSE-KMS object keys: what finds an entry, and how long it lives. */

import { assert, assertEquals, assertNotEquals } from "./helpers/assert.ts";
import { OpenedKeys } from "../src/s3/opened-keys.ts";
import {
  type SealedEncryption,
  sealedEntries,
  sealedFingerprint,
} from "../src/crypto/sealed-metadata.ts";

const sealed: SealedEncryption = {
  mode: "SSE-S3",
  objectKey: { iv: new Uint8Array(32).fill(1), sealed: new Uint8Array(48).fill(2) },
  kms: { keyId: "k1", sealedKek: new Uint8Array(80).fill(3), context: {} },
};

Deno.test("a fingerprint covers the name and every sealed value, and no SSE-C object", () => {
  const metadata = { ...sealedEntries(sealed), "content-type": "text/plain" };
  const base = sealedFingerprint(metadata, "b/k")!;
  assert(base !== undefined);
  assertEquals(sealedFingerprint({ ...metadata, "content-type": "x" }, "b/k"), base);
  assertNotEquals(sealedFingerprint(metadata, "b/k2"), base);
  for (const [name, value] of Object.entries(sealedEntries(sealed))) {
    const changed = { ...metadata, [name]: value + "A" };
    assertNotEquals(sealedFingerprint(changed, "b/k"), base, name);
  }
  const kms = sealedEntries({
    ...sealed,
    mode: "SSE-KMS",
    kms: { ...sealed.kms!, context: { a: "b" } },
  });
  assertNotEquals(sealedFingerprint(kms, "b/k"), undefined);
  assertEquals(sealedFingerprint(sealedEntries({ ...sealed, mode: "SSE-C" }), "b/k"), undefined);
  assertEquals(sealedFingerprint({ "content-type": "text/plain" }, "b/k"), undefined);
});

Deno.test("opened keys: copies handed out, gone after a minute, least recently used dropped", () => {
  let now = 0;
  const cache = new OpenedKeys(() => now);
  const key = new Uint8Array(32).fill(7);
  cache.set("a", sealed, key);
  key.fill(0);
  const first = cache.get("a")!;
  assertEquals(first.key, new Uint8Array(32).fill(7));
  first.key.fill(9);
  assertEquals(cache.get("a")!.key, new Uint8Array(32).fill(7));
  now = 60_001;
  assertEquals(cache.get("a"), undefined);
  assertEquals(cache.size, 0);

  for (let i = 0; i < 4096; i++) cache.set(`k${i}`, sealed, new Uint8Array(32).fill(i & 0xff));
  cache.get("k0"); // used: k1 is now the least recently used
  cache.set("new", sealed, new Uint8Array(32));
  assertEquals(cache.size, 4096);
  assert(cache.get("k0") !== undefined);
  assertEquals(cache.get("k1"), undefined);
});
