/**
 * The IAM store in process, over a real deployment's config store: the account made once and
 * kept, credentials of root and of active keys only, identity policies (inline, attached,
 * groups', a role's), the epoch and its listeners, renames, names unique whatever their case,
 * and a refused change that changes nothing.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { deployment } from "./fixtures/object_env.ts";
import { IamStore } from "../src/iam/store.ts";
import type { GroupRecord, RoleRecord, UserRecord } from "../src/iam/store-records.ts";

const ROOT = { accessKey: "rootkey", secretKey: "rootsecret-123" };
const allow = (action: string) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: action, Resource: "*" }],
  });

function user(name: string, extra: Partial<UserRecord> = {}): UserRecord {
  return {
    name,
    path: "/",
    id: `AIDA${name.toUpperCase().padEnd(17, "X")}`,
    created: new Date().toISOString(),
    inline: {},
    attached: [],
    keys: [],
    ...extra,
  };
}

Deno.test("iam store: account, credentials, identity policies, epoch, reload", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const store = await IamStore.load(d.layer, ROOT);
    assert(/^\d{12}$/.test(store.accountId), store.accountId);
    assert(/^[0-9a-f]{64}$/.test(store.canonicalUserId), store.canonicalUserId);
    const root = store.credentialsFor("rootkey")!;
    assertEquals([root.secretKey, root.principal.kind, root.principal.arn], [
      "rootsecret-123",
      "root",
      `arn:aws:iam::${store.accountId}:root`,
    ]);
    assertEquals(store.credentialsFor("AKIAUNKNOWN"), undefined);

    let changes = 0;
    store.onChange(() => changes++);
    const epoch = store.epoch;
    const key = { id: "AKIAAAAAAAAAAAAAAAAA", secret: "s".repeat(40), created: "" };
    await store.change("user", "Alice", () =>
      user("Alice", {
        keys: [
          { ...key, status: "Active" },
          { ...key, id: "AKIABBBBBBBBBBBBBBBB", status: "Inactive" },
        ],
        inline: { own: allow("s3:GetObject") },
        attached: ["arn:aws:iam::aws:policy/readonly"],
      }));
    assertEquals([store.epoch, changes], [epoch + 1, 1]);
    const alice = store.credentialsFor(key.id)!;
    assertEquals(alice.principal.kind, "user");
    assertEquals(alice.principal.userName, "Alice");
    assertEquals(alice.principal.arn, `arn:aws:iam::${store.accountId}:user/Alice`);
    assertEquals(store.credentialsFor("AKIABBBBBBBBBBBBBBBB"), undefined, "inactive key");
    assertEquals(store.identityPolicies(alice.principal).length, 2);

    const members = [store.user("alice")!.id];
    await store.change("group", "devs", (): GroupRecord => ({
      name: "devs",
      path: "/",
      id: "AGPADEVS",
      created: "",
      inline: { g: allow("s3:PutObject") },
      attached: [],
      members,
    }));
    assertEquals(store.identityPolicies(alice.principal).length, 3, "the group's policy too");
    assertEquals(store.identityPolicies(root.principal), []);

    const role: RoleRecord = {
      name: "r",
      path: "/x/",
      id: "AROAR",
      created: "",
      inline: {},
      attached: ["arn:aws:iam::aws:policy/writeonly"],
      trustPolicy: JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
      }),
      maxSessionDuration: 7200,
    };
    await store.change("role", "r", () => role);
    const roleArn = `arn:aws:iam::${store.accountId}:role/x/r`;
    assertEquals(store.role(roleArn)?.maxSessionSeconds, 7200);
    assertEquals(store.role(`arn:aws:iam::${store.accountId}:role/r`), undefined, "path matters");
    const session = { ...alice.principal, kind: "assumed-role" as const, roleArn };
    assertEquals(store.identityPolicies(session).length, 1);
    assert(store.managedPolicy("arn:aws:iam::aws:policy/readwrite") !== undefined);

    // A refused change writes nothing and bumps nothing.
    const before = store.epoch;
    await assertRejects(() =>
      store.change("user", "alice", () => {
        throw new Error("refused");
      })
    );
    assertEquals(store.epoch, before);

    // Rename: the key follows, the old name is gone, group membership (by id) stays.
    await store.change("user", "ALICE", (u) => ({ ...u!, name: "alicia" }));
    assertEquals(store.user("alice"), undefined);
    assertEquals(store.credentialsFor(key.id)?.principal.userName, "alicia");
    assertEquals(store.groupsOf(store.user("alicia")!).map((g) => g.name), ["devs"]);

    const reloaded = await IamStore.load(await d.open(), ROOT);
    assertEquals(reloaded.accountId, store.accountId);
    assertEquals(reloaded.canonicalUserId, store.canonicalUserId);
    assertEquals(reloaded.list("user").map((u) => u.name), ["alicia"]);
    assertEquals(reloaded.credentialsFor(key.id)?.principal.userName, "alicia");
    assertEquals(reloaded.identityPolicies(reloaded.credentialsFor(key.id)!.principal).length, 3);
    assertEquals(reloaded.role(roleArn)?.name, "r");

    // Two of four drives gone: records still read, but a change misses its write quorum and
    // is neither applied nor counted.
    const degraded = await IamStore.load(await d.open((_set, drive) => drive < 2), ROOT);
    assertEquals(degraded.credentialsFor(key.id)?.principal.userName, "alicia");
    const epochBefore = degraded.epoch;
    await assertRejects(() => degraded.change("user", "bob", () => user("bob")));
    assertEquals([degraded.user("bob"), degraded.epoch], [undefined, epochBefore]);
  } finally {
    await d.close();
  }
});
