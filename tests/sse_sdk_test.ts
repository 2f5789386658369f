/**
 * Encryption at rest through the JS SDK v3 (@aws-sdk/client-s3, its default CRC32 checksums
 * on) against the real server: the plan of tests/sse_util.ts (round trips of every mode at
 * package boundaries and in multipart uploads, ranged GETs, copies between modes and keys,
 * UploadPartCopy out of an SSE-C object, AWS's errors), the flexible checksums of encrypted
 * objects (of the plaintext, returned with ChecksumMode ENABLED), and a server without a key
 * service: SSE-S3 and SSE-KMS refused with 501, plain objects and SSE-C served.
 */

import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { toBase64 } from "../src/bytes.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { aesGcm } from "../src/crypto/engine.ts";
import { sha256Hex } from "./helpers/clients.ts";
import { s3Client, startServer } from "./helpers/server.ts";
import {
  BUCKET,
  checkCopies,
  checkErrors,
  checkPartCopy,
  checkRanges,
  checkRoundTrip,
  type CopySeen,
  createKmsKey,
  CUSTOMER_KEYS,
  customerKeyMd5,
  type Encryption,
  type ErrorSeen,
  type ErrorsSeen,
  type HeadSeen,
  KMS_ENV,
  type MultipartSeen,
  NAMED_KEYS,
  type Outcome,
  plaintext,
  PLAN,
  type PlannedCopy,
  type PlannedMultipart,
  type RangeSeen,
  type ReadSeen,
  type Reported,
  reportedOf,
  type RoundTripSeen,
  SSE_C_LOOPBACK,
} from "./sse_util.ts";

type Fields = Record<string, string>;

/** SSE-C fields of a request on an object encrypted as `e` (`CopySource` for a copy's source). */
function customer(e: Encryption, prefix: "" | "CopySource" = ""): Fields {
  if (e.mode !== "SSE-C") return {};
  return {
    [`${prefix}SSECustomerAlgorithm`]: "AES256",
    [`${prefix}SSECustomerKey`]: CUSTOMER_KEYS[e.customerKey],
  };
}

/** Fields of a write that encrypts as `e`. */
function writing(e: Encryption): Fields {
  switch (e.mode) {
    case "SSE-S3":
      return { ServerSideEncryption: "AES256" };
    case "SSE-KMS": {
      const fields: Fields = { ServerSideEncryption: "aws:kms" };
      if (e.keyId) fields.SSEKMSKeyId = e.keyId;
      if (e.context) fields.SSEKMSEncryptionContext = btoa(JSON.stringify(e.context));
      return fields;
    }
    default:
      return customer(e);
  }
}

const asRecord = (output: object) => output as Record<string, unknown>;

/** The S3 error a call failed with; null when it succeeded. */
async function errorOf(call: () => Promise<unknown>): Promise<ErrorSeen | null> {
  try {
    await call();
    return null;
  } catch (err) {
    if (err instanceof S3ServiceException) {
      return { status: err.$metadata.httpStatusCode ?? 0, code: err.name };
    }
    throw err;
  }
}

/** What `run` returns, or how it failed (the failure of one item does not stop the others). */
async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return await run();
  } catch (err) {
    return { error: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  }
}

/** Runs the shared plan with the SDK and reports what it saw, as the boto3 script does. */
class SdkDriver {
  constructor(private s3: S3Client) {
    // A failed request names itself in the error: which of the plan's requests failed.
    s3.middlewareStack.add((next, context) => async (args) => {
      try {
        return await next(args);
      } catch (err) {
        const { Key, Range } = args.input as { Key?: string; Range?: string };
        if (err instanceof Error) {
          err.message = `${context.commandName} ${Key ?? ""} ${Range ?? ""}: ${err.message}`;
        }
        throw err;
      }
    }, { step: "initialize", name: "nameFailedRequest" });
  }

  /** A GET: what it reported, its status and Content-Range. */
  async get(
    key: string,
    e: Encryption,
    range?: string,
  ): Promise<{ seen: ReadSeen; status: number; contentRange: string }> {
    const out = await this.s3.send(
      new GetObjectCommand({ Bucket: BUCKET, Key: key, Range: range, ...customer(e) }),
    );
    const body = await out.Body!.transformToByteArray();
    return {
      seen: {
        ...reportedOf(asRecord(out)),
        length: out.ContentLength ?? -1,
        size: body.length,
        sha256: sha256Hex(body),
      },
      status: out.$metadata.httpStatusCode ?? 0,
      contentRange: out.ContentRange ?? "",
    };
  }

  async read(key: string, e: Encryption, range?: string): Promise<ReadSeen> {
    return (await this.get(key, e, range)).seen;
  }

