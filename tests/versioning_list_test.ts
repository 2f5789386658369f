/**
 * ListObjectVersions and DeleteObjects with versions against a real server (JS SDK v3 and signed
 * raw requests): versions newest first with delete markers in place, paging by key-marker and
 * version-id-marker, delimiter and encoding-type=url, AWS's argument errors; DeleteObjects that
 * name versions, create markers and remove them.
 */

import {
  DeleteObjectsCommand,
  ListObjectVersionsCommand,
  type ListObjectVersionsCommandOutput,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { withServer } from "./helpers/server.ts";
import { xmlField } from "./s3_raw.ts";
import { listing, put, raw, text, UUID, versionedBucket } from "./helpers/versioning.ts";

Deno.test("versioning: ListObjectVersions and DeleteObjects", (t) =>
  withServer(async (server, client) => {
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
      const garbage = await raw(server, "GET", "/pages", [
        ["versions", ""],
        ["key-marker", "a"],
        ["version-id-marker", "not-a-version"],
      ]);
      assertEquals([garbage.status, garbage.code], [400, "InvalidArgument"]);
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
  }));
