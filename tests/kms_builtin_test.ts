/**
 * The built-in key service over a real object layer (Pools over temp drives): data keys round
 * trip and open only under their context, key id and root key; the drives never hold the root
 * key, a master key or a data key; rotation keeps old data keys open and rewrap moves them to
 * the new version; a reopened service (a restart) and two services over the same drives (two
 * nodes starting together) agree on every key.
 */
import { fromBase64 } from "../src/bytes.ts";
import type { KmsSecretKey } from "../src/config.ts";
import { BuiltinKeyService } from "../src/kms/builtin.ts";
import { InvalidKeyId, KeyExists, KeyNotFound, KeySealBroken } from "../src/kms/key-service.ts";
import { boundTo, open } from "../src/kms/seal.ts";
import { NamespaceLocks } from "../src/object/ns-lock.ts";
import { Pools } from "../src/object/pools.ts";
import { openLocalDrive } from "../src/storage/local-drive.ts";
import { type Deployment, deployment, equalBytes } from "./fixtures/object_env.ts";
import { assert, assertEquals, assertNotEquals, assertRejects } from "./helpers/assert.ts";
import { foundUnder, rootKey } from "./kms_util.ts";

const CONTEXT = { "flashstor:object": "bucket/a", department: "x" };

/** The master-key version a sealed data key names (its layout: format byte, u32 version). */
function versionOf(sealed: Uint8Array): number {
  assertEquals(sealed[0], 1, "format byte");
  return new DataView(sealed.buffer, sealed.byteOffset).getUint32(1);
}

/** Every master-key version's 32 bytes, opened from the records with the root key. */
async function masterKeys(layer: Pools, root: KmsSecretKey): Promise<Record<string, Uint8Array>> {
  const out: Record<string, Uint8Array> = {};
  for (const path of await layer.listConfig("kms/keys/")) {
    const record = JSON.parse(new TextDecoder().decode(await layer.readConfig(path)));
    const aad = boundTo("master-key", [record.keyId, record.version]);
    out[`master ${record.keyId} v${record.version}`] = open(
      root.key,
      fromBase64(record.sealed),
      aad,
      path,
    );
  }
  return out;
}

/** Two object layers over the same drives sharing one lock table, as two nodes share dsync. */
async function twoNodes(d: Deployment): Promise<Pools[]> {
  const locker = new NamespaceLocks();
  return await Promise.all([0, 1].map(async () => {
    const sets = await Promise.all(
      d.paths.map((set) => Promise.all(set.map((p) => openLocalDrive(p)))),
    );
    return new Pools(sets, { parity: d.parity, deploymentId: "test", locker });
  }));
}