  async head(key: string, e: Encryption): Promise<HeadSeen> {
    const out = await this.s3.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: key, ...customer(e) }),
    );
    return { ...reportedOf(asRecord(out)), length: out.ContentLength ?? -1 };
  }

  async complete(key: string, uploadId: string, etags: string[]): Promise<Reported> {
    const out = await this.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })) },
      }),
    );
    return reportedOf(asRecord(out));
  }

  async roundTrip(): Promise<RoundTripSeen> {
    await this.s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const seen: RoundTripSeen = { objects: {}, multipart: {}, listing: {} };
    for (const o of PLAN.objects) {
      seen.objects[o.key] = await attempt(async () => {
        const put = await this.s3.send(
          new PutObjectCommand({
            Bucket: BUCKET,
            Key: o.key,
            Body: plaintext(o),
            ...writing(o.encryption),
          }),
        );
        return {
          put: reportedOf(asRecord(put)),
          get: await this.read(o.key, o.encryption),
          head: await this.head(o.key, o.encryption),
        };
      });
    }
    for (const m of PLAN.multipart) {
      seen.multipart[m.key] = await attempt(() => this.multipart(m));
    }
    let token: string | undefined;
    for (let page = 0; page < 100; page++) {
      const out = await this.s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) seen.listing[o.Key!] = { size: o.Size!, etag: o.ETag! };
      if (!out.IsTruncated) return seen;
      token = out.NextContinuationToken;
    }
    throw new Error("listing did not end within 100 pages");
  }

  async multipart(m: PlannedMultipart): Promise<MultipartSeen> {
    const create = await this.s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: m.key, ...writing(m.encryption) }),
    );
    const parts: Reported[] = [];
    let offset = m.offset;
    for (const [i, size] of m.parts.entries()) {
      // SSE-C: the key on every part; SSE-S3 / SSE-KMS: given on Create only.
      const part = await this.s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: m.key,
          UploadId: create.UploadId,
          PartNumber: i + 1,
          Body: plaintext({ offset, size }),
          ...customer(m.encryption),
        }),
      );
      parts.push(reportedOf(asRecord(part)));
      offset += size;
    }
    return {
      create: reportedOf(asRecord(create)),
      parts,
      complete: await this.complete(m.key, create.UploadId!, parts.map((p) => p.ETag!)),
      get: await this.read(m.key, m.encryption),
      head: await this.head(m.key, m.encryption),
    };
  }

  async ranges(): Promise<Outcome<RangeSeen>[]> {
    const seen: Outcome<RangeSeen>[] = [];
    for (const r of PLAN.ranges) {
      seen.push(
        await attempt(async () => {
          const { seen: got, status, contentRange } = await this.get(r.key, r.encryption, r.range);
          return { status, contentRange, length: got.length, size: got.size, sha256: got.sha256 };
        }),
      );
    }
    return seen;
  }

  async copies(): Promise<Record<string, Outcome<CopySeen>>> {
    const copies: Record<string, Outcome<CopySeen>> = {};
    for (const c of PLAN.copies) copies[c.name] = await attempt(() => this.copy(c));
    return copies;
  }

  async copy(c: PlannedCopy): Promise<CopySeen> {
    const source = c.source.encryption;
    const out = await this.s3.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: c.target,
        CopySource: `${BUCKET}/${c.source.key}`,
        ...customer(source, "CopySource"),
        ...writing(c.encryption),
      }),
    );
    return {
      copy: { ...reportedOf(asRecord(out)), ETag: out.CopyObjectResult?.ETag },
      get: await this.read(c.target, c.encryption),
      head: await this.head(c.target, c.encryption),
      staleKey: c.encryption.mode === "SSE-C" && source.mode === "SSE-C"
        ? await errorOf(() => this.read(c.target, source))
        : undefined,
    };
  }

  async partCopy(): Promise<MultipartSeen> {
    const p = PLAN.partCopy;
    const create = await this.s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: p.target, ...writing(p.encryption) }),
    );
    const parts: Reported[] = [];
    for (const [i, [first, last]] of p.ranges.entries()) {
      const out = await this.s3.send(
        new UploadPartCopyCommand({
          Bucket: BUCKET,
          Key: p.target,
          UploadId: create.UploadId,
          PartNumber: i + 1,
          CopySource: `${BUCKET}/${p.source.key}`,
          CopySourceRange: `bytes=${first}-${last}`,
          ...customer(p.source.encryption, "CopySource"),
          ...customer(p.encryption),
        }),
      );
      parts.push({ ...reportedOf(asRecord(out)), ETag: out.CopyPartResult?.ETag });
    }
    return {
      create: reportedOf(asRecord(create)),
      parts,
      complete: await this.complete(p.target, create.UploadId!, parts.map((x) => x.ETag!)),
      get: await this.read(p.target, p.encryption),
      head: await this.head(p.target, p.encryption),
    };
  }

  async errors(): Promise<ErrorsSeen> {
    const key0: Encryption = { mode: "SSE-C", customerKey: 0 };
    const key1: Encryption = { mode: "SSE-C", customerKey: 1 };
    const sseC = PLAN.errors.sseC.key;
    const put = (key: string, fields: Fields) => () =>
      this.s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: `errors/${key}`, Body: "secret", ...fields }),
      );
    const copy = (fields: Fields) => () =>
      this.s3.send(
        new CopyObjectCommand({
          Bucket: BUCKET,
          Key: "errors/copy",
          CopySource: `${BUCKET}/${sseC}`,
          ...fields,
        }),
      );
    // The SDK computes the key's MD5 itself: send another key's.
    const tampered = new PutObjectCommand({
      Bucket: BUCKET,
      Key: "errors/md5",
      Body: "secret",
      ...customer(key0),
    });
    tampered.middlewareStack.add((next) => (args) => {
      const headers = (args.request as { headers: Record<string, string> }).headers;
      for (const name of Object.keys(headers)) {
        if (name.toLowerCase() === "x-amz-server-side-encryption-customer-key-md5") {
          headers[name] = customerKeyMd5(1);
        }
      }
      return next(args);
    }, { step: "build" });
    const cases: Record<string, ErrorSeen | null> = {
      getWithoutKey: await errorOf(() => this.read(sseC, { mode: "plain" })),
      headWithoutKey: await errorOf(() => this.head(sseC, { mode: "plain" })),
      getWrongKey: await errorOf(() => this.read(sseC, key1)),
      headWrongKey: await errorOf(() => this.head(sseC, key1)),
      rangeWrongKey: await errorOf(() => this.read(sseC, key1, "bytes=65530-65540")),
      putWrongKeyMd5: await errorOf(() => this.s3.send(tampered)),
      putShortKey: await errorOf(
        put("short", { SSECustomerAlgorithm: "AES256", SSECustomerKey: PLAN.shortKey }),
      ),
      putAlgorithm: await errorOf(
        put("algorithm", { SSECustomerAlgorithm: "AES128", SSECustomerKey: CUSTOMER_KEYS[0] }),
      ),
      putSseCAndSseS3: await errorOf(
        put("both", { ServerSideEncryption: "AES256", ...customer(key0) }),
      ),
      putDsse: await errorOf(put("dsse", { ServerSideEncryption: "aws:kms:dsse" })),
      putUnknownKmsKey: await errorOf(
        put("kms", { ServerSideEncryption: "aws:kms", SSEKMSKeyId: PLAN.unknownKmsKey }),
      ),
      getSseS3WithKey: await errorOf(() => this.read(PLAN.errors.sseS3.key, key0)),
      getPlainWithKey: await errorOf(() => this.read(PLAN.errors.plain.key, key0)),
      copyWithoutSourceKey: await errorOf(copy({})),
      copyWrongSourceKey: await errorOf(copy(customer(key1, "CopySource"))),
    };
    const upload = await attempt(async () => {
      const u = PLAN.errorUpload;
      const create = await this.s3.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: u.key, ...writing(key0) }),
      );
      const bodies = [
        plaintext({ offset: u.offset, size: u.parts[0] }),
        plaintext({ offset: u.offset + u.parts[0], size: u.parts[1] }),
      ];
      const part = (n: number, e: Encryption) =>
        this.s3.send(
          new UploadPartCommand({
            Bucket: BUCKET,
            Key: u.key,
            UploadId: create.UploadId,
            PartNumber: n,
            Body: bodies[n - 1],
            ...customer(e),
          }),
        );
      cases.partWrongKey = await errorOf(() => part(1, key1));
      cases.partWithoutKey = await errorOf(() => part(1, { mode: "plain" }));
      const etags = [(await part(1, key0)).ETag!, (await part(2, key0)).ETag!];
      await this.complete(u.key, create.UploadId!, etags);
      return { get: await this.read(u.key, key0) };
    });
    return { cases, upload };
  }
}

