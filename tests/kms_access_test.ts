/**
 * Who may use a master key for SSE-KMS (authorizeKms), in process over a real deployment's IAM
 * store and bucket-metadata store, through the request access the S3 pipeline builds: root
 * always; users and role sessions only with an identity-policy Allow of kms:GenerateDataKey /
 * kms:Decrypt on the key's ARN (arn:aws:kms:<region>:<account>:key/<id>, wildcards, kms:*, *),
 * an explicit Deny winning, session policies narrowing a role, conditions read from the
 * request, anonymous never; and a policy change taking effect on the next call.
 */

import type { AuthResult } from "../src/auth/sigv4.ts";
import { ConfigBucketMetadataStore } from "../src/bucket/metadata-store.ts";
import { parseServerArgs } from "../src/config.ts";
import { Authorizer } from "../src/iam/authorize.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";
import type { Principal } from "../src/iam/principal.ts";
import { IamStore } from "../src/iam/store.ts";
import type { RoleRecord, UserRecord } from "../src/iam/store-records.ts";
import { requestAccess } from "../src/s3/access.ts";
import { S3Error } from "../src/s3/errors.ts";
import { authorizeKms, type KmsAction, kmsKeyArn } from "../src/s3/kms-access.ts";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { deployment } from "./fixtures/object_env.ts";

const ROOT = { accessKey: "rootkey", secretKey: "rootsecret-123" };
const REGION = "eu-west-3";
const config = parseServerArgs(["/d"], (name) => name === "FLASHSTOR_REGION" ? REGION : undefined);

const document = (...statements: Record<string, unknown>[]) =>
  JSON.stringify({ Version: "2012-10-17", Statement: statements });

function user(name: string, policy: string): UserRecord {
  return {
    name,
    path: "/",
    id: `AIDA${name.toUpperCase().padEnd(17, "X")}`,
    created: "",
    inline: { p: policy },
    attached: [],
    keys: [{
      id: `AKIA${name.toUpperCase().padEnd(16, "0")}`,
      secret: "s".repeat(40),
      created: "",
      status: "Active",
    }],
  };
}

interface Fixture {
  store: IamStore;
  authorizer: Authorizer;
  keyArn(keyId: string): string;
  principal(userName: string): Principal;
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  const d = await deployment(1, 4, 2);
  try {
    const store = await IamStore.load(d.layer, ROOT);
    const authorizer = new Authorizer(store, new ConfigBucketMetadataStore(d.layer));
    await fn({
      store,
      authorizer,
      keyArn: (keyId) => kmsKeyArn(REGION, store.accountId, keyId),
      principal(userName) {
        const record = store.user(userName);
        assert(record !== undefined, userName);
        return store.userPrincipal(record, record.keys[0].id);
      },
    });
  } finally {
    await d.close();
  }
}

/** The parts of a request by `principal` (over TLS when `secure`) that authorizeKms reads. */
function request(f: Fixture, principal: Principal, secure = false) {
  const access = requestAccess(f.authorizer, {
    principal,
    headers: new Headers(),
    query: new URLSearchParams(),
    remoteAddr: "10.0.0.7",
    secure,
    form: false,
  });
  const auth: AuthResult = {
    accessKey: principal.accessKey,
    principal,
    headers: new Headers(),
    body: null,
    contentLength: 0,
    trailers: Promise.resolve(new Headers()),
  };
  return { access, auth, config };
}

/** Whether `principal`'s request may perform `action` on `keyId`. */
async function allowed(
  f: Fixture,
  principal: Principal,
  action: KmsAction,
  keyId: string,
  secure = false,
): Promise<boolean> {
  try {
    await authorizeKms(request(f, principal, secure), action, keyId);
    return true;
  } catch (err) {
    if (err instanceof S3Error && err.code === "AccessDenied" && err.status === 403) return false;
    throw err;
  }
}

Deno.test("kms access: the key's ARN is in the server's region and the account", async () => {
  await withFixture(async (f) => {
    assertEquals(f.keyArn("k1"), `arn:aws:kms:${REGION}:${f.store.accountId}:key/k1`);
    // A policy naming the ARN in another region grants nothing here.
    await f.store.change("user", "elsewhere", () =>
      user(
        "elsewhere",
        document({
          Effect: "Allow",
          Action: "kms:*",
          Resource: `arn:aws:kms:us-east-1:${f.store.accountId}:key/k1`,
        }),
      ));
    assertEquals(await allowed(f, f.principal("elsewhere"), "kms:Decrypt", "k1"), false);
  });
});

Deno.test("kms access: kms: actions in identity policies parse, as AWS writes them", () => {
  for (const action of ["kms:GenerateDataKey", "kms:Decrypt", "kms:*", "kms:GenerateDataKey*"]) {
    parsePolicy(document({ Effect: "Allow", Action: action, Resource: "*" }), "identity");
  }
  parsePolicy(
    document({
      Effect: "Allow",
      Action: ["kms:Decrypt", "kms:GenerateDataKey"],
      Resource: "arn:aws:kms:*:123456789012:key/*",
    }),
    "identity",
  );
});

