/**
 * Shared pieces of the end-to-end fault tests (tests/fault_*_test.ts): deterministic object
 * bodies, an S3 client that does not retry (a fault must show as the answer it caused), exact
 * read-back checks, and access to the on-drive files of an object (xl.meta, part.N).
 */

import { concatBytes } from "../src/bytes.ts";
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type CreateMultipartUploadCommandInput,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  type UploadPartCommandInput,
} from "@aws-sdk/client-s3";
import { AssertionError } from "node:assert";
import { ACCESS_KEY, SECRET_KEY, type TestServer } from "./helpers/server.ts";
import { signRequest } from "./s3_raw.ts";

export const MiB = 1024 * 1024;

/** Bytes derived from `seed` alone (xorshift32), so any version can be regenerated to compare. */
export function pattern(size: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  const words = new Uint32Array(bytes.buffer, 0, size >>> 2);
  let x = (seed * 2654435761 + 1) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

export function md5(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** ETag of a multipart object: MD5 of the parts' binary MD5s, "-" part count. */
export function multipartEtag(parts: Uint8Array[]): string {
  const hash = createHash("md5");
  for (const p of parts) hash.update(createHash("md5").update(p).digest());
  return `${hash.digest("hex")}-${parts.length}`;
}

/** An SDK client for the server that never retries, so every answer is the server's own. */
export function client(server: TestServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    maxAttempts: 1,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
}

export function unquote(etag: string | undefined): string {
  return (etag ?? "").replaceAll('"', "");
}

/** PUTs `body` (with user metadata and a content type, if given) and returns its ETag. */
export async function put(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Uint8Array,
  extra: { metadata?: Record<string, string>; contentType?: string } = {},
) {
  const out = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      Metadata: extra.metadata,
      ContentType: extra.contentType,
    }),
  );
  return unquote(out.ETag);
}

/**
 * A multipart upload of `parts` (each but the last ≥ 5 MiB); returns the ETag. `start` and
 * `part` are extra SDK fields of CreateMultipartUpload and of every UploadPart (encryption).
 */
export async function putMultipart(
  s3: S3Client,
  bucket: string,
  key: string,
  parts: Uint8Array[],
  extra: {
    start?: Partial<CreateMultipartUploadCommandInput>;
    part?: Partial<UploadPartCommandInput>;
  } = {},
): Promise<string> {
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ...extra.start }),
  );
  const done = [];
  for (const [i, body] of parts.entries()) {
    const out = await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: i + 1,
        Body: body,
        ...extra.part,
      }),
    );
    done.push({ PartNumber: i + 1, ETag: out.ETag });
  }
  const out = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: done },
    }),
  );
  return unquote(out.ETag);
}

export async function get(s3: S3Client, bucket: string, key: string) {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { bytes: await out.Body!.transformToByteArray(), etag: unquote(out.ETag) };
}

/** What a test expects of one object. */
export interface Expected {
  bytes: Uint8Array;
  etag: string;
  /** User metadata and content type HEAD must return, when set. */
  metadata?: Record<string, string>;
  contentType?: string;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** GET and HEAD return exactly the expected bytes and ETag. */
export async function expectExact(s3: S3Client, bucket: string, key: string, want: Expected) {
  const got = await get(s3, bucket, key);
  if (!equalBytes(got.bytes, want.bytes)) {
    throw new AssertionError({
      message: `${key}: ${got.bytes.byteLength} bytes read (md5 ${md5(got.bytes)}), ` +
        `expected ${want.bytes.byteLength} (md5 ${md5(want.bytes)})`,
    });
  }
  if (got.etag !== want.etag) {
    throw new AssertionError({ message: `${key}: ETag ${got.etag}, expected ${want.etag}` });
  }
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  if (head.ContentLength !== want.bytes.byteLength || unquote(head.ETag) !== want.etag) {
    throw new AssertionError({
      message: `${key}: HEAD says ${head.ContentLength} bytes, ETag ${head.ETag}`,
    });
  }
  const meta = JSON.stringify(head.Metadata ?? {});
  if (want.metadata && meta !== JSON.stringify(want.metadata)) {
    throw new AssertionError({ message: `${key}: metadata ${meta}` });
  }
  if (want.contentType && head.ContentType !== want.contentType) {
    throw new AssertionError({ message: `${key}: content type ${head.ContentType}` });
  }
}

/** Every object of the bucket: key → { size, etag } (bounded to 100 pages). */
export async function listAll(s3: S3Client, bucket: string) {
  const found = new Map<string, { size: number; etag: string }>();
  let token: string | undefined;
  for (let page = 0; page < 100; page++) {
    const out = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token, MaxKeys: 50 }),
    );
    for (const o of out.Contents ?? []) {
      found.set(o.Key!, { size: o.Size!, etag: unquote(o.ETag) });
    }
    if (!out.IsTruncated) return found;
    token = out.NextContinuationToken;
  }
  throw new AssertionError({ message: "listing did not end within 100 pages" });
}

