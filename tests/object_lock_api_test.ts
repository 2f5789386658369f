/**
 * Object lock against a real server with the JS SDK v3 (signed raw requests for what the SDK
 * would not send): CreateBucket with object lock (versioning Enabled for good), Put/Get
 * ObjectLockConfiguration with default retention and its errors, lock headers on PUT and
 * CreateMultipartUpload (a digest required on PUT and on a locked upload's parts), copies, and
 * the lock headers on GET/HEAD. Retention and legal hold: object_lock_retention_test.ts.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import { withServer } from "./helpers/server.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

const DAY = 24 * 3600 * 1000;

const inDays = (days: number) => new Date(Date.now() + days * DAY);
const md5 = (text: string) => createHash("md5").update(text).digest("base64");

Deno.test("object lock: bucket configuration, default retention and its errors", async () => {
  await withServer(async (server, client) => {
    await client.send(
      new CreateBucketCommand({ Bucket: "locked", ObjectLockEnabledForBucket: true }),
    );
    const versioning = await client.send(new GetBucketVersioningCommand({ Bucket: "locked" }));
    assertEquals(versioning.Status, "Enabled");
    await assertS3Error(
      () =>
        client.send(
          new PutBucketVersioningCommand({
            Bucket: "locked",
            VersioningConfiguration: { Status: "Suspended" },
          }),
        ),
      "InvalidBucketState",
      409,
    );
    const bare = await client.send(new GetObjectLockConfigurationCommand({ Bucket: "locked" }));
    assertEquals(bare.ObjectLockConfiguration, { ObjectLockEnabled: "Enabled" });

    await client.send(
      new PutObjectLockConfigurationCommand({
        Bucket: "locked",
        ObjectLockConfiguration: {
          ObjectLockEnabled: "Enabled",
          Rule: { DefaultRetention: { Mode: "GOVERNANCE", Days: 2 } },
        },
      }),
    );
    const set = await client.send(new GetObjectLockConfigurationCommand({ Bucket: "locked" }));
    assertEquals(set.ObjectLockConfiguration?.Rule?.DefaultRetention, {
      Mode: "GOVERNANCE",
      Days: 2,
    });

    // A new version gets the default retention from when it was written.
    const before = Date.now();
    await client.send(new PutObjectCommand({ Bucket: "locked", Key: "k", Body: "data" }));
    const head = await client.send(new HeadObjectCommand({ Bucket: "locked", Key: "k" }));
    assertEquals(head.ObjectLockMode, "GOVERNANCE");
    const until = head.ObjectLockRetainUntilDate!.getTime();
    assert(until >= before + 2 * DAY - 1000 && until <= Date.now() + 2 * DAY + 1000, `${until}`);
    assertEquals(head.ObjectLockLegalHoldStatus, undefined);

    await client.send(new CreateBucketCommand({ Bucket: "plain" }));
    await assertS3Error(
      () => client.send(new GetObjectLockConfigurationCommand({ Bucket: "plain" })),
      "ObjectLockConfigurationNotFoundError",
      404,
    );
    const enable = (Bucket: string) =>
      client.send(
        new PutObjectLockConfigurationCommand({
          Bucket,
          ObjectLockConfiguration: { ObjectLockEnabled: "Enabled" },
        }),
      );
    await assertS3Error(() => enable("plain"), "InvalidBucketState", 409);
    await assertS3Error(() => enable("no-such-bucket"), "NoSuchBucket", 404);
    // As AWS: a bucket whose versioning is Enabled may have object lock turned on.
    await client.send(
      new PutBucketVersioningCommand({
        Bucket: "plain",
        VersioningConfiguration: { Status: "Enabled" },
      }),
    );
    await enable("plain");
    assertEquals(
      (await client.send(new GetObjectLockConfigurationCommand({ Bucket: "plain" })))
        .ObjectLockConfiguration?.ObjectLockEnabled,
      "Enabled",
    );

    const put = (body: string, headers: Record<string, string> = { "content-md5": md5(body) }) =>
      signedFetch(server, {
        method: "PUT",
        path: "/locked",
        query: [["object-lock", ""]],
        body,
        headers,
      });
    const config = (rule: string, enabled = "Enabled") =>
      `<ObjectLockConfiguration><ObjectLockEnabled>${enabled}</ObjectLockEnabled>${rule}</ObjectLockConfiguration>`;
    const retention = (inner: string) =>
      `<Rule><DefaultRetention>${inner}</DefaultRetention></Rule>`;
    const cases: [string, string][] = [
      ["", "MalformedXML"],
      ["<ObjectLockConfiguration>", "MalformedXML"],
      [config("", "Disabled"), "MalformedXML"],
      [config("<Rule></Rule>"), "MalformedXML"],
      [config(retention("<Mode>WORM</Mode><Days>1</Days>")), "MalformedXML"],
      [config(retention("<Mode>GOVERNANCE</Mode>")), "MalformedXML"],
      [config(retention("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>")), "MalformedXML"],
      [config(retention("<Mode>GOVERNANCE</Mode><Days>0</Days>")), "InvalidArgument"],
      [config(retention("<Mode>GOVERNANCE</Mode><Days>-3</Days>")), "InvalidArgument"],
      [config(retention("<Mode>GOVERNANCE</Mode><Years>1.5</Years>")), "InvalidArgument"],
      [config(retention("<Mode>COMPLIANCE</Mode><Years>101</Years>")), "InvalidArgument"],
    ];
    for (const [body, code] of cases) {
      const response = await put(body);
      assertEquals([response.status, xmlField(await response.text(), "Code")], [400, code], body);
    }
    const noDigest = await put(config(""), {});
    assertEquals([noDigest.status, xmlField(await noDigest.text(), "Code")], [
      400,
      "InvalidRequest",
    ]);
    // Nothing refused was stored.
    const kept = await client.send(new GetObjectLockConfigurationCommand({ Bucket: "locked" }));
    assertEquals(kept.ObjectLockConfiguration?.Rule?.DefaultRetention?.Days, 2);
  });
});

Deno.test("object lock: lock headers on PUT and multipart, shown on GET/HEAD", async () => {
  await withServer(async (server, client) => {
    const Bucket = "locked";
    await client.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
    const until = inDays(3);
    until.setUTCMilliseconds(0);
    await client.send(
      new PutObjectCommand({
        Bucket,
        Key: "c",
        Body: "compliance",
        ObjectLockMode: "COMPLIANCE",
        ObjectLockRetainUntilDate: until,
        ObjectLockLegalHoldStatus: "ON",
      }),
    );
    const got = await client.send(new GetObjectCommand({ Bucket, Key: "c" }));
    await got.Body!.transformToString();
    assertEquals(
      [got.ObjectLockMode, got.ObjectLockRetainUntilDate, got.ObjectLockLegalHoldStatus],
      [
        "COMPLIANCE",
        until,
        "ON",
      ],
    );

    const upload = await client.send(
      new CreateMultipartUploadCommand({
        Bucket,
        Key: "mp",
        ObjectLockMode: "GOVERNANCE",
        ObjectLockRetainUntilDate: until,
      }),
    );
    const part = await client.send(
      new UploadPartCommand({
        Bucket,
        Key: "mp",
        UploadId: upload.UploadId,
        PartNumber: 1,
        Body: "p",
      }),
    );
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: "mp",
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    const retention = await client.send(new GetObjectRetentionCommand({ Bucket, Key: "mp" }));
    // Each part of an upload that will be locked comes with its digest.
    const held = await client.send(
      new CreateMultipartUploadCommand({ Bucket, Key: "held", ObjectLockLegalHoldStatus: "ON" }),
    );
    const rawPart = (headers: Record<string, string>) =>
      signedFetch(server, {
        method: "PUT",
        path: `/${Bucket}/held`,
        query: [["partNumber", "1"], ["uploadId", held.UploadId!]],
        body: "part",
        headers,
      });
    const bare = await rawPart({});
    assertEquals([bare.status, xmlField(await bare.text(), "Code")], [400, "InvalidRequest"]);
    const digested = await rawPart({ "content-md5": md5("part") });
    assertEquals(digested.status, 200);
    await digested.body?.cancel();
    assertEquals(retention.Retention, { Mode: "GOVERNANCE", RetainUntilDate: until });

    // A copy does not inherit its source's lock; it takes the lock its own headers ask for.
    await client.send(new CopyObjectCommand({ Bucket, Key: "copy", CopySource: `${Bucket}/c` }));
    const copy = await client.send(new HeadObjectCommand({ Bucket, Key: "copy" }));
    assertEquals([copy.ObjectLockMode, copy.ObjectLockLegalHoldStatus], [undefined, undefined]);
    await client.send(
      new CopyObjectCommand({
        Bucket,
        Key: "copy",
        CopySource: `${Bucket}/c`,
        ObjectLockLegalHoldStatus: "ON",
      }),
    );
    const copyHeld = await client.send(new HeadObjectCommand({ Bucket, Key: "copy" }));
    assertEquals([copyHeld.ObjectLockMode, copyHeld.ObjectLockLegalHoldStatus], [undefined, "ON"]);

    const put = (key: string, headers: Record<string, string>, path = `/${Bucket}/${key}`) =>
      signedFetch(server, {
        method: "PUT",
        path,
        body: "x",
        headers: { "content-md5": md5("x"), ...headers },
      });
    const date = until.toISOString();
    const cases: [Record<string, string>, string][] = [
      [{ "x-amz-object-lock-mode": "GOVERNANCE" }, "InvalidArgument"],
      [{ "x-amz-object-lock-retain-until-date": date }, "InvalidArgument"],
      [
        { "x-amz-object-lock-mode": "WORM", "x-amz-object-lock-retain-until-date": date },
        "InvalidArgument",
      ],
      [{
        "x-amz-object-lock-mode": "GOVERNANCE",
        "x-amz-object-lock-retain-until-date": "tomorrow",
      }, "InvalidArgument"],
      [{
        "x-amz-object-lock-mode": "GOVERNANCE",
        "x-amz-object-lock-retain-until-date": inDays(-1).toISOString(),
      }, "InvalidArgument"],
      [{ "x-amz-object-lock-legal-hold": "MAYBE" }, "InvalidArgument"],
    ];
    for (const [headers, code] of cases) {
      const response = await put("bad", headers);
      assertEquals(
        [response.status, xmlField(await response.text(), "Code")],
        [400, code],
        JSON.stringify(headers),
      );
    }
    // A locked body must come with its digest.
    const noDigest = await signedFetch(server, {
      method: "PUT",
      path: `/${Bucket}/bad`,
      body: "x",
      headers: { "x-amz-object-lock-legal-hold": "ON" },
    });
    assertEquals([noDigest.status, xmlField(await noDigest.text(), "Code")], [
      400,
      "InvalidRequest",
    ]);
    await assertS3Error(
      () => client.send(new HeadObjectCommand({ Bucket, Key: "bad" })),
      "NotFound",
      404,
    );

    await client.send(new CreateBucketCommand({ Bucket: "plain" }));
    const unlocked = await put("k", { "x-amz-object-lock-legal-hold": "ON" }, "/plain/k");
    assertEquals([unlocked.status, xmlField(await unlocked.text(), "Code")], [
      400,
      "InvalidRequest",
    ]);
    await client.send(new PutObjectCommand({ Bucket: "plain", Key: "k", Body: "k" }));
    for (
      const call of [
        () => client.send(new GetObjectRetentionCommand({ Bucket: "plain", Key: "k" })),
        () => client.send(new GetObjectLegalHoldCommand({ Bucket: "plain", Key: "k" })),
        () =>
          client.send(
            new PutObjectLegalHoldCommand({
              Bucket: "plain",
              Key: "k",
              LegalHold: { Status: "ON" },
            }),
          ),
      ]
    ) await assertS3Error(call, "InvalidRequest", 400);
  });
});
