/**
 * Shared pieces of the on-disk and fault tests of encryption at rest (tests/sse_*_test.ts): the
 * server settings that enable SSE, each mode's request fields, reads that report how far a
 * damaged GET got, and the shards of an object on the drives down to one stripe's blocks, so a
 * test can damage them — with the damage visible to bitrot checks, or consistent on every shard
 * so that only the authenticated encryption can notice.
 */

import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { toBase64 } from "../src/bytes.ts";
import { BLOCK_SIZE, CHECKSUM_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { sealFrame } from "../src/erasure/bitrot.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { type ServerOptions, startServer, type TestServer } from "./helpers/server.ts";
import { signedFetch } from "./s3_raw.ts";
import {
  equalBytes,
  metaPath,
  type MetaVersion,
  parseMeta,
  partPath,
  putMultipart,
  readAsFarAsItGoes,
  resealMeta,
  unquote,
} from "./fault_util.ts";

/** The key service's root key for this test process (FLASHSTOR_KMS_SECRET_KEY). */
export const KMS_ROOT_KEY = crypto.getRandomValues(new Uint8Array(32));
export const KMS_ENV = { FLASHSTOR_KMS_SECRET_KEY: `test-key:${toBase64(KMS_ROOT_KEY)}` };
/** SSE-C over plain HTTP from loopback, which the tests use. */
export const SSE_C_ENV = { FLASHSTOR_SSE_C_OVER_HTTP: "loopback" };
/** The SSE-C customer key of this test process. */
export const CUSTOMER_KEY = crypto.getRandomValues(new Uint8Array(32));

export type Mode = "plain" | "SSE-S3" | "SSE-KMS" | "SSE-C";
export const ENCRYPTED: readonly Mode[] = ["SSE-S3", "SSE-KMS", "SSE-C"];

/**
 * A server with SSE-C on loopback and (unless `kms` is false) the key service, its background
 * scanner off so that only the test's reads start heals.
 */
export async function startSseServer(
  options: ServerOptions = {},
  { kms = true } = {},
): Promise<TestServer> {
  return await startServer({
    ...options,
    args: ["--scanner-interval", "0", ...(options.args ?? [])],
    env: { ...(kms ? KMS_ENV : {}), ...SSE_C_ENV, ...options.env },
  });
}

/** The SDK's SSE-C fields (the SDK adds the key's MD5). */
function customerFields(mode: Mode) {
  return mode === "SSE-C"
    ? { SSECustomerAlgorithm: "AES256", SSECustomerKey: toBase64(CUSTOMER_KEY) }
    : {};
}

/** The SDK fields of a PUT (or multipart start and parts) in `mode`. */
function writeFields(mode: Mode) {
  switch (mode) {
    case "SSE-S3":
      return { ServerSideEncryption: "AES256" as const };
    case "SSE-KMS":
      return { ServerSideEncryption: "aws:kms" as const };
    default:
      return customerFields(mode);
  }
}

/** The request headers a read of a `mode` object needs (SSE-C: the key), for raw requests. */
export function readHeaders(mode: Mode): Record<string, string> {
  if (mode !== "SSE-C") return {};
  return {
    "x-amz-server-side-encryption-customer-algorithm": "AES256",
    "x-amz-server-side-encryption-customer-key": toBase64(CUSTOMER_KEY),
    "x-amz-server-side-encryption-customer-key-md5": createHash("md5").update(CUSTOMER_KEY)
      .digest("base64"),
  };
}

/** PUTs `body` in `mode`; the ETag. */
export async function putAs(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Uint8Array,
  mode: Mode,
): Promise<string> {
  const out = await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...writeFields(mode) }),
  );
  return unquote(out.ETag);
}

/** A multipart upload of `parts` in `mode` (every part with the mode's fields). */
export function putMultipartAs(
  s3: S3Client,
  bucket: string,
  key: string,
  parts: Uint8Array[],
  mode: Mode,
): Promise<string> {
  return putMultipart(s3, bucket, key, parts, {
    start: writeFields(mode),
    part: customerFields(mode),
  });
}

