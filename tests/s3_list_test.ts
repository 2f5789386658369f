/**
 * Listings through the AWS SDK against a real server: ListObjects v1 and v2 paged with every
 * marker kind and compared with a listing computed here from the keys put, URL encoding,
 * ListObjectVersions emptying a bucket, and bad arguments.
 */

import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { s3Client, startServer } from "./helpers/server.ts";

const KEYS = [
  "a",
  "a-c",
  "a/b",
  "a/b/c",
  "a/b/d",
  "a/c",
  "a0",
  "b c+d",
  "b&c<d>",
  "dir/",
  "dir/x",
  "dir/y/z",
  "héllo/wörld",
  "photos/2024/jan/1.jpg",
  "photos/2024/jan/2.jpg",
  "photos/2024/feb/1.jpg",
  "photos/2025/index.html",
  "photos/readme",
  "x%41y",
  "z~/~",
  "日本/語",
];

/** S3 orders keys by their UTF-8 bytes, which JavaScript's string order does not match. */
function byteCompare(a: string, b: string): number {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i];
  }
  return x.length - y.length;
}

interface Entry {
  name: string;
  prefix: boolean;
}

/** What S3 lists for (prefix, delimiter) after `marker`: keys and common prefixes in order. */
function reference(prefix: string, delimiter: string, marker = ""): Entry[] {
  const entries = new Map<string, Entry>();
  for (const key of KEYS) {
    if (!key.startsWith(prefix)) continue;
    const cut = delimiter === "" ? -1 : key.indexOf(delimiter, prefix.length);
    const entry = cut < 0
      ? { name: key, prefix: false }
      : { name: key.slice(0, cut + delimiter.length), prefix: true };
    if (byteCompare(entry.name, marker) > 0) entries.set(entry.name, entry);
  }
  return [...entries.values()].sort((a, b) => byteCompare(a.name, b.name));
}

/** unquote_plus, as botocore decodes encoding-type=url names. */
const urlDecode = (name: string) => decodeURIComponent(name.replace(/\+/g, " "));

function pageEntries(
  contents: { Key?: string }[] | undefined,
  prefixes: { Prefix?: string }[] | undefined,
  decode: (name: string) => string,
): Entry[] {
  return [
    ...(contents ?? []).map((c) => ({ name: decode(c.Key!), prefix: false })),
    ...(prefixes ?? []).map((p) => ({ name: decode(p.Prefix!), prefix: true })),
  ].sort((a, b) => byteCompare(a.name, b.name));
}

const MAX_PAGES = 100;

async function listV2All(
  client: S3Client,
  bucket: string,
  options: {
    prefix: string;
    delimiter: string;
    maxKeys: number;
    url: boolean;
    startAfter?: string;
  },
): Promise<Entry[]> {
  const decode = options.url ? urlDecode : (name: string) => name;
  const all: Entry[] = [];
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: options.prefix || undefined,
        Delimiter: options.delimiter || undefined,
        MaxKeys: options.maxKeys,
        ContinuationToken: token,
        StartAfter: options.startAfter,
        EncodingType: options.url ? "url" : undefined,
      }),
    );
    const entries = pageEntries(out.Contents, out.CommonPrefixes, decode);
    assertEquals(out.KeyCount, entries.length);
    assert(entries.length <= options.maxKeys, `page of ${entries.length} > ${options.maxKeys}`);
    all.push(...entries);
    if (options.url) assertEquals(out.EncodingType, "url");
    if (!out.IsTruncated) return all;
    assert(out.NextContinuationToken, "a truncated page has a continuation token");
    token = out.NextContinuationToken;
  }
  throw new Error("listing did not end");
}

async function listV1All(
  client: S3Client,
  bucket: string,
  options: { prefix: string; delimiter: string; maxKeys: number; url: boolean },
): Promise<Entry[]> {
  const decode = options.url ? urlDecode : (name: string) => name;
  const all: Entry[] = [];
  let marker: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await client.send(
      new ListObjectsCommand({
        Bucket: bucket,
        Prefix: options.prefix || undefined,
        Delimiter: options.delimiter || undefined,
        MaxKeys: options.maxKeys,
        Marker: marker,
        EncodingType: options.url ? "url" : undefined,
      }),
    );
    const entries = pageEntries(out.Contents, out.CommonPrefixes, decode);
    assert(entries.length <= options.maxKeys);
    all.push(...entries);
    if (!out.IsTruncated) return all;
    if (options.delimiter === "") {
      assertEquals(out.NextMarker, undefined, "S3 sends NextMarker only with a delimiter");
      marker = entries.at(-1)!.name;
    } else {
      assert(out.NextMarker, "NextMarker with a delimiter");
      marker = decode(out.NextMarker!);
    }
  }
  throw new Error("listing did not end");
}