/** The S3 error an SDK call failed with: HTTP status and code ("" when no answer came). */
export async function failure(call: Promise<unknown>): Promise<{ status: number; code: string }> {
  try {
    await call;
  } catch (err) {
    if (err instanceof S3ServiceException) {
      return { status: err.$metadata.httpStatusCode ?? 0, code: err.name };
    }
    return { status: 0, code: String(err) };
  }
  throw new AssertionError({ message: "the request succeeded" });
}

/** Polls `check` every 100 ms until it returns true; fails after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new AssertionError({ message: `timed out after ${timeoutMs} ms waiting for ${what}` });
}

export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

export async function readOrUndefined(path: string): Promise<Uint8Array | undefined> {
  return await Deno.readFile(path).catch(() => undefined);
}

/** The fields of one xl.meta version the tests look at. */
export interface MetaVersion {
  size: number;
  etag: string;
  modTime: number;
  dataDir: string;
  erasure: { dataShards: number; parityShards: number; index: number; distribution: number[] };
  parts: { number: number; size: number }[];
  inlineLength: number;
}

/**
 * Reads the on-drive xl.meta layout (magic, u32 version, u32 header length, JSON header, then
 * per version u32 shard index and inline data, u32 CRC32): the first version, with this
 * drive's shard index, and where its inline shard lies.
 */
export function parseMeta(bytes: Uint8Array): { version: MetaVersion; inlineStart: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const jsonLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength)));
  const version: MetaVersion = header.versions[0];
  version.erasure.index = view.getUint32(12 + jsonLength, true);
  return { version, inlineStart: 12 + jsonLength + 4 };
}

/** Recomputes the CRC32 trailer of an xl.meta, so a change inside it still parses. */
export function resealMeta(bytes: Uint8Array): void {
  const end = bytes.byteLength - 4;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, crc32(bytes.subarray(0, end)), true);
}

/** The directory name of `key` on a drive: a folder marker "a/" is stored as "a__XLDIR__". */
export function diskKey(key: string): string {
  return key.endsWith("/") ? `${key.slice(0, -1)}__XLDIR__` : key;
}

export function metaPath(drive: string, bucket: string, key: string): string {
  return `${drive}/${bucket}/${diskKey(key)}/xl.meta`;
}

/** Path of part `n` of `key` on `drive`, from that drive's own xl.meta. */
export async function partPath(drive: string, bucket: string, key: string, n = 1) {
  const { version } = parseMeta(await Deno.readFile(metaPath(drive, bucket, key)));
  return `${drive}/${bucket}/${diskKey(key)}/${version.dataDir}/part.${n}`;
}

/** Every regular file under `dir` (relative path → bytes), for before/after comparisons. */
export async function snapshot(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  const visit = async (rel: string) => {
    for await (const e of Deno.readDir(`${dir}/${rel}`)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory) await visit(path);
      else if (e.isFile) files.set(path, await Deno.readFile(`${dir}/${path}`));
    }
  };
  await visit("");
  return files;
}

/** Entries directly in `<drive>/.flashstor.sys/tmp`. */
export async function tmpEntries(drive: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(`${drive}/.flashstor.sys/tmp`)) names.push(e.name);
  return names;
}

/**
 * Fills `bucket` with objects of every storage shape: empty and small (inline in xl.meta),
 * multi-stripe (part files), nested keys, a folder marker, keys with spaces and non-ASCII
 * characters, and a three-part multipart upload.
 */
export async function fillBucket(s3: S3Client, bucket: string, seed: number, prefix = "") {
  const objects = new Map<string, Expected>();
  const shapes: [string, number][] = [
    ["empty", 0],
    ["small-1k", 1000],
    ["small-200k", 200 * 1024],
    ["big-12m", 12 * MiB + 7],
    ["a/b/c/nested-3m", 3 * MiB + 1],
    ["folder/", 0],
    ["folder/inner ✓ é+%.txt", 2048],
    ["sp ace/ü/big-2m", 2 * MiB + 9],
  ];
  for (const [i, [key, size]] of shapes.entries()) {
    const bytes = pattern(size, seed + i);
    const extra = { metadata: { seed: `${seed + i}` }, contentType: `application/x-fault-${i}` };
    const etag = await put(s3, bucket, prefix + key, bytes, extra);
    objects.set(prefix + key, { bytes, etag, ...extra });
  }
  const parts = [pattern(5 * MiB, seed + 10), pattern(5 * MiB, seed + 11), pattern(MiB, seed + 12)];
  const etag = await putMultipart(s3, bucket, `${prefix}multipart-11m`, parts);
  if (etag !== multipartEtag(parts)) {
    throw new AssertionError({
      message: `multipart ETag ${etag}, expected ${multipartEtag(parts)}`,
    });
  }
  const all = new Uint8Array(11 * MiB);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  objects.set(`${prefix}multipart-11m`, { bytes: all, etag });
  for (const [key, want] of objects) {
    if (!key.startsWith(`${prefix}multipart`) && want.etag !== md5(want.bytes)) {
      throw new AssertionError({ message: `${key}: PUT answered ETag ${want.etag}` });
    }
  }
  return objects;
}