Deno.test("kms builtin: data keys round trip and open only under their context, key and root key", async () => {
  const d = await deployment(1, 4, 2);
  const other = await deployment(1, 4, 2);
  try {
    const root = rootKey();
    const kms = await BuiltinKeyService.open(d.layer, root);
    assertEquals(kms.defaultKeyId, "test-root");
    const key = await kms.generateDataKey(kms.defaultKeyId, CONTEXT);
    assertEquals([key.keyId, key.plaintext.byteLength], ["test-root", 32]);
    assert(!equalBytes(key.sealed.subarray(-32), key.plaintext), "sealed is not the plaintext");
    // The context's names may come in any order.
    const reordered = { department: "x", "flashstor:object": "bucket/a" };
    assert(equalBytes(await kms.decrypt("test-root", key.sealed, reordered), key.plaintext));
    const second = await kms.generateDataKey("test-root", CONTEXT);
    assert(!equalBytes(second.plaintext, key.plaintext), "every data key is fresh");

    const broken = (keyId: string, sealed: Uint8Array, context: Record<string, string>) =>
      assertRejects(() => kms.decrypt(keyId, sealed, context), KeySealBroken);
    await broken("test-root", key.sealed, { "flashstor:object": "bucket/a" });
    await broken("test-root", key.sealed, { ...CONTEXT, department: "y" });
    await broken("test-root", key.sealed, { ...CONTEXT, extra: "" });
    for (const at of [0, 3, 10, key.sealed.byteLength - 1]) {
      const flipped = key.sealed.slice();
      flipped[at] ^= 1;
      await broken("test-root", flipped, CONTEXT);
    }
    await broken("test-root", key.sealed.subarray(0, 40), CONTEXT);
    await broken("test-root", new Uint8Array(), CONTEXT);
    // Under another master key of this service.
    await kms.createKey("app/one");
    await broken("app/one", key.sealed, CONTEXT);
    // Under a service of another deployment whose root key has the same name.
    const stranger = await BuiltinKeyService.open(other.layer, rootKey());
    await assertRejects(() => stranger.decrypt("test-root", key.sealed, CONTEXT), KeySealBroken);
    // The same drives with another root key of the same name: refused at open, clearly.
    await assertRejects(
      () => BuiltinKeyService.open(d.layer, { name: "test-root", key: rootKey().key }),
      KeySealBroken,
      "FLASHSTOR_KMS_SECRET_KEY",
    );

    await assertRejects(() => kms.generateDataKey("missing", CONTEXT), KeyNotFound);
    await assertRejects(() => kms.decrypt("missing", key.sealed, CONTEXT), KeyNotFound);
    for (const bad of ["", "a b", "x".repeat(129), "ü", "a\n"]) {
      await assertRejects(() => kms.createKey(bad), InvalidKeyId);
      await assertRejects(() => kms.generateDataKey(bad, CONTEXT), InvalidKeyId);
    }
    await assertRejects(() => kms.createKey("app/one"), KeyExists);
    const longest = "a:b/c.d_e-".repeat(12) + "12345678";
    assertEquals((await kms.createKey(longest)).keyId, longest);
    assertEquals((await kms.listKeys()).map((k) => k.keyId), [longest, "app/one", "test-root"]);
    const status = await kms.keyStatus("app/one");
    assertEquals([status.version, status.rotatedAt], [1, undefined]);
  } finally {
    await d.close();
    await other.close();
  }
});

Deno.test("kms builtin: no root key, master key or data key in any file of the drives", async () => {
  // One data and one parity shard: every drive holds each record whole, so a stored key would
  // be found whole.
  const d = await deployment(1, 2, 1);
  try {
    const root = rootKey();
    const kms = await BuiltinKeyService.open(d.layer, root);
    await kms.createKey("second");
    await kms.rotateKey("second");
    const secrets: Record<string, Uint8Array> = { root: root.key };
    for (const [i, keyId] of ["test-root", "second"].entries()) {
      secrets[`data key ${i}`] = (await kms.generateDataKey(keyId, CONTEXT)).plaintext;
    }
    Object.assign(secrets, await masterKeys(d.layer, root));
    assertEquals(Object.keys(secrets).length, 6, Object.keys(secrets).join(", "));
    assertEquals(await foundUnder(d.root, secrets), []);
    // The control: a record holding a key in plain is found by the same search.
    await d.layer.writeConfig(
      "kms/control.json",
      new TextEncoder().encode(JSON.stringify({
        key: Array.from(secrets.root, (b) => b.toString(16).padStart(2, "0")).join(""),
      })),
    );
    assertEquals((await foundUnder(d.root, secrets)).length, 2, "found on both drives");
  } finally {
    await d.close();
  }
});

