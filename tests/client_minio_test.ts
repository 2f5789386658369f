/**
 * minio-js (npm "minio", from deno.json) against a real server, configured as its README shows
 * (endPoint, port, useSSL false, keys; no region, so it asks the server for bucket locations):
 * buckets, putObject from a buffer and from a stream of unknown length, a 20 MiB multipart
 * upload, whole and partial reads, stat, listObjectsV2, copyObject, removeObjects, presigned GET
 * and PUT URLs, and a presigned POST policy.
 */

import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import * as Minio from "minio";
import { assert, assertEquals } from "./helpers/assert.ts";
import { md5Hex, MiB, multipartEtag, patterned, sha256Hex } from "./helpers/clients.ts";
import { ACCESS_KEY, SECRET_KEY, startServer } from "./helpers/server.ts";

const PART = 8 * MiB;
const SMALL = patterned(100_000, 11);
const BIG = patterned(20 * MiB, 12);

async function collect(stream: Readable): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk as Uint8Array);
  return new Uint8Array(Buffer.concat(chunks));
}

async function listAll<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

/** A stream that hands out `bytes` in uneven chunks, so minio-js cannot know the size. */
function chunked(bytes: Uint8Array): Readable {
  const pieces: Buffer[] = [];
  for (let offset = 0, n = 1; offset < bytes.length; n++) {
    const size = Math.min(bytes.length - offset, 65_521 * n);
    pieces.push(Buffer.from(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  return Readable.from(pieces);
}

/**
 * The multipart ETags minio-js may produce for `bytes`: in PART-sized parts, or in one part, which
 * is what minio-js 8.0.7 sends here (its block-stream2 chunker passes the 20 MiB through whole, in
 * Node too) — numbered 2, as its uploadStream counts before it uploads (minio/minio-js#1431).
 */
function clientEtags(bytes: Uint8Array): string[] {
  return [multipartEtag(bytes, PART), multipartEtag(bytes, bytes.length)];
}

async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return "no error";
}

Deno.test({
  name: "minio-js: buckets, put/get (buffer, stream, multipart), stat, list, copy, remove, presign",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const client = new Minio.Client({
      endPoint: "127.0.0.1",
      port: server.port,
      useSSL: false,
      accessKey: ACCESS_KEY,
      secretKey: SECRET_KEY,
      partSize: PART,
    });
    try {
      await t.step("makeBucket, bucketExists, listBuckets", async () => {
        assertEquals(await client.bucketExists("mio"), false);
        await client.makeBucket("mio");
        await client.makeBucket("mio-copy", "us-east-1");
        assertEquals(await client.bucketExists("mio"), true);
        const names = (await client.listBuckets()).map((b) => b.name);
        assert(names.includes("mio") && names.includes("mio-copy"), String(names));
        assertEquals(await errorCode(client.makeBucket("mio")), "BucketAlreadyOwnedByYou");
      });

      await t.step("putObject from a buffer with metadata; getObject, statObject", async () => {
        const put = await client.putObject(
          "mio",
          "small/buffer.bin",
          Buffer.from(SMALL),
          undefined,
          {
            "Content-Type": "application/x-minio-test",
            "X-Amz-Meta-Color": "green",
          },
        );
        assertEquals(put.etag, md5Hex(SMALL));
        assertEquals(await collect(await client.getObject("mio", "small/buffer.bin")), SMALL);
        const stat = await client.statObject("mio", "small/buffer.bin");
        assertEquals(stat.size, SMALL.length);
        assertEquals(stat.etag, md5Hex(SMALL));
        assertEquals(stat.metaData["content-type"], "application/x-minio-test");
        assertEquals(stat.metaData["color"], "green");
        assert(Math.abs(stat.lastModified.getTime() - Date.now()) < 60_000, `${stat.lastModified}`);
        assertEquals(await errorCode(client.statObject("mio", "small/none")), "NotFound");
        assertEquals(await errorCode(client.getObject("mio", "small/none")), "NoSuchKey");
      });

      await t.step("putObject from a stream of unknown length (small and 20 MiB)", async () => {
        const small = await client.putObject("mio", "small/stream.bin", chunked(SMALL));
        assertEquals(small.etag, multipartEtag(SMALL, PART), "an unknown length goes multipart");
        const big = await client.putObject("mio", "big/stream.bin", chunked(BIG));
        assert(clientEtags(BIG).includes(big.etag), big.etag);
        assertEquals(await collect(await client.getObject("mio", "small/stream.bin")), SMALL);
        assertEquals(
          sha256Hex(await collect(await client.getObject("mio", "big/stream.bin"))),
          sha256Hex(BIG),
        );
      });

      await t.step("putObject of a 20 MiB buffer (multipart), getPartialObject", async () => {
        const put = await client.putObject("mio", "big/buffer.bin", Buffer.from(BIG), BIG.length);
        assert(clientEtags(BIG).includes(put.etag), put.etag);
        const stat = await client.statObject("mio", "big/buffer.bin");
        assertEquals([stat.size, stat.etag], [BIG.length, put.etag]);
        const across = PART - 1000;
        const part = await collect(
          await client.getPartialObject("mio", "big/buffer.bin", across, 5000),
        );
        assertEquals(part, BIG.subarray(across, across + 5000));
        const tail = await collect(
          await client.getPartialObject("mio", "big/buffer.bin", BIG.length - 10),
        );
        assertEquals(tail, BIG.subarray(BIG.length - 10));
        assertEquals(
          sha256Hex(await collect(await client.getObject("mio", "big/buffer.bin"))),
          sha256Hex(BIG),
        );
      });

      await t.step("listObjectsV2: recursive, by prefix with folders, startAfter", async () => {
        const all = await listAll(client.listObjectsV2("mio", "", true));
        assertEquals(all.map((o) => [o.name, o.size]), [
          ["big/buffer.bin", BIG.length],
          ["big/stream.bin", BIG.length],
          ["small/buffer.bin", SMALL.length],
          ["small/stream.bin", SMALL.length],
        ]);
        assertEquals(all[2].etag, md5Hex(SMALL));
        const top = await listAll(client.listObjectsV2("mio", "", false));
        assertEquals(top.map((o) => o.prefix ?? o.name), ["big/", "small/"]);
        const small = await listAll(client.listObjectsV2("mio", "small/", false));
        assertEquals(small.map((o) => o.name), ["small/buffer.bin", "small/stream.bin"]);
        const after = await listAll(client.listObjectsV2("mio", "", true, "big/stream.bin"));
        assertEquals(after.map((o) => o.name), ["small/buffer.bin", "small/stream.bin"]);
      });

      await t.step("copyObject within and across buckets, with a condition", async () => {
        const copied = await client.copyObject("mio-copy", "copied.bin", "/mio/small/buffer.bin");
        assertEquals("etag" in copied && copied.etag, md5Hex(SMALL));
        assertEquals(await collect(await client.getObject("mio-copy", "copied.bin")), SMALL);
        const stat = await client.statObject("mio-copy", "copied.bin");
        assertEquals(stat.metaData["color"], "green");
        const conditions = new Minio.CopyConditions();
        conditions.setMatchETag(md5Hex(SMALL));
        await client.copyObject("mio", "small/copy.bin", "/mio/small/buffer.bin", conditions);
        assertEquals(await collect(await client.getObject("mio", "small/copy.bin")), SMALL);
        const mismatch = new Minio.CopyConditions();
        mismatch.setMatchETag("0".repeat(32));
        assertEquals(
          await errorCode(
            client.copyObject("mio", "small/never.bin", "/mio/small/buffer.bin", mismatch),
          ),
          "PreconditionFailed",
        );
        const bigCopy = await client.copyObject("mio-copy", "big.bin", "/mio/big/buffer.bin");
        assert(
          "etag" in bigCopy && /^[0-9a-f]{32}(-\d+)?$/.test(bigCopy.etag),
          JSON.stringify(bigCopy),
        );
        assertEquals(
          sha256Hex(await collect(await client.getObject("mio-copy", "big.bin"))),
          sha256Hex(BIG),
        );
      });

      await t.step("presignedGetObject, presignedPutObject", async () => {
        const getUrl = await client.presignedGetObject("mio", "small/buffer.bin", 300);
        const got = await fetch(getUrl);
        assertEquals(got.status, 200);
        assertEquals(new Uint8Array(await got.arrayBuffer()), SMALL);
        const putUrl = await client.presignedPutObject("mio", "small/presigned-put.bin", 300);
        const put = await fetch(putUrl, { method: "PUT", body: SMALL.subarray(0, 4096) });
        await put.body?.cancel();
        assertEquals(put.status, 200);
        assertEquals(
          await collect(await client.getObject("mio", "small/presigned-put.bin")),
          SMALL.subarray(0, 4096),
        );
      });

      await t.step("presignedPostPolicy: a browser-style form upload", async () => {
        const policy = client.newPostPolicy();
        policy.setBucket("mio");
        policy.setKey("small/posted.bin");
        policy.setExpires(new Date(Date.now() + 300_000));
        policy.setContentLengthRange(1, 10_000);
        const { postURL, formData } = await client.presignedPostPolicy(policy);
        const form = new FormData();
        for (const [name, value] of Object.entries(formData)) form.append(name, value);
        form.append("file", new Blob([SMALL.subarray(0, 2048)]), "posted.bin");
        const posted = await fetch(postURL, { method: "POST", body: form });
        const postBody = await posted.text();
        assert(posted.status === 204 || posted.status === 200, `${posted.status} ${postBody}`);
        assertEquals(
          await collect(await client.getObject("mio", "small/posted.bin")),
          SMALL.subarray(0, 2048),
        );
      });

      await t.step("removeObjects, removeObject, removeBucket", async () => {
        const names = (await listAll(client.listObjectsV2("mio", "", true))).map((o) => o.name);
        const known = ["big/buffer.bin", "big/stream.bin", "small/buffer.bin", "small/copy.bin"];
        known.push("small/presigned-put.bin", "small/stream.bin");
        assertEquals(names.filter((name) => name !== "small/posted.bin"), known);
        const result = await client.removeObjects("mio", [...names, "never-existed"]);
        assertEquals(result, [], "per-key errors");
        assertEquals(await listAll(client.listObjectsV2("mio", "", true)), []);
        await client.removeObject("mio-copy", "copied.bin");
        await client.removeObject("mio-copy", "big.bin");
        assertEquals(await errorCode(client.removeBucket("no-such-bucket")), "NoSuchBucket");
        await client.removeBucket("mio");
        await client.removeBucket("mio-copy");
        assertEquals(await client.bucketExists("mio"), false);
        assertEquals((await client.listBuckets()).length, 0);
      });
    } finally {
      await server.cleanup();
    }
  },
});
