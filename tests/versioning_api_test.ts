/**
 * Versioning over S3 against a real server, with the JS SDK v3 (and signed raw requests where
 * the headers of an error are the point): Put/GetBucketVersioning and their AWS errors, versions
 * by id on GET/HEAD/DELETE/ACL, delete markers (404 and 405 with x-amz-delete-marker), the
 * Suspended null version, ListObjectVersions (order, paging by key and version markers,
 * delimiter, encoding-type=url), DeleteObjects with versions, CopyObject and UploadPartCopy
 * from a source version, and the s3:versionid condition key in a bucket policy.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { s3Client, startServer, type TestServer } from "./helpers/server.ts";
import { s3, world } from "./helpers/sts.ts";
import { signedFetch, xmlField } from "./s3_raw.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function rejectsWith(call: () => Promise<unknown>, code: string, status: number) {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(call);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}

async function text(client: S3Client, bucket: string, key: string, versionId?: string) {
  const got = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  return [await got.Body!.transformToString(), got.VersionId];
}

async function put(client: S3Client, bucket: string, key: string, body: string) {
  const { VersionId } = await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }),
  );
  return VersionId!;
}

async function setVersioning(client: S3Client, bucket: string, status: "Enabled" | "Suspended") {
  await client.send(
    new PutBucketVersioningCommand({
      Bucket: bucket,
      VersioningConfiguration: { Status: status },
    }),
  );
}

async function versionedBucket(client: S3Client, bucket: string) {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await setVersioning(client, bucket, "Enabled");
}

/** [key, versionId, isLatest, deleteMarker] of every entry, in the order of the document. */
async function listing(server: TestServer, bucket: string, query: [string, string][] = []) {
  const response = await signedFetch(server, {
    method: "GET",
    path: `/${bucket}`,
    query: [["versions", ""], ...query],
  });
  const xml = await response.text();
  assertEquals(response.status, 200, xml);
  const entries = [...xml.matchAll(/<(Version|DeleteMarker)>(.*?)<\/\1>/g)].map((m) => [
    xmlField(m[2], "Key"),
    xmlField(m[2], "VersionId"),
    xmlField(m[2], "IsLatest") === "true",
    m[1] === "DeleteMarker",
  ]);
  return { xml, entries };
}

/** A signed raw request's status, error code and version headers. */
async function raw(
  server: TestServer,
  method: string,
  path: string,
  query: [string, string][] = [],
  body?: string,
) {
  const response = await signedFetch(server, { method, path, query, body });
  const xml = await response.text();
  return {
    status: response.status,
    code: xmlField(xml, "Code"),
    versionId: response.headers.get("x-amz-version-id"),
    deleteMarker: response.headers.get("x-amz-delete-marker"),
  };
}