Deno.test({
  name: "ListObjects v1/v2 and ListObjectVersions through the AWS SDK",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = s3Client(server);
    const bucket = "listing";
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      for (let i = 0; i < KEYS.length; i += 8) {
        await Promise.all(
          KEYS.slice(i, i + 8).map((key) =>
            client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `body of ${key}` }))
          ),
        );
      }

      const cases = [
        { prefix: "", delimiter: "" },
        { prefix: "", delimiter: "/" },
        { prefix: "a", delimiter: "/" },
        { prefix: "a/", delimiter: "/" },
        { prefix: "photos/", delimiter: "/" },
        { prefix: "photos/2024/", delimiter: "/" },
        { prefix: "photos/", delimiter: "" },
        { prefix: "", delimiter: "b" },
        { prefix: "nothing", delimiter: "/" },
      ];
      await t.step("v2 pages match the reference", async () => {
        for (const c of cases) {
          for (const maxKeys of [1, 3, 1000]) {
            for (const url of [false, true]) {
              const got = await listV2All(client, bucket, { ...c, maxKeys, url });
              assertEquals(got, reference(c.prefix, c.delimiter), JSON.stringify({ c, maxKeys }));
            }
          }
        }
      });

      await t.step("v1 pages (marker, NextMarker) match the reference", async () => {
        for (const c of cases) {
          for (const maxKeys of [2, 1000]) {
            const got = await listV1All(client, bucket, { ...c, maxKeys, url: maxKeys === 2 });
            assertEquals(got, reference(c.prefix, c.delimiter), JSON.stringify({ c, maxKeys }));
          }
        }
      });

      await t.step("start-after skips keys and prefixes up to it", async () => {
        for (const startAfter of ["a/b", "a/", "b", "photos/2024/jan/1.jpg", "zzz"]) {
          for (const delimiter of ["", "/"]) {
            const got = await listV2All(client, bucket, {
              prefix: "",
              delimiter,
              maxKeys: 4,
              url: false,
              startAfter,
            });
            assertEquals(got, reference("", delimiter, startAfter), startAfter);
          }
        }
      });

      await t.step("encoding-type=url encodes names and echoes the request", async () => {
        const out = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: "b ",
            Delimiter: "+",
            EncodingType: "url",
          }),
        );
        assertEquals(out.Prefix, "b+");
        assertEquals(out.Delimiter, "%2B");
        assertEquals(out.CommonPrefixes?.map((p) => p.Prefix), ["b+c%2B"]);
        const v1 = await client.send(
          new ListObjectsCommand({ Bucket: bucket, Marker: "héllo", EncodingType: "url" }),
        );
        assertEquals(v1.Marker, "h%C3%A9llo");
        assertEquals(v1.Contents?.[0].Key, "h%C3%A9llo/w%C3%B6rld");
      });

      await t.step("entries carry quoted ETags, sizes, dates and owner on request", async () => {
        const out = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: "a/b/c", FetchOwner: true }),
        );
        assertEquals(out.Contents?.length, 1);
        const [entry] = out.Contents!;
        assertEquals(entry.Size, "body of a/b/c".length);
        assert(/^"[0-9a-f]{32}"$/.test(entry.ETag!), entry.ETag);
        assert(Math.abs(entry.LastModified!.getTime() - Date.now()) < 600_000);
        assertEquals(entry.Owner?.DisplayName, "testadmin");
        assert(/^[0-9a-f]{64}$/.test(entry.Owner?.ID ?? ""));
        const plain = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }));
        assertEquals(plain.Contents?.[0].Owner, undefined);
      });

      await t.step("max-keys above 1000 is clamped, 0 lists nothing", async () => {
        const big = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 5000 }));
        assertEquals(big.MaxKeys, 1000);
        assertEquals(big.KeyCount, KEYS.length);
        const none = await client.send(new ListObjectsCommand({ Bucket: bucket, MaxKeys: 0 }));
        assertEquals(none.MaxKeys, 0);
        assertEquals(none.Contents, undefined);
      });

      await t.step("bad arguments are InvalidArgument", async () => {
        for (
          const command of [
            new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: "!!not base64" }),
            new ListObjectsCommand({ Bucket: bucket, EncodingType: "base64" as "url" }),
            new ListObjectsV2Command({ Bucket: bucket, MaxKeys: -1 }),
          ]
        ) {
          const err = await assertRejects(() => client.send(command as ListObjectsV2Command));
          assertEquals(err.name, "InvalidArgument");
        }
        const missing = await assertRejects(() =>
          client.send(new ListObjectsV2Command({ Bucket: "no-such-bucket" }))
        );
        assertEquals(missing.name, "NoSuchBucket");
      });

      await t.step("ListObjectVersions pages null versions and empties the bucket", async () => {
        const seen: { Key: string; VersionId: string }[] = [];
        let keyMarker: string | undefined;
        let versionIdMarker: string | undefined;
        for (let page = 0; page < MAX_PAGES; page++) {
          const out = await client.send(
            new ListObjectVersionsCommand({
              Bucket: bucket,
              MaxKeys: 5,
              KeyMarker: keyMarker,
              VersionIdMarker: versionIdMarker,
            }),
          );
          for (const version of out.Versions ?? []) {
            assertEquals(version.VersionId, "null");
            assertEquals(version.IsLatest, true);
            assert(/^"[0-9a-f]{32}"$/.test(version.ETag!));
            seen.push({ Key: version.Key!, VersionId: version.VersionId! });
          }
          assertEquals(out.DeleteMarkers, undefined);
          if (!out.IsTruncated) break;
          keyMarker = out.NextKeyMarker;
          versionIdMarker = out.NextVersionIdMarker;
        }
        assertEquals(seen.map((v) => v.Key), [...KEYS].sort(byteCompare));
        const deleted = await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: seen } }),
        );
        assertEquals(deleted.Errors, undefined);
        const after = await client.send(new ListObjectVersionsCommand({ Bucket: bucket }));
        assertEquals(after.Versions, undefined);
        await client.send(new DeleteBucketCommand({ Bucket: bucket }));
        await assertRejects(() => client.send(new HeadBucketCommand({ Bucket: bucket })));
      });
    } finally {
      client.destroy();
      await server.cleanup();
    }
  },
});