/** Every object reads back exactly (GET + HEAD) and the listing shows exactly these objects. */
export async function expectAll(s3: S3Client, bucket: string, objects: Map<string, Expected>) {
  for (const [key, want] of objects) await expectExact(s3, bucket, key, want);
  const listed = await listAll(s3, bucket);
  const expected = new Map(
    [...objects].map(([k, v]) => [k, { size: v.bytes.byteLength, etag: v.etag }]),
  );
  const describe = (m: Map<string, unknown>) => JSON.stringify([...m].sort());
  if (describe(listed) !== describe(expected)) {
    throw new AssertionError({
      message: `listing ${describe(listed)}, expected ${describe(expected)}`,
    });
  }
}

/**
 * True when every file of `before` (a snapshot of a drive's bucket directory) is back in `dir`:
 * part files byte for byte, xl.meta describing the same version with the same inline shard.
 */
export async function restored(dir: string, before: Map<string, Uint8Array>): Promise<boolean> {
  for (const [rel, bytes] of before) {
    const now = await readOrUndefined(`${dir}/${rel}`);
    if (!now) return false;
    if (!rel.endsWith("xl.meta")) {
      if (!equalBytes(now, bytes)) return false;
      continue;
    }
    let a, b;
    try {
      a = parseMeta(bytes);
      b = parseMeta(now);
    } catch {
      return false;
    }
    const key = (m: { version: MetaVersion }) =>
      JSON.stringify([m.version.etag, m.version.modTime, m.version.dataDir, m.version.erasure]);
    if (key(a) !== key(b)) return false;
    const inline = (raw: Uint8Array, m: { version: MetaVersion; inlineStart: number }) =>
      raw.subarray(m.inlineStart, m.inlineStart + Math.max(0, m.version.inlineLength));
    if (!equalBytes(inline(bytes, a), inline(now, b))) return false;
  }
  return true;
}

/**
 * A signed PUT over a raw connection whose body goes out 1 MiB every 20 ms (fetch would send a
 * stream chunked, without the Content-Length S3 requires), so a test can act mid-upload;
 * `progress.sent` counts the bytes written. Resolves with the HTTP status; rejects when the
 * connection fails first.
 */
export async function slowPut(
  server: TestServer,
  path: string,
  query: [string, string][],
  body: Uint8Array,
  progress: { sent: number },
): Promise<number> {
  const { target, headers } = signRequest(
    { method: "PUT", path, query },
    `127.0.0.1:${server.port}`,
  );
  headers["content-length"] = String(body.byteLength);
  const head = `PUT ${target} HTTP/1.1\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const write = async (data: Uint8Array) => {
      for (let done = 0; done < data.byteLength;) done += await conn.write(data.subarray(done));
    };
    await write(new TextEncoder().encode(head));
    while (progress.sent < body.byteLength) {
      const chunk = body.subarray(progress.sent, progress.sent + MiB);
      await write(chunk);
      progress.sent += chunk.byteLength;
      await new Promise((r) => setTimeout(r, 20));
    }
    const answer = new Uint8Array(4096);
    const n = await conn.read(answer);
    if (n === null) throw new Error("connection closed without an answer");
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(new TextDecoder().decode(answer.subarray(0, n)));
    if (!status) throw new Error("no status line");
    return Number(status[1]);
  } finally {
    conn.close();
  }
}

/**
 * Removes `bucket` from `drive` at once (a rename out of the drive, then the removal), so
 * heals running meanwhile cannot race the removal and refill it half way.
 */
export async function loseBucket(drive: string, bucket: string): Promise<void> {
  const aside = `${drive}.lost-${crypto.randomUUID()}`;
  await Deno.rename(`${drive}/${bucket}`, aside);
  await Deno.remove(aside, { recursive: true });
}

/** Reads a GET's body as far as it goes: the bytes received, and whether it broke off. */
export async function readAsFarAsItGoes(
  body: ReadableStream<Uint8Array>,
): Promise<{ bytes: Uint8Array; broken: boolean }> {
  const chunks: Uint8Array[] = [];
  let broken = false;
  const reader = body.getReader();
  try {
    for (let i = 0; i < 1_000_000; i++) {
      const r = await reader.read();
      if (r.done) break;
      chunks.push(r.value);
    }
  } catch {
    broken = true;
  }
  return { bytes: concatBytes(chunks), broken };
}
