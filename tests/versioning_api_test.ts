/**
 * Versioning over S3 against a real server, with the JS SDK v3 (and signed raw requests where
 * the headers of an error are the point): Put/GetBucketVersioning and their AWS errors, versions
 * by id on GET/HEAD/DELETE, delete markers (404 and 405 with x-amz-delete-marker), the null
 * version of unversioned and Suspended buckets, and the ACL of one version (anonymous reads of
 * that version are judged by it); the state, persisted, is what the object layer reads after a
 * restart.
 */

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectAclCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectAclCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertS3Error } from "./helpers/assert.ts";
import { s3Client, startServer, type TestServer, withServer } from "./helpers/server.ts";
import {
  listing,
  put,
  raw,
  setVersioning,
  text,
  UUID,
  versionedBucket,
} from "./helpers/versioning.ts";
import { signedFetch } from "./s3_raw.ts";

const md5Base64 = (text: string) => createHash("md5").update(text).digest("base64");

Deno.test("versioning API: bucket state, versions, delete markers, the null version", (t) =>
  withServer(async (server, client) => {
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
        [
          "<VersioningConfiguration><Status>Suspended</Status><Status>Enabled</Status></VersioningConfiguration>",
          "MalformedXML",
          400,
        ],
        [
          "<VersioningConfiguration><Status>Suspended</Status><Mode>x</Mode></VersioningConfiguration>",
          "MalformedXML",
          400,
        ],
      ];
      for (const [body, code, httpStatus] of refused) {
        const answer = await raw(server, "PUT", "/state", [["versioning", ""]], body, {
          "content-md5": md5Base64(body),
        });
        assertEquals([answer.status, answer.code], [httpStatus, code], body.slice(0, 80));
      }
      // A document without a digest, or whose digest does not match, is not applied.
      const suspend =
        "<VersioningConfiguration><Status>Suspended</Status></VersioningConfiguration>";
      const undigested = await raw(server, "PUT", "/state", [["versioning", ""]], suspend);
      assertEquals([undigested.status, undigested.code], [400, "InvalidRequest"]);
      const digest = await raw(server, "PUT", "/state", [["versioning", ""]], suspend, {
        "content-md5": btoa("0123456789abcdef"),
      });
      assertEquals([digest.status, digest.code], [400, "BadDigest"]);
      // Nothing refused changed the state; MfaDelete Disabled is what it is already.
      assertEquals(await status(), "Enabled");
      const disabled =
        "<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Disabled</MfaDelete></VersioningConfiguration>";
      const accepted = await raw(server, "PUT", "/state", [["versioning", ""]], disabled, {
        "content-md5": md5Base64(disabled),
      });
      assertEquals(accepted.status, 200);
      assertEquals(await status(), "Suspended");
      await assertS3Error(
        () => client.send(new GetBucketVersioningCommand({ Bucket: "no-such-bucket" })),
        "NoSuchBucket",
        404,
      );
      await assertS3Error(
        () => setVersioning(client, "no-such-bucket", "Enabled"),
        "NoSuchBucket",
        404,
      );
      // Object lock keeps versioning on for good.
      await client.send(
        new CreateBucketCommand({ Bucket: "locked", ObjectLockEnabledForBucket: true }),
      );
      await assertS3Error(
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
      // As AWS, the marker's answers say when it was written.
      const markerHead = await signedFetch(server, { method: "HEAD", path: "/vers/k" });
      await markerHead.body?.cancel();
      const written = Date.parse(markerHead.headers.get("last-modified") ?? "");
      assert(Math.abs(written - Date.now()) < 600_000, `Last-Modified ${written}`);
      const current = await client.send(new ListObjectsV2Command({ Bucket: "vers" }));
      assertEquals(current.KeyCount, 0);
      assertEquals((await listing(server, "vers")).entries, [
        ["k", marker, true, true],
        ["k", v2, false, false],
        ["k", v1, false, false],
      ]);
      // A bucket holding only versions and markers is not empty.
      await assertS3Error(
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

      await assertS3Error(() => text(client, "vers", "k", v2), "NoSuchVersion", 404);
      await assertS3Error(
        () => text(client, "vers", "k", crypto.randomUUID()),
        "NoSuchVersion",
        404,
      );
      await assertS3Error(
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
      // Anonymous callers are judged by the ACL of the version they name.
      const publicVersion = await fetch(`${server.endpoint}/acls/k?versionId=${v1}`);
      assertEquals([publicVersion.status, await publicVersion.text()], [200, "one"]);
      for (const path of [`/acls/k?versionId=${v2}`, "/acls/k"]) {
        const privateVersion = await fetch(server.endpoint + path);
        await privateVersion.body?.cancel();
        assertEquals(privateVersion.status, 403, path);
      }
    });
  }));

Deno.test("versioning API: the bucket's state is the object layer's after a restart", async () => {
  const server = await startServer();
  let again: TestServer | undefined;
  try {
    const client = s3Client(server);
    await versionedBucket(client, "lasting");
    const v1 = await put(client, "lasting", "k", "one");
    await setVersioning(client, "lasting", "Suspended");
    await put(client, "lasting", "k", "null one");
    client.destroy();
    await server.stop();

    again = await startServer({ dir: server.dir });
    const restarted = s3Client(again);
    try {
      const state = await restarted.send(new GetBucketVersioningCommand({ Bucket: "lasting" }));
      assertEquals(state.Status, "Suspended");
      // The first write after the start replaces the null version: the layer read the state.
      assertEquals(await put(restarted, "lasting", "k", "null two"), "null");
      await setVersioning(restarted, "lasting", "Enabled");
      const v3 = await put(restarted, "lasting", "k", "three");
      assert(UUID.test(v3), v3);
      assertEquals((await listing(again, "lasting")).entries, [
        ["k", v3, true, false],
        ["k", "null", false, false],
        ["k", v1, false, false],
      ]);
      assertEquals(await text(restarted, "lasting", "k", "null"), ["null two", "null"]);
    } finally {
      restarted.destroy();
    }
  } finally {
    await again?.cleanup();
    await server.cleanup();
  }
});