Deno.test("versioning API: the JS SDK against a real server", async (t) => {
  const server = await startServer();
  const client = s3Client(server);
  try {
    await t.step("PutBucketVersioning: states and AWS's errors", async () => {
      await client.send(new CreateBucketCommand({ Bucket: "state" }));
      const status = async () =>
        (await client.send(new GetBucketVersioningCommand({ Bucket: "state" }))).Status;
      assertEquals(await status(), undefined);
      await setVersioning(client, "state", "Enabled");
      assertEquals(await status(), "Enabled");
      await setVersioning(client, "state", "Suspended");
      assertEquals(await status(), "Suspended");
      await setVersioning(client, "state", "Enabled");
      const refused: [string, string, number][] = [
        ["", "MalformedXML", 400],
        [
          "<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
          "MalformedXML",
          400,
        ],
        [
          "<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
          "MalformedXML",
          400,
        ],
        ["<Versioning><Status>Suspended</Status></Versioning>", "MalformedXML", 400],
        ["<VersioningConfiguration><Status>Suspended</Status>", "MalformedXML", 400],
        [
          `<VersioningConfiguration><Status>${"x".repeat(5000)}</Status></VersioningConfiguration>`,
          "MalformedXML",
          400,
        ],
        [
          "<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>",
          "NotImplemented",
          501,
        ],
        [
          "<VersioningConfiguration><Status>Suspended</Status><MfaDelete>On</MfaDelete></VersioningConfiguration>",
          "MalformedXML",
          400,
        ],
      ];
      for (const [body, code, httpStatus] of refused) {
        const answer = await raw(server, "PUT", "/state", [["versioning", ""]], body);
        assertEquals([answer.status, answer.code], [httpStatus, code], body.slice(0, 80));
      }
      // Nothing refused changed the state; MfaDelete Disabled is what it is already.
      assertEquals(await status(), "Enabled");
      const disabled =
        "<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>";
      assertEquals(
        (await raw(server, "PUT", "/state", [["versioning", ""]], disabled)).status,
        200,
      );
      assertEquals(await status(), "Suspended");
      await rejectsWith(
        () => client.send(new GetBucketVersioningCommand({ Bucket: "no-such-bucket" })),
        "NoSuchBucket",
        404,
      );
      await rejectsWith(
        () => setVersioning(client, "no-such-bucket", "Enabled"),
        "NoSuchBucket",
        404,
      );
      // Object lock keeps versioning on for good.
      await client.send(
        new CreateBucketCommand({ Bucket: "locked", ObjectLockEnabledForBucket: true }),
      );
      await rejectsWith(
        () => setVersioning(client, "locked", "Suspended"),
        "InvalidBucketState",
        409,
      );
      const locked = await client.send(new GetBucketVersioningCommand({ Bucket: "locked" }));
      assertEquals(locked.Status, "Enabled");
    });

    await t.step("versions by id, delete markers and their errors", async () => {
      await versionedBucket(client, "vers");
      const v1 = await put(client, "vers", "k", "one");
      const v2 = await put(client, "vers", "k", "two");
      assert(UUID.test(v1) && UUID.test(v2) && v1 !== v2, `${v1} ${v2}`);
      assertEquals(await text(client, "vers", "k"), ["two", v2]);
      assertEquals(await text(client, "vers", "k", v1), ["one", v1]);
      const head = await client.send(
        new HeadObjectCommand({ Bucket: "vers", Key: "k", VersionId: v1 }),
      );
      assertEquals([head.ContentLength, head.VersionId], [3, v1]);

      const deleted = await client.send(new DeleteObjectCommand({ Bucket: "vers", Key: "k" }));
      assertEquals(deleted.DeleteMarker, true);
      const marker = deleted.VersionId!;
      assert(UUID.test(marker), marker);
      assertEquals(await raw(server, "GET", "/vers/k"), {
        status: 404,
        code: "NoSuchKey",
        versionId: marker,
        deleteMarker: "true",
      });
      assertEquals(await raw(server, "HEAD", "/vers/k"), {
        status: 404,
        code: undefined,
        versionId: marker,
        deleteMarker: "true",
      });
      assertEquals(await raw(server, "GET", "/vers/k", [["versionId", marker]]), {
        status: 405,
        code: "MethodNotAllowed",
        versionId: marker,
        deleteMarker: "true",
      });
      const current = await client.send(new ListObjectsV2Command({ Bucket: "vers" }));
      assertEquals(current.KeyCount, 0);
      assertEquals((await listing(server, "vers")).entries, [
        ["k", marker, true, true],
        ["k", v2, false, false],
        ["k", v1, false, false],
      ]);
      // A bucket holding only versions and markers is not empty.
      await rejectsWith(
        () => client.send(new DeleteBucketCommand({ Bucket: "vers" })),
        "BucketNotEmpty",
        409,
      );

      // Removing the marker by its id makes v2 current again; removing v2 makes v1 current.
      const unmarked = await client.send(
        new DeleteObjectCommand({ Bucket: "vers", Key: "k", VersionId: marker }),
      );
      assertEquals([unmarked.DeleteMarker, unmarked.VersionId], [true, marker]);
      assertEquals(await text(client, "vers", "k"), ["two", v2]);
      const removed = await client.send(
        new DeleteObjectCommand({ Bucket: "vers", Key: "k", VersionId: v2 }),
      );
      assertEquals([removed.DeleteMarker, removed.VersionId], [undefined, v2]);
      assertEquals(await text(client, "vers", "k"), ["one", v1]);

      await rejectsWith(() => text(client, "vers", "k", v2), "NoSuchVersion", 404);
      await rejectsWith(() => text(client, "vers", "k", crypto.randomUUID()), "NoSuchVersion", 404);
      await rejectsWith(
        () => text(client, "vers", "absent", crypto.randomUUID()),
        "NoSuchVersion",
        404,
      );
      for (const bad of ["abc", "../x", "null\u0000", "x".repeat(2000)]) {
        const answer = await raw(server, "GET", "/vers/k", [["versionId", bad]]);
        assertEquals([answer.status, answer.code], [400, "InvalidArgument"], bad.slice(0, 20));
      }
      const empty = await raw(server, "DELETE", "/vers/k", [["versionId", ""]]);
      assertEquals([empty.status, empty.code], [400, "InvalidArgument"]);
      // Deleting a version that is not there is not an error, and changes nothing.
      await client.send(
        new DeleteObjectCommand({ Bucket: "vers", Key: "k", VersionId: crypto.randomUUID() }),
      );
      assertEquals(await text(client, "vers", "k"), ["one", v1]);
    });

    await t.step("the null version: unversioned and Suspended buckets", async () => {
      await client.send(new CreateBucketCommand({ Bucket: "plain" }));
      const plain = await raw(server, "PUT", "/plain/k", [], "old");
      // AWS: no version header in a bucket that never had versioning.
      assertEquals([plain.status, plain.versionId], [200, null]);
      assertEquals(await text(client, "plain", "k", "null"), ["old", undefined]);
      const gone = await raw(server, "DELETE", "/plain/k");
      assertEquals([gone.status, gone.versionId, gone.deleteMarker], [204, null, null]);

      await setVersioning(client, "plain", "Enabled");
      const v1 = await put(client, "plain", "k", "kept");
      await setVersioning(client, "plain", "Suspended");
      assertEquals(await put(client, "plain", "k", "first null"), "null");
      assertEquals(await put(client, "plain", "k", "second null"), "null");
      assertEquals((await listing(server, "plain")).entries, [
        ["k", "null", true, false],
        ["k", v1, false, false],
      ]);
      assertEquals(await text(client, "plain", "k"), ["second null", "null"]);
      // A Suspended DELETE puts a null delete marker in the null version's place.
      const deleted = await client.send(new DeleteObjectCommand({ Bucket: "plain", Key: "k" }));
      assertEquals([deleted.DeleteMarker, deleted.VersionId], [true, "null"]);
      assertEquals((await listing(server, "plain")).entries, [
        ["k", "null", true, true],
        ["k", v1, false, false],
      ]);
      const named = await raw(server, "HEAD", "/plain/k", [["versionId", "null"]]);
      assertEquals([named.status, named.deleteMarker, named.versionId], [405, "true", "null"]);
      assertEquals(await text(client, "plain", "k", v1), ["kept", v1]);
    });

    await t.step("ListObjectVersions: paging, delimiter, encoding-type", async () => {
      await versionedBucket(client, "pages");
      const expected: [string, string, boolean, boolean][] = [];
      for (const key of ["a", "b/1", "b/2", "c d"]) {
        const ids = [];
        for (let i = 0; i < 3; i++) ids.push(await put(client, "pages", key, `${key}${i}`));
        ids.reverse().forEach((id, i) => expected.push([key, id, i === 0, false]));
      }
      assertEquals((await listing(server, "pages")).entries, expected);

      const paged: unknown[] = [];
      let markers: [string, string][] = [];
      for (let page = 0; page < 20; page++) {
        const { xml, entries } = await listing(server, "pages", [["max-keys", "5"], ...markers]);
        paged.push(...entries);
        if (xmlField(xml, "IsTruncated") !== "true") break;
        assertEquals(entries.length, 5);
        markers = [
          ["key-marker", xmlField(xml, "NextKeyMarker")!],
          ["version-id-marker", xmlField(xml, "NextVersionIdMarker")!],
        ];
      }
      assertEquals(paged, expected);

      // The SDK's own reading of a page, with a delimiter and URL encoding.
      const out: ListObjectVersionsCommandOutput = await client.send(
        new ListObjectVersionsCommand({ Bucket: "pages", Delimiter: "/", EncodingType: "url" }),
      );
      assertEquals(out.CommonPrefixes?.map((p) => p.Prefix), ["b/"]);
      assertEquals(out.Versions?.map((v) => [v.Key, v.IsLatest]), [
        ["a", true],
        ["a", false],
        ["a", false],
        ["c+d", true],
        ["c+d", false],
        ["c+d", false],
      ]);
      assertEquals(out.Versions?.[0].Owner?.ID !== undefined, true);
      const badMarker = await raw(server, "GET", "/pages", [
        ["versions", ""],
        ["version-id-marker", "null"],
      ]);
      assertEquals([badMarker.status, badMarker.code], [400, "InvalidArgument"]);
      const badMax = await raw(server, "GET", "/pages", [["versions", ""], ["max-keys", "-1"]]);
      assertEquals([badMax.status, badMax.code], [400, "InvalidArgument"]);
    });

    await t.step("DeleteObjects with version ids", async () => {
      await versionedBucket(client, "batch");
      const a1 = await put(client, "batch", "a", "a1");
      const b1 = await put(client, "batch", "b", "b1");
      const b2 = await put(client, "batch", "b", "b2");
      const result = await client.send(
        new DeleteObjectsCommand({
          Bucket: "batch",
          Delete: {
            Objects: [
              { Key: "a" },
              { Key: "b", VersionId: b2 },
              { Key: "c", VersionId: "not-a-version" },
              { Key: "d", VersionId: crypto.randomUUID() },
            ],
          },
        }),
      );
      const byKey = new Map(result.Deleted?.map((d) => [d.Key, d]));
      const marker = byKey.get("a")!;
      assertEquals(marker.DeleteMarker, true);
      assert(UUID.test(marker.DeleteMarkerVersionId ?? ""), JSON.stringify(marker));
      assertEquals([byKey.get("b")?.VersionId, byKey.get("b")?.DeleteMarker], [b2, undefined]);
      assert(byKey.has("d"), "a missing version is deleted, not an error");
      assertEquals(result.Errors?.map((e) => [e.Key, e.Code]), [["c", "InvalidArgument"]]);
      assertEquals(await text(client, "batch", "b"), ["b1", b1]);
      // The marker, named by its id, goes too: a is back.
      const again = await client.send(
        new DeleteObjectsCommand({
          Bucket: "batch",
          Delete: { Objects: [{ Key: "a", VersionId: marker.DeleteMarkerVersionId }] },
        }),
      );
      assertEquals(
        again.Deleted?.map((d) => [d.VersionId, d.DeleteMarker, d.DeleteMarkerVersionId]),
        [
          [marker.DeleteMarkerVersionId, true, marker.DeleteMarkerVersionId],
        ],
      );
      assertEquals(await text(client, "batch", "a"), ["a1", a1]);
    });

    await t.step("CopyObject and UploadPartCopy from a source version", async () => {
      await versionedBucket(client, "copies");
      const v1 = await put(client, "copies", "src", "version one");
      await put(client, "copies", "src", "version two");
      const copied = await client.send(
        new CopyObjectCommand({
          Bucket: "copies",
          Key: "dst",
          CopySource: `copies/src?versionId=${v1}`,
        }),
      );
      assertEquals(copied.CopySourceVersionId, v1);
      assert(UUID.test(copied.VersionId ?? ""), copied.VersionId);
      assertEquals(await text(client, "copies", "dst"), ["version one", copied.VersionId]);
      // Copying an old version onto its own key restores it as the newest.
      const restored = await client.send(
        new CopyObjectCommand({
          Bucket: "copies",
          Key: "src",
          CopySource: `copies/src?versionId=${v1}`,
        }),
      );
      assertEquals(await text(client, "copies", "src"), ["version one", restored.VersionId]);

      const upload = await client.send(
        new CreateMultipartUploadCommand({ Bucket: "copies", Key: "parts" }),
      );
      const part = await client.send(
        new UploadPartCopyCommand({
          Bucket: "copies",
          Key: "parts",
          UploadId: upload.UploadId,
          PartNumber: 1,
          CopySource: `/copies/src?versionId=${v1}`,
          CopySourceRange: "bytes=0-6",
        }),
      );
      assertEquals(part.CopySourceVersionId, v1);
      const done = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: "copies",
          Key: "parts",
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.CopyPartResult?.ETag }] },
        }),
      );
      assert(UUID.test(done.VersionId ?? ""), done.VersionId);
      assertEquals(await text(client, "copies", "parts"), ["version", done.VersionId]);

      const marker = (await client.send(new DeleteObjectCommand({ Bucket: "copies", Key: "src" })))
        .VersionId;
      await rejectsWith(
        () =>
          client.send(
            new CopyObjectCommand({ Bucket: "copies", Key: "x", CopySource: "copies/src" }),
          ),
        "NoSuchKey",
        404,
      );
      await rejectsWith(
        () =>
          client.send(
            new CopyObjectCommand({
              Bucket: "copies",
              Key: "x",
              CopySource: `copies/src?versionId=${marker}`,
            }),
          ),
        "InvalidRequest",
        400,
      );
      await rejectsWith(
        () =>
          client.send(
            new CopyObjectCommand({
              Bucket: "copies",
              Key: "x",
              CopySource: `copies/src?versionId=${crypto.randomUUID()}`,
            }),
          ),
        "NoSuchVersion",
        404,
      );
    });

    await t.step("the ACL of one version", async () => {
      await versionedBucket(client, "acls");
      const v1 = await put(client, "acls", "k", "one");
      const v2 = await put(client, "acls", "k", "two");
      await client.send(
        new PutObjectAclCommand({ Bucket: "acls", Key: "k", VersionId: v1, ACL: "public-read" }),
      );
      const grants = async (versionId?: string) =>
        (await client.send(
          new GetObjectAclCommand({ Bucket: "acls", Key: "k", VersionId: versionId }),
        ))
          .Grants?.length;
      assertEquals([await grants(v1), await grants(v2), await grants()], [2, 1, 1]);
    });
  } finally {
    client.destroy();
    await server.cleanup();
  }
});