/** GETs a `mode` object whole. */
export async function getAs(
  s3: S3Client,
  bucket: string,
  key: string,
  mode: Mode,
): Promise<Uint8Array> {
  const out = await s3.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, ...customerFields(mode) }),
  );
  return await out.Body!.transformToByteArray();
}

/** How far a GET got: its status, the body bytes received, whether the body broke off. */
export interface Outcome {
  status: number;
  bytes: Uint8Array;
  broken: boolean;
}

/** A signed GET (optionally ranged) of a `mode` object, read until its body ends or breaks. */
export async function getAsFarAsItGoes(
  server: TestServer,
  bucket: string,
  key: string,
  mode: Mode,
  range?: string,
): Promise<Outcome> {
  const headers = { ...readHeaders(mode), ...(range ? { range } : {}) };
  const response = await signedFetch(server, { method: "GET", path: `/${bucket}/${key}`, headers });
  const { bytes, broken } = await readAsFarAsItGoes(response.body!);
  return { status: response.status, bytes, broken };
}

/**
 * The GET did not deliver `want` (the object, or the range asked for): an error status, or a
 * 200/206 whose body broke off short of it; and whatever body it did deliver is exactly the
 * start of `want` — no altered byte.
 */
export function assertRefusedCleanly(got: Outcome, want: Uint8Array, what: string): void {
  if (got.status !== 200 && got.status !== 206) {
    assert(got.status >= 400, `${what}: status ${got.status}`);
    return;
  }
  assert(
    got.broken || got.bytes.byteLength < want.byteLength,
    `${what}: the whole body (${got.bytes.byteLength} bytes) was delivered`,
  );
  assert(
    got.bytes.byteLength <= want.byteLength &&
      equalBytes(got.bytes, want.subarray(0, got.bytes.byteLength)),
    `${what}: the ${got.bytes.byteLength} bytes delivered are not the object's first bytes`,
  );
}

/** One version of an object as one drive's xl.meta records it (fields the SSE tests read). */
export type StoredVersion = MetaVersion & {
  metadata: Record<string, string>;
  erasure: MetaVersion["erasure"] & { blockSize: number };
  /** size: stored (ciphertext) bytes; actualSize: the plaintext's. */
  parts: { number: number; size: number; actualSize: number }[];
};

/** One drive's shard of an object. */
export interface Shard {
  drive: string;
  /** 1-based shard index: 1..k data, k+1..k+m parity. */
  index: number;
  version: StoredVersion;
  /** Where the inline shard starts inside xl.meta (when inline). */
  inlineStart: number;
}

/** Every drive's shard of `key`, in shard order (data shards first). */
export async function shardsOf(drives: string[], bucket: string, key: string): Promise<Shard[]> {
  const shards = await Promise.all(drives.map(async (drive) => {
    const { version, inlineStart } = parseMeta(await Deno.readFile(metaPath(drive, bucket, key)));
    return { drive, index: version.erasure.index, version: version as StoredVersion, inlineStart };
  }));
  return shards.sort((a, b) => a.index - b.index);
}

export function isData(shard: Shard): boolean {
  return shard.index <= shard.version.erasure.dataShards;
}

/** XORs one byte of a file (bitrot checks see it). */
export async function flipByte(path: string, offset: number): Promise<void> {
  const bytes = await Deno.readFile(path);
  assert(offset < bytes.byteLength, `offset ${offset} inside ${path} (${bytes.byteLength} bytes)`);
  bytes[offset] ^= 0x5a;
  await Deno.writeFile(path, bytes);
}

/** A shard's frame of one stripe, in the file that holds it. */
interface FrameAt {
  path: string;
  file: Uint8Array;
  frame: Uint8Array;
}