Deno.test("kms access: root always; users by their policies; anonymous never", async () => {
  await withFixture(async (f) => {
    const { store } = f;
    const root = store.credentialsFor(ROOT.accessKey)!.principal;
    const anonymous: Principal = {
      kind: "anonymous",
      accountId: store.accountId,
      arn: "",
      userId: "",
      accessKey: "",
      temporary: false,
    };
    await store.change("user", "writer", () =>
      user(
        "writer",
        document({ Effect: "Allow", Action: "kms:GenerateDataKey", Resource: f.keyArn("k1") }),
      ));
    await store.change("user", "both", () =>
      user(
        "both",
        document({
          Effect: "Allow",
          Action: ["kms:GenerateDataKey", "kms:Decrypt"],
          Resource: `arn:aws:kms:*:${store.accountId}:key/team-*`,
        }),
      ));
    await store.change(
      "user",
      "kmsadmin",
      () => user("kmsadmin", document({ Effect: "Allow", Action: "kms:*", Resource: "*" })),
    );
    await store.change(
      "user",
      "everything",
      () => user("everything", document({ Effect: "Allow", Action: "*", Resource: "*" })),
    );
    await store.change(
      "user",
      "s3only",
      () => user("s3only", document({ Effect: "Allow", Action: "s3:*", Resource: "*" })),
    );
    await store.change("user", "fenced", () =>
      user(
        "fenced",
        document(
          { Effect: "Allow", Action: "kms:*", Resource: "*" },
          { Effect: "Deny", Action: "kms:Decrypt", Resource: f.keyArn("secret") },
        ),
      ));

    const cases: [Principal, KmsAction, string, boolean][] = [
      [root, "kms:GenerateDataKey", "any-key", true],
      [root, "kms:Decrypt", "any-key", true],
      [anonymous, "kms:Decrypt", "k1", false],
      [f.principal("writer"), "kms:GenerateDataKey", "k1", true],
      [f.principal("writer"), "kms:Decrypt", "k1", false],
      [f.principal("writer"), "kms:GenerateDataKey", "k2", false],
      [f.principal("both"), "kms:GenerateDataKey", "team-a", true],
      [f.principal("both"), "kms:Decrypt", "team-b", true],
      [f.principal("both"), "kms:Decrypt", "k1", false],
      [f.principal("kmsadmin"), "kms:Decrypt", "k1", true],
      [f.principal("everything"), "kms:GenerateDataKey", "k9", true],
      [f.principal("s3only"), "kms:GenerateDataKey", "k1", false],
      [f.principal("fenced"), "kms:GenerateDataKey", "secret", true],
      [f.principal("fenced"), "kms:Decrypt", "secret", false],
      [f.principal("fenced"), "kms:Decrypt", "other", true],
    ];
    for (const [principal, action, keyId, expected] of cases) {
      assertEquals(
        await allowed(f, principal, action, keyId),
        expected,
        `${principal.arn || "anonymous"} ${action} ${keyId}`,
      );
    }
  });
});

Deno.test("kms access: a role session is narrowed by its session policy", async () => {
  await withFixture(async (f) => {
    const { store } = f;
    const role: RoleRecord = {
      name: "encryptor",
      path: "/",
      id: "AROAENCRYPTOR",
      created: "",
      inline: { p: document({ Effect: "Allow", Action: "kms:*", Resource: "*" }) },
      attached: [],
      trustPolicy: document({
        Effect: "Allow",
        Principal: { AWS: "*" },
        Action: "sts:AssumeRole",
      }),
      maxSessionDuration: 3600,
    };
    await store.change("role", role.name, () => role);
    const session = (sessionPolicies?: string): Principal => ({
      kind: "assumed-role",
      accountId: store.accountId,
      arn: `arn:aws:sts::${store.accountId}:assumed-role/encryptor/s1`,
      userId: "AROAENCRYPTOR:s1",
      accessKey: sessionPolicies ? "ASIANARROWED" : "ASIAPLAIN",
      roleArn: `arn:aws:iam::${store.accountId}:role/encryptor`,
      sessionPolicies: sessionPolicies ? [parsePolicy(sessionPolicies, "session")] : undefined,
      temporary: true,
    });
    assertEquals(await allowed(f, session(), "kms:GenerateDataKey", "k1"), true);
    const narrowed = session(
      document({ Effect: "Allow", Action: "kms:Decrypt", Resource: f.keyArn("k1") }),
    );
    assertEquals(await allowed(f, narrowed, "kms:Decrypt", "k1"), true);
    assertEquals(await allowed(f, narrowed, "kms:GenerateDataKey", "k1"), false);
    assertEquals(await allowed(f, narrowed, "kms:Decrypt", "k2"), false);
  });
});

Deno.test("kms access: conditions are the request's; a policy change applies to the next call", async () => {
  await withFixture(async (f) => {
    const { store } = f;
    await store.change("user", "tls", () =>
      user(
        "tls",
        document({
          Effect: "Allow",
          Action: "kms:Decrypt",
          Resource: "*",
          Condition: { Bool: { "aws:SecureTransport": "true" } },
        }),
      ));
    const tls = f.principal("tls");
    assertEquals(await allowed(f, tls, "kms:Decrypt", "k1", false), false);
    assertEquals(await allowed(f, tls, "kms:Decrypt", "k1", true), true);

    await store.change("user", "tls", (current) => ({
      ...current!,
      inline: { p: document({ Effect: "Deny", Action: "kms:*", Resource: "*" }) },
    }));
    assertEquals(await allowed(f, tls, "kms:Decrypt", "k1", true), false);
  });
});

Deno.test("kms access: a refusal is S3's AccessDenied and says nothing of the key", async () => {
  await withFixture(async (f) => {
    await f.store.change(
      "user",
      "nobody",
      () => user("nobody", document({ Effect: "Allow", Action: "s3:GetObject", Resource: "*" })),
    );
    const err = await assertRejects(
      () => authorizeKms(request(f, f.principal("nobody")), "kms:Decrypt", "named-key"),
      S3Error,
    );
    assertEquals([err.code, err.status], ["AccessDenied", 403]);
    assert(!err.message.includes("named-key"), err.message);
  });
});
