/**
 * Retention and legal hold of object versions against a real server with the JS SDK v3 (signed
 * raw requests for what the SDK would not send): Put/GetObjectRetention per version, COMPLIANCE
 * only extended (the bypass included), GOVERNANCE extended by anyone and shortened, switched or
 * removed only with the bypass, Put/GetObjectLegalHold, no data or Last-Modified change, and
 * AWS's errors.
 */

import {
  CreateBucketCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import { withServer } from "./helpers/server.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

const DAY = 24 * 3600 * 1000;
const inDays = (days: number) => new Date(Date.now() + days * DAY);
const md5 = (text: string) => createHash("md5").update(text).digest("base64");

Deno.test("object lock: retention and legal hold of a version, and who may weaken them", async () => {
  await withServer(async (server, client) => {
    const Bucket = "locked";
    await client.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
    const v1 = (await client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "one" })))
      .VersionId!;
    const v2 = (await client.send(new PutObjectCommand({ Bucket, Key: "k", Body: "two" })))
      .VersionId!;
    await assertS3Error(
      () => client.send(new GetObjectRetentionCommand({ Bucket, Key: "k" })),
      "NoSuchObjectLockConfiguration",
      404,
    );
    await assertS3Error(
      () => client.send(new GetObjectLegalHoldCommand({ Bucket, Key: "k" })),
      "NoSuchObjectLockConfiguration",
      404,
    );
    const retain = (
      VersionId: string,
      Mode: "GOVERNANCE" | "COMPLIANCE",
      days: number,
      bypass?: boolean,
    ) =>
      client.send(
        new PutObjectRetentionCommand({
          Bucket,
          Key: "k",
          VersionId,
          Retention: { Mode, RetainUntilDate: inDays(days) },
          BypassGovernanceRetention: bypass,
        }),
      );
    const retention = async (VersionId: string) =>
      (await client.send(new GetObjectRetentionCommand({ Bucket, Key: "k", VersionId }))).Retention;

    const headBefore = await client.send(
      new HeadObjectCommand({ Bucket, Key: "k", VersionId: v1 }),
    );
    await retain(v1, "COMPLIANCE", 5);
    assertEquals((await retention(v1))?.Mode, "COMPLIANCE");
    await assertS3Error(
      () => client.send(new GetObjectRetentionCommand({ Bucket, Key: "k" })),
      "NoSuchObjectLockConfiguration",
      404,
    );
    // COMPLIANCE: only extended, whoever asks (root with the bypass included).
    await retain(v1, "COMPLIANCE", 6);
    await assertS3Error(() => retain(v1, "COMPLIANCE", 4, true), "AccessDenied", 403);
    await assertS3Error(() => retain(v1, "GOVERNANCE", 10, true), "AccessDenied", 403);
    const empty = await signedFetch(server, {
      method: "PUT",
      path: `/${Bucket}/k`,
      query: [["retention", ""], ["versionId", v1]],
      body: "<Retention/>",
      headers: { "content-md5": md5("<Retention/>"), "x-amz-bypass-governance-retention": "true" },
    });
    assertEquals([empty.status, xmlField(await empty.text(), "Code")], [403, "AccessDenied"]);
    const kept = (await retention(v1))!.RetainUntilDate!.getTime();
    assert(Math.abs(kept - inDays(6).getTime()) < 60_000, `${kept}`);
    // Retention changes no data and no Last-Modified.
    const headAfter = await client.send(new HeadObjectCommand({ Bucket, Key: "k", VersionId: v1 }));
    assertEquals([headAfter.ETag, headAfter.LastModified], [
      headBefore.ETag,
      headBefore.LastModified,
    ]);

    // GOVERNANCE: extended by anyone, shortened, switched or removed only with the bypass.
    await retain(v2, "GOVERNANCE", 5);
    await retain(v2, "GOVERNANCE", 7);
    await assertS3Error(() => retain(v2, "GOVERNANCE", 3), "AccessDenied", 403);
    await retain(v2, "GOVERNANCE", 3, true);
    await retain(v2, "COMPLIANCE", 4);
    assertEquals((await retention(v2))?.Mode, "COMPLIANCE");

    const hold = (VersionId: string, Status: "ON" | "OFF") =>
      client.send(
        new PutObjectLegalHoldCommand({ Bucket, Key: "k", VersionId, LegalHold: { Status } }),
      );
    await hold(v1, "ON");
    const held = await client.send(
      new GetObjectLegalHoldCommand({ Bucket, Key: "k", VersionId: v1 }),
    );
    assertEquals(held.LegalHold?.Status, "ON");
    await hold(v1, "OFF");
    const released = await client.send(
      new GetObjectLegalHoldCommand({ Bucket, Key: "k", VersionId: v1 }),
    );
    assertEquals(released.LegalHold?.Status, "OFF");
    await assertS3Error(
      () => client.send(new GetObjectLegalHoldCommand({ Bucket, Key: "k", VersionId: v2 })),
      "NoSuchObjectLockConfiguration",
      404,
    );

    const raw = (
      sub: string,
      body: string,
      headers: Record<string, string> = { "content-md5": md5(body) },
    ) =>
      signedFetch(server, {
        method: "PUT",
        path: `/${Bucket}/k`,
        query: [[sub, ""]],
        body,
        headers,
      });
    const cases: [string, string, string][] = [
      ["retention", "", "MalformedXML"],
      ["retention", "<Retention><Mode>GOVERNANCE</Mode></Retention>", "MalformedXML"],
      [
        "retention",
        "<Retention><Mode>WORM</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>",
        "MalformedXML",
      ],
      [
        "retention",
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>soon</RetainUntilDate></Retention>",
        "MalformedXML",
      ],
      [
        "retention",
        "<Retention><Mode>GOVERNANCE</Mode><RetainUntilDate>2001-01-01T00:00:00Z</RetainUntilDate></Retention>",
        "InvalidArgument",
      ],
      ["legal-hold", "<LegalHold><Status>MAYBE</Status></LegalHold>", "MalformedXML"],
      ["legal-hold", "<LegalHold/>", "MalformedXML"],
      ["legal-hold", "<Other><Status>ON</Status></Other>", "MalformedXML"],
    ];
    for (const [sub, body, code] of cases) {
      const response = await raw(sub, body);
      assertEquals([response.status, xmlField(await response.text(), "Code")], [400, code], body);
    }
    for (const sub of ["retention", "legal-hold"]) {
      const response = await raw(sub, "<LegalHold><Status>ON</Status></LegalHold>", {});
      assertEquals([response.status, xmlField(await response.text(), "Code")], [
        400,
        "InvalidRequest",
      ]);
    }
    await assertS3Error(
      () =>
        client.send(
          new PutObjectLegalHoldCommand({ Bucket, Key: "missing", LegalHold: { Status: "ON" } }),
        ),
      "NoSuchKey",
      404,
    );
    await assertS3Error(
      () =>
        client.send(
          new GetObjectRetentionCommand({
            Bucket,
            Key: "k",
            VersionId: "00000000-0000-4000-8000-000000000000",
          }),
        ),
      "NoSuchVersion",
      404,
    );
  });
});
