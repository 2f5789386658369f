/**
 * In process: the bucket-metadata store over a real deployment (records in the config store,
 * the epoch, serialised changes, a second view reading what the first wrote, m drives gone),
 * and AWS's rule for a public bucket policy (src/iam/public-policy.ts).
 */
import { assertEquals } from "./helpers/assert.ts";
import { deployment } from "./fixtures/object_env.ts";
import { ConfigBucketMetadataStore } from "../src/bucket/metadata-store.ts";
import { isPublicPolicy } from "../src/iam/public-policy.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";

Deno.test("bucket metadata store: get, update, remove, epoch, kept in the config store", async () => {
  const d = await deployment(1, 4, 2);
  try {
    const store = new ConfigBucketMetadataStore(d.layer);
    assertEquals(await store.get("photos"), {});
    assertEquals(store.epoch, 0);
    await store.update("photos", (m) => ({ ...m, policy: "{}" }));
    assertEquals([await store.get("photos"), store.epoch], [{ policy: "{}" }, 1]);
    // Changes of one bucket are applied one after the other, none lost.
    const writes = Array.from(
      { length: 8 },
      (_, i) => store.update("photos", (m) => ({ ...m, policy: `${m.policy}${i}` })),
    );
    await Promise.all(writes);
    assertEquals((await store.get("photos")).policy, "{}01234567");
    assertEquals(store.epoch, 9);
    // A refused change stores nothing and leaves the epoch alone.
    const refused = await store.update("photos", () => {
      throw new Error("refused");
    }).then(() => "stored", (err: Error) => err.message);
    assertEquals([refused, store.epoch], ["refused", 9]);

    // Another view of the same drives, with m of them gone, reads the record.
    const degraded = new ConfigBucketMetadataStore(await d.open((_s, drive) => drive >= 2));
    assertEquals((await degraded.get("photos")).policy, "{}01234567");

    // Emptied: the record goes; removed: the same, and the epoch moves on.
    await store.update("photos", (m) => ({ ...m, policy: undefined }));
    assertEquals(await d.layer.readConfig("buckets/photos.json"), undefined);
    await store.update("docs", () => ({ ownership: "BucketOwnerEnforced" }));
    await store.remove("docs");
    assertEquals([await store.get("docs"), store.epoch], [{}, 12]);
    assertEquals(await new ConfigBucketMetadataStore(d.layer).get("docs"), {});
  } finally {
    await d.close();
  }
});

function statement(extra: Record<string, unknown>): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [{
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: "arn:aws:s3:::b/*",
      ...extra,
    }],
  });
}

Deno.test("public bucket policy: AWS's rule", () => {
  const cases: [Record<string, unknown>, boolean][] = [
    [{ Principal: "*" }, true],
    [{ Principal: { AWS: "*" } }, true],
    [{ Principal: { AWS: "arn:aws:iam::123456789012:user/alice" } }, false],
    [{ Principal: { AWS: "123456789012" } }, false],
    [{ Principal: { CanonicalUser: "a".repeat(64) } }, false],
    [{ NotPrincipal: { AWS: "arn:aws:iam::123456789012:user/alice" } }, true],
    [{ Principal: "*", Effect: "Deny" }, false],
    [{ Principal: "*", Condition: { IpAddress: { "aws:SourceIp": "10.0.0.0/24" } } }, false],
    [{ Principal: "*", Condition: { IpAddress: { "aws:SourceIp": "0.0.0.0/0" } } }, true],
    [{ Principal: "*", Condition: { NotIpAddress: { "aws:SourceIp": "10.0.0.0/24" } } }, true],
    [
      { Principal: "*", Condition: { StringEquals: { "aws:SourceAccount": "123456789012" } } },
      false,
    ],
    [{ Principal: "*", Condition: { StringLike: { "aws:PrincipalArn": "arn:aws:iam::*" } } }, true],
    [{ Principal: "*", Condition: { StringEquals: { "s3:prefix": "public/" } } }, true],
    [{ Principal: "*", Condition: { Bool: { "aws:SecureTransport": "true" } } }, true],
  ];
  for (const [extra, expected] of cases) {
    const text = statement(extra);
    assertEquals(isPublicPolicy(parsePolicy(text, "resource")), expected, text);
  }
});