Deno.test("kms builtin: rotation keeps old data keys open; rewrap moves them to the new version", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const root = rootKey();
    const kms = await BuiltinKeyService.open(d.layer, root);
    const before = await kms.createKey("rotating");
    const old = await kms.generateDataKey("rotating", CONTEXT);
    assertEquals(versionOf(old.sealed), 1);

    const rotated = await kms.rotateKey("rotating");
    assertEquals(rotated.version, 2);
    assertEquals(rotated.createdAt, before.createdAt);
    assert(rotated.rotatedAt && rotated.rotatedAt >= before.createdAt, "rotatedAt set");
    assertEquals((await kms.keyStatus("rotating")).version, 2);
    assert(equalBytes(await kms.decrypt("rotating", old.sealed, CONTEXT), old.plaintext));
    assertEquals(versionOf((await kms.generateDataKey("rotating", CONTEXT)).sealed), 2);

    const rewrapped = await kms.rewrap("rotating", old.sealed, CONTEXT);
    assertEquals(versionOf(rewrapped), 2);
    assertNotEquals(rewrapped, old.sealed);
    assert(equalBytes(await kms.decrypt("rotating", rewrapped, CONTEXT), old.plaintext));
    await assertRejects(() => kms.decrypt("rotating", rewrapped, {}), KeySealBroken);
    await assertRejects(() => kms.rewrap("rotating", old.sealed, {}), KeySealBroken);
    await assertRejects(() => kms.rotateKey("missing"), KeyNotFound);
    // Rotating the default key leaves the others alone.
    await kms.rotateKey("test-root");
    assertEquals(
      (await kms.listKeys()).map((k) => [k.keyId, k.version]),
      [["rotating", 2], ["test-root", 2]],
    );

    // A restart: a new service over a new view of the drives opens what the old one sealed.
    const layer = await d.open();
    const reopened = await BuiltinKeyService.open(layer, root);
    assert(equalBytes(await reopened.decrypt("rotating", old.sealed, CONTEXT), old.plaintext));
    assert(equalBytes(await reopened.decrypt("rotating", rewrapped, CONTEXT), old.plaintext));
    assertEquals(await reopened.listKeys(), await kms.listKeys());
    assertEquals(versionOf((await reopened.generateDataKey("test-root", {})).sealed), 2);
  } finally {
    await d.close();
  }
});

Deno.test("kms builtin: two services opening the same drives together agree on every key", async () => {
  const d = await deployment(1, 4, 2);
  const nodes = await twoNodes(d);
  try {
    const root = rootKey();
    const [a, b] = await Promise.all(nodes.map((layer) => BuiltinKeyService.open(layer, root)));
    assertEquals(await d.layer.listConfig("kms/keys/"), [
      `kms/keys/${btoa("test-root").replace(/=+$/, "")}/1.json`,
    ]);
    const fromA = await a.generateDataKey("test-root", CONTEXT);
    assert(equalBytes(await b.decrypt("test-root", fromA.sealed, CONTEXT), fromA.plaintext));
    const fromB = await b.generateDataKey("test-root", CONTEXT);
    assert(equalBytes(await a.decrypt("test-root", fromB.sealed, CONTEXT), fromB.plaintext));

    // Made on one node, seen on the other; made twice at once, made once.
    const made = await Promise.allSettled([a.createKey("shared"), b.createKey("shared")]);
    assertEquals(made.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const refused = made.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert(refused.reason instanceof KeyExists, String(refused.reason));
    // A version rotated on a knows nothing of b's cache: b reads it when a data key names it.
    await a.rotateKey("shared");
    const rotated = await a.generateDataKey("shared", CONTEXT);
    assertEquals(versionOf(rotated.sealed), 2);
    assert(equalBytes(await b.decrypt("shared", rotated.sealed, CONTEXT), rotated.plaintext));
    assertEquals((await b.keyStatus("shared")).version, 2);
    // Rotating on both at once: whether they made one version or two, both see the same.
    await Promise.all([a.rotateKey("shared"), b.rotateKey("shared")]);
    const [sa, sb] = await Promise.all([a.keyStatus("shared"), b.keyStatus("shared")]);
    assertEquals(sa, sb);
    assert(sa.version >= 3, `version ${sa.version}`);
    const third = await b.rewrap("shared", rotated.sealed, CONTEXT);
    assert(equalBytes(await a.decrypt("shared", third, CONTEXT), rotated.plaintext));
  } finally {
    for (const layer of nodes) await layer.close();
    await d.close();
  }
});