/** S3's base64 CRC32 (big-endian) of `bytes`. */
function crc32Base64(bytes: Uint8Array): string {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, crc32(bytes));
  return toBase64(value);
}

Deno.test({
  name: "SDK v3: SSE-C, SSE-S3, SSE-KMS round trips, ranges, copies, checksums, errors",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer({ env: { ...KMS_ENV, ...SSE_C_LOOPBACK } });
    const s3 = s3Client(server);
    const sdk = new SdkDriver(s3);
    try {
      for (const id of NAMED_KEYS) await createKmsKey(server, id);
      // Where IPsec-MB or libcrypto loads, the cipher thread binds the same cipher under the
      // server's narrowed permissions, so the 5 MiB bodies below are sealed there.
      if (aesGcm.importKeyNow) {
        assert(
          /AES-GCM by ([\w/-]+), large bodies sealed by \1 on a thread/.test(server.output()),
          server.output(),
        );
      }
      await t.step("round trips of 0 B … 5 MiB + 7 and 3-part uploads, each mode", async () => {
        checkRoundTrip(await sdk.roundTrip());
      });
      await t.step("ranged GETs across package and part boundaries", async () => {
        checkRanges(await sdk.ranges());
      });
      await t.step("CopyObject between modes and keys, UploadPartCopy from SSE-C", async () => {
        checkCopies(await sdk.copies());
        checkPartCopy(await attempt(() => sdk.partCopy()));
      });
      await t.step("missing, wrong and malformed keys and modes", async () => {
        checkErrors(await sdk.errors());
      });

      await t.step(
        "CRC32 (the SDK's default) and SHA256 checksums are of the plaintext",
        async () => {
          const modes = [...new Map(PLAN.objects.map((o) => [o.key.split("/")[0], o.encryption]))]
            .filter(([, e]) => e.mode !== "plain");
          for (const [name, e] of modes) {
            const body = plaintext({ offset: 999, size: 2 * 65536 + 3 });
            const expected = {
              ChecksumCRC32: crc32Base64(body),
              ChecksumSHA256: createHash("sha256").update(body).digest("base64"),
            };
            for (const algorithm of ["CRC32", "SHA256"] as const) {
              const key = `checksum/${name}/${algorithm}`;
              const field = `Checksum${algorithm}` as const;
              const put = await s3.send(
                new PutObjectCommand({
                  Bucket: BUCKET,
                  Key: key,
                  Body: body,
                  ChecksumAlgorithm: algorithm,
                  ...writing(e),
                }),
              );
              assertEquals(put[field], expected[field], `PUT ${key}`);
              const got = await s3.send(
                new GetObjectCommand({
                  Bucket: BUCKET,
                  Key: key,
                  ChecksumMode: "ENABLED",
                  ...customer(e),
                }),
              );
              assertEquals(got[field], expected[field], `GET ${key}`);
              assertEquals(sha256Hex(await got.Body!.transformToByteArray()), sha256Hex(body));
              const head = await s3.send(
                new HeadObjectCommand({
                  Bucket: BUCKET,
                  Key: key,
                  ChecksumMode: "ENABLED",
                  ...customer(e),
                }),
              );
              assertEquals(head[field], expected[field], `HEAD ${key}`);
            }
          }
        },
      );
    } finally {
      s3.destroy();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "SDK v3: without FLASHSTOR_KMS_SECRET_KEY SSE-S3/SSE-KMS get 501, plain and SSE-C work",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startServer({ env: SSE_C_LOOPBACK });
    const s3 = s3Client(server);
    const sdk = new SdkDriver(s3);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
      const body = plaintext({ offset: 5, size: 70_000 });
      const key0: Encryption = { mode: "SSE-C", customerKey: 0 };
      const put = (key: string, e: Encryption) => () =>
        s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ...writing(e) }));
      const notImplemented = { status: 501, code: "NotImplemented" };
      assertEquals(await errorOf(put("s3", { mode: "SSE-S3" })), notImplemented, "SSE-S3 PUT");
      assertEquals(await errorOf(put("kms", { mode: "SSE-KMS" })), notImplemented, "SSE-KMS PUT");
      assertEquals(
        await errorOf(() =>
          s3.send(
            new CreateMultipartUploadCommand({
              Bucket: BUCKET,
              Key: "mp",
              ServerSideEncryption: "AES256",
            }),
          )
        ),
        notImplemented,
        "SSE-S3 CreateMultipartUpload",
      );

      await put("plain", { mode: "plain" })();
      const plain = await sdk.read("plain", { mode: "plain" });
      assertEquals([plain.size, plain.sha256], [body.length, sha256Hex(body)]);
      assertEquals(plain.ServerSideEncryption, undefined);

      await put("sse-c", key0)();
      const sseC = await sdk.read("sse-c", key0);
      assertEquals([sseC.size, sseC.sha256], [body.length, sha256Hex(body)]);
      assertEquals(sseC.SSECustomerKeyMD5, customerKeyMd5(0));
      assertEquals(await errorOf(() => sdk.read("sse-c", { mode: "plain" })), {
        status: 400,
        code: "InvalidRequest",
      });
      const copy = await errorOf(() =>
        s3.send(
          new CopyObjectCommand({
            Bucket: BUCKET,
            Key: "copy",
            CopySource: `${BUCKET}/sse-c`,
            ...customer(key0, "CopySource"),
            ServerSideEncryption: "AES256",
          }),
        )
      );
      assertEquals(copy, notImplemented, "copy SSE-C → SSE-S3");
    } finally {
      s3.destroy();
      await server.cleanup();
    }
  },
});