Deno.test("versioning API: the s3:versionid condition key in a bucket policy", async () => {
  const w = await world();
  const root = s3Client(w.server);
  try {
    await versionedBucket(root, "pinned");
    const v1 = await put(root, "pinned", "k", "one");
    const v2 = await put(root, "pinned", "k", "two");
    const source = await put(root, "pinned", "src", "source");
    await root.send(
      new PutBucketPolicyCommand({
        Bucket: "pinned",
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [{
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: "s3:GetObjectVersion",
            Resource: "arn:aws:s3:::pinned/k",
            Condition: { StringEquals: { "s3:versionid": v1 } },
          }, {
            Effect: "Allow",
            Principal: { AWS: w.alice.arn },
            Action: ["s3:GetObjectVersion", "s3:PutObject"],
            Resource: ["arn:aws:s3:::pinned/src", "arn:aws:s3:::pinned/copy"],
          }],
        }),
      }),
    );
    const alice = s3(w.server, w.alice);
    try {
      assertEquals(await text(alice, "pinned", "k", v1), ["one", v1]);
      await rejectsWith(() => text(alice, "pinned", "k", v2), "AccessDenied", 403);
      // Without a version id the action is s3:GetObject, which the policy does not grant.
      await rejectsWith(() => text(alice, "pinned", "k"), "AccessDenied", 403);
      // A copy's source read is s3:GetObjectVersion when it names a version, else s3:GetObject.
      const copy = (copySource: string) =>
        alice.send(
          new CopyObjectCommand({ Bucket: "pinned", Key: "copy", CopySource: copySource }),
        );
      await copy(`pinned/src?versionId=${source}`);
      assertEquals((await text(root, "pinned", "copy"))[0], "source");
      await rejectsWith(() => copy("pinned/src"), "AccessDenied", 403);
    } finally {
      alice.destroy();
    }
  } finally {
    root.destroy();
    await w.server.cleanup();
  }
});
