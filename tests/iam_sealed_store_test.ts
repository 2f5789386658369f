/**
 * IAM secrets sealed by the key service, in process over a real deployment: with a key service
 * no secret is on the drives in any form (secrets stored in plain before are sealed at load —
 * and the same search finds them while they are plain), they open after a reload and on a
 * peer's reload; without it a sealed key is logged once per user and does not authenticate,
 * root and the records' other changes go on, and the sealed secret is written back as it was;
 * a sealed secret moved to another access key does not open.
 */
import { IamStore } from "../src/iam/store.ts";
import type { AccessKeyRecord, UserRecord } from "../src/iam/store-records.ts";
import { BuiltinKeyService } from "../src/kms/builtin.ts";
import { deployment } from "./fixtures/object_env.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { foundUnder, rootKey } from "./kms_util.ts";

const ROOT = { accessKey: "rootkey", secretKey: "rootsecret-123" };
const SECRETS = {
  legacy: "L".repeat(20) + "legacy-secret-0123456",
  alice: "alice-secret/" + "A".repeat(27),
};
const KEY_IDS = { legacy: "AKIALEGACYLEGACYLEGA", alice: "AKIAALICEALICEALICEA" };
const bytes = (text: string) => new TextEncoder().encode(text);

function user(name: keyof typeof SECRETS): UserRecord {
  const key: AccessKeyRecord = {
    id: KEY_IDS[name],
    secret: SECRETS[name],
    status: "Active",
    created: new Date().toISOString(),
  };
  return {
    name,
    path: "/",
    id: `AIDA${name.toUpperCase().padEnd(17, "X")}`,
    created: key.created,
    inline: {},
    attached: [],
    keys: [key],
  };
}

/** What console.error printed while `fn` ran. */
async function errorsOf<T>(fn: () => Promise<T>): Promise<[T, string[]]> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return [await fn(), lines];
  } finally {
    console.error = original;
  }
}

Deno.test("iam sealed: secrets sealed on the drives, opened with the key service, unusable without", async () => {
  // One data and one parity shard: every drive holds each record whole.
  const d = await deployment(1, 2, 1);
  try {
    const everySecret = { legacy: bytes(SECRETS.legacy), alice: bytes(SECRETS.alice) };
    // Before the key service: stored in plain, which the search finds (so it can fail).
    const plain = await IamStore.load(d.layer, ROOT);
    await plain.change("user", "legacy", () => user("legacy"));
    assertEquals((await foundUnder(d.root, everySecret)).length, 2, "legacy in plain, 2 drives");

    // With it: the plain secret is sealed at load; new ones are written sealed.
    const root = rootKey();
    const kms = await BuiltinKeyService.open(d.layer, root);
    const store = await IamStore.load(d.layer, ROOT, undefined, kms);
    await store.change("user", "alice", () => user("alice"));
    assertEquals(await foundUnder(d.root, { ...everySecret, root: root.key }), []);
    for (const name of ["legacy", "alice"] as const) {
      assertEquals(store.credentialsFor(KEY_IDS[name])?.secretKey, SECRETS[name], name);
    }

    // A restart, and a peer's reload of a record this node changed.
    const layer = await d.open();
    const again = await IamStore.load(
      layer,
      ROOT,
      undefined,
      await BuiltinKeyService.open(
        layer,
        root,
      ),
    );
    for (const name of ["legacy", "alice"] as const) {
      assertEquals(again.credentialsFor(KEY_IDS[name])?.secretKey, SECRETS[name], name);
    }
    await store.change("user", "alice", (u) => ({ ...u!, tags: [{ Key: "k", Value: "v" }] }));
    await again.reload("user", "alice");
    assertEquals(again.user("alice")?.tags, [{ Key: "k", Value: "v" }]);
    assertEquals(again.credentialsFor(KEY_IDS.alice)?.secretKey, SECRETS.alice);

    // Without the key service: one line per user, their keys do not authenticate, root does.
    const [bare, errors] = await errorsOf(() => IamStore.load(d.layer, ROOT));
    assertEquals(errors.length, 2, errors.join("\n"));
    for (const name of ["legacy", "alice"] as const) {
      const line = errors.find((l) => l.includes(`IAM user ${name}:`)) ?? "";
      assert(line.includes(KEY_IDS[name]), `${name} logged: ${errors}`);
      assert(line.includes("FLASHSTOR_KMS_SECRET_KEY"), line);
      assert(!line.includes(SECRETS[name]), "no secret in the log");
      assertEquals(bare.credentialsFor(KEY_IDS[name]), undefined, name);
      assert(bare.hasKey(KEY_IDS[name]), `${name}'s key still listed`);
    }
    assertEquals(bare.credentialsFor(ROOT.accessKey)?.secretKey, ROOT.secretKey);
    // A change to the user writes its sealed key back as it was.
    await bare.change("user", "alice", (u) => ({
      ...u!,
      keys: u!.keys.map((k) => ({ ...k, status: "Inactive" as const })),
    }));
    await bare.change("user", "alice", (u) => ({
      ...u!,
      keys: u!.keys.map((k) => ({ ...k, status: "Active" as const })),
    }));
    assertEquals(await foundUnder(d.root, everySecret), []);
    const back = await IamStore.load(d.layer, ROOT, undefined, kms);
    assertEquals(back.credentialsFor(KEY_IDS.alice)?.secretKey, SECRETS.alice);

    // A sealed secret copied onto another access key (someone editing the drives) does not open.
    const stored = JSON.parse(
      new TextDecoder().decode(await d.layer.readConfig("iam/users/alice.json")),
    );
    stored.keys[0].id = "AKIAMOVEDMOVEDMOVEDM";
    await d.layer.writeConfig("iam/users/alice.json", bytes(JSON.stringify(stored)));
    const [moved, complaints] = await errorsOf(() => IamStore.load(d.layer, ROOT, undefined, kms));
    assertEquals(moved.credentialsFor("AKIAMOVEDMOVEDMOVEDM"), undefined);
    assert(complaints.some((l) => l.includes("AKIAMOVEDMOVEDMOVEDM")), complaints.join("\n"));
  } finally {
    await d.close();
  }
});