/** Where stripe `stripe` of part `part` lies on `shard`'s drive: a part file, or inline. */
async function frameOf(
  shard: Shard,
  bucket: string,
  key: string,
  part: number,
  stripe: number,
): Promise<FrameAt> {
  if (shard.version.inlineLength >= 0) {
    assertEquals([part, stripe], [1, 0], "an inline object has one part of one stripe");
    const path = metaPath(shard.drive, bucket, key);
    const file = await Deno.readFile(path);
    const frame = file.subarray(shard.inlineStart, shard.inlineStart + shard.version.inlineLength);
    return { path, file, frame };
  }
  const { dataShards, parityShards, blockSize } = shard.version.erasure;
  assertEquals(blockSize, BLOCK_SIZE, "the stripe size the tests assume");
  const stored = shard.version.parts.find((p) => p.number === part)?.size ?? 0;
  const length = Math.min(BLOCK_SIZE, stored - stripe * BLOCK_SIZE);
  assert(length > 0, `part ${part} of ${key} (${stored} bytes) has a stripe ${stripe}`);
  const codec = new ErasureCodec(dataShards, parityShards);
  const path = await partPath(shard.drive, bucket, key, part);
  const file = await Deno.readFile(path);
  const start = codec.frameOffset(stripe);
  const end = start + CHECKSUM_SIZE + codec.shardBlockLength(length);
  assertEquals(file.byteLength, codec.shardFileSize(stored), `${path}: its size`);
  return { path, file, frame: file.subarray(start, end) };
}

/**
 * Rewrites stored (ciphertext) stripe `stripe` of part `part` of `key` on every drive
 * consistently: `edit` changes the stripe's bytes (its data blocks, end to end), the parity
 * blocks are re-encoded from them, every frame's bitrot checksum recomputed and every touched
 * xl.meta resealed. Bitrot checks and erasure decoding then agree on the edited bytes,
 * whichever shards a read uses. Any stripe of a part file, or an inline object's one stripe.
 */
export async function editStripe(
  drives: string[],
  bucket: string,
  key: string,
  stripe: number,
  /** Gets the stripe's data blocks end to end (the last one zero padded). */
  edit: (stripe: Uint8Array) => void,
  part = 1,
): Promise<void> {
  const shards = await shardsOf(drives, bucket, key);
  const { dataShards, parityShards } = shards[0].version.erasure;
  assertEquals(shards.map((s) => s.index), shards.map((_, i) => i + 1), `every shard of ${key}`);
  const frames: FrameAt[] = [];
  for (const shard of shards) frames.push(await frameOf(shard, bucket, key, part, stripe));
  const blocks = frames.map((f) => f.frame.subarray(CHECKSUM_SIZE));
  const blockLength = blocks[0].byteLength;
  const data = new Uint8Array(dataShards * blockLength);
  blocks.slice(0, dataShards).forEach((b, i) => data.set(b, i * blockLength));
  edit(data);
  blocks.slice(0, dataShards).forEach((b, i) =>
    b.set(data.subarray(i * blockLength, (i + 1) * blockLength))
  );
  new ErasureCodec(dataShards, parityShards).encodeParity(blocks, blockLength);
  for (const f of frames) {
    sealFrame(f.frame);
    if (f.path.endsWith("/xl.meta")) resealMeta(f.file);
    await Deno.writeFile(f.path, f.file);
  }
}

/** Changes stored byte `offset` of part `part` of `key` consistently (see editStripe). */
export async function alterConsistently(
  drives: string[],
  bucket: string,
  key: string,
  offset: number,
  part = 1,
): Promise<void> {
  const within = offset % BLOCK_SIZE;
  await editStripe(drives, bucket, key, Math.floor(offset / BLOCK_SIZE), (stripe) => {
    assert(within < stripe.byteLength, `byte ${offset} lies in the stripe's data`);
    stripe[within] ^= 0x5a;
  }, part);
}
