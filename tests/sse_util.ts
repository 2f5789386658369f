/**
 * The client tests of encryption at rest (tests/sse_boto3_test.ts, tests/sse_sdk_test.ts): one
 * plan of objects, ranges, copies and error cases, and the checks of what a client observed,
 * so that boto3 and the JS SDK are held to the same (AWS's documented) behaviour. A client
 * driver runs the plan and reports, per request, the fields both clients name alike
 * (ServerSideEncryption, SSEKMSKeyId, SSECustomerAlgorithm, …), sizes and SHA-256 of bodies.
 */

import { createHash } from "node:crypto";
import { fromBase64, toBase64 } from "../src/bytes.ts";
import { assert, assertEquals, AssertionError, assertNotEquals } from "./helpers/assert.ts";
import { md5Hex, MiB, patterned, sha256Hex } from "./helpers/clients.ts";
import { type TestServer } from "./helpers/server.ts";
import { signedFetch } from "./s3_raw.ts";

const KiB = 1024;
/** The plaintext package of the encrypted format: ranges are chosen around its boundaries. */
const PACKAGE = 64 * KiB;

/** The key service's root key (FLASHSTOR_KMS_SECRET_KEY); its name is the default key id. */
export const DEFAULT_KMS_KEY = "test-key";
export const KMS_ENV = {
  FLASHSTOR_KMS_SECRET_KEY: `${DEFAULT_KMS_KEY}:${
    toBase64(crypto.getRandomValues(new Uint8Array(32)))
  }`,
};
/** SSE-C over plain HTTP from loopback clients (these tests have no TLS). */
export const SSE_C_LOOPBACK = { FLASHSTOR_SSE_C_OVER_HTTP: "loopback" };

/** Master keys the tests create through the admin API, for SSE-KMS with a named key. */
export const NAMED_KEYS = ["key-a", "key-b"] as const;
export const KMS_CONTEXT: Record<string, string> = { project: "flashstor", purpose: "sse-test" };
/** SSE-C keys 0 and 1, base64, as the clients take them. */
export const CUSTOMER_KEYS = [0, 1].map(() => toBase64(crypto.getRandomValues(new Uint8Array(32))));

/** How an object is (to be) encrypted, as JSON both drivers read. */
export type Encryption =
  | { mode: "plain" }
  | { mode: "SSE-C"; customerKey: 0 | 1 }
  | { mode: "SSE-S3" }
  | { mode: "SSE-KMS"; keyId?: string; context?: Record<string, string> };

const SSE_C: Encryption = { mode: "SSE-C", customerKey: 0 };
const SSE_S3: Encryption = { mode: "SSE-S3" };
const KMS_DEFAULT: Encryption = { mode: "SSE-KMS" };
const KMS_NAMED: Encryption = { mode: "SSE-KMS", keyId: NAMED_KEYS[0], context: KMS_CONTEXT };
const MODES: [string, Encryption][] = [
  ["sse-c", SSE_C],
  ["sse-s3", SSE_S3],
  ["kms-default", KMS_DEFAULT],
  ["kms-named", KMS_NAMED],
];

export const BUCKET = "sse";
const SIZES = [0, 1, PACKAGE - 1, PACKAGE, PACKAGE + 1, 5 * MiB + 7];
const BIG = SIZES[SIZES.length - 1];
const PART_SIZES = [5 * MiB, 5 * MiB + 1, 100 * KiB];
const MULTIPART_SIZE = PART_SIZES.reduce((a, b) => a + b);

/** Every object's plaintext is a slice of this; different offsets make different bytes. */
export const SOURCE = patterned(MULTIPART_SIZE + 64 * KiB, 15);

export interface PlannedObject {
  key: string;
  encryption: Encryption;
  offset: number;
  size: number;
}

export interface PlannedMultipart {
  key: string;
  encryption: Encryption;
  offset: number;
  parts: number[];
}

export interface PlannedRange {
  key: string;
  encryption: Encryption;
  range: string;
}

export interface PlannedCopy {
  name: string;
  source: PlannedObject;
  target: string;
  encryption: Encryption;
}

/** UploadPartCopy of `source` in `ranges` (inclusive) into a new multipart upload. */
export interface PlannedPartCopy {
  source: PlannedMultipart;
  target: string;
  encryption: Encryption;
  ranges: [number, number][];
}

const objects: PlannedObject[] = [];
for (const [name, encryption] of MODES) {
  for (const size of SIZES) {
    objects.push({ key: `${name}/${size}`, encryption, offset: 4099 * objects.length, size });
  }
}
objects.push({ key: `plain/${BIG}`, encryption: { mode: "plain" }, offset: 77, size: BIG });

const multipart: PlannedMultipart[] = MODES.map(([name, encryption], i) => ({
  key: `${name}/multipart`,
  encryption,
  offset: 1031 * (i + 1),
  parts: PART_SIZES,
}));

const objectOf = (key: string) => objects.find((o) => o.key === key)!;

/** Ranges across package boundaries, and across part boundaries of the multipart objects. */
const ranges: PlannedRange[] = MODES.flatMap(([name, encryption]) => [
  ...[
    "bytes=0-0",
    `bytes=${PACKAGE - 1}-${PACKAGE}`,
    `bytes=${PACKAGE - 6}-${2 * PACKAGE + 8}`,
    `bytes=${BIG - 1}-${BIG - 1}`,
    "bytes=-7",
  ].map((range) => ({ key: `${name}/${BIG}`, encryption, range })),
  ...[
    `bytes=${PART_SIZES[0] - 3}-${PART_SIZES[0] + 2}`,
    `bytes=${PART_SIZES[0] - PACKAGE - 5}-${PART_SIZES[0] + PART_SIZES[1] + PACKAGE + 5}`,
    "bytes=-7",
  ].map((range) => ({ key: `${name}/multipart`, encryption, range })),
]);

const copyCases: [string, string, Encryption][] = [
  ["plain→SSE-S3", `plain/${BIG}`, SSE_S3],
  ["SSE-S3→SSE-C", `sse-s3/${BIG}`, SSE_C],
  ["SSE-C(key 0)→SSE-C(key 1)", `sse-c/${BIG}`, { mode: "SSE-C", customerKey: 1 }],
  ["SSE-C→plain", `sse-c/${PACKAGE + 1}`, { mode: "plain" }],
  ["SSE-KMS(key-a)→SSE-KMS(key-b)", `kms-named/${BIG}`, { mode: "SSE-KMS", keyId: NAMED_KEYS[1] }],
];
const copies: PlannedCopy[] = copyCases.map(([name, source, encryption], i) => ({
  name,
  source: objectOf(source),
  target: `copy/${i}`,
  encryption,
}));

/** Two parts copied from the SSE-C multipart object, the first across its part boundary. */
const partCopy: PlannedPartCopy = {
  source: multipart[0],
  target: "copy/part-copy",
  encryption: SSE_S3,
  ranges: [[0, PART_SIZES[0] + 99], [PART_SIZES[0] + 100, MULTIPART_SIZE - 1]],
};

/** The SSE-C (key 0) multipart upload whose parts the error cases try with other keys. */
const ERROR_UPLOAD = { key: "errors/multipart", parts: [5 * MiB, 1000], offset: 333 };

/** The plan a driver runs (the boto3 script reads it as JSON). */
export const PLAN = {
  bucket: BUCKET,
  customerKeys: CUSTOMER_KEYS,
  objects,
  multipart,
  ranges,
  copies,
  partCopy,
  /** The objects the error cases use. */
  errors: {
    sseC: objectOf(`sse-c/${PACKAGE + 1}`),
    sseS3: objectOf(`sse-s3/${PACKAGE + 1}`),
    plain: objectOf(`plain/${BIG}`),
  },
  /** A 16-byte key (base64) for "key not 256 bits". */
  shortKey: toBase64(patterned(16, 3)),
  unknownKmsKey: "no-such-key",
  errorUpload: ERROR_UPLOAD,
};

export function plaintext(o: { offset: number; size: number }): Uint8Array {
  return SOURCE.subarray(o.offset, o.offset + o.size);
}

function multipartPlaintext(m: PlannedMultipart): Uint8Array {
  return plaintext({ offset: m.offset, size: m.parts.reduce((a, b) => a + b) });
}

/** Base64 MD5 of SSE-C key `index`, as x-amz-server-side-encryption-customer-key-MD5 has it. */
export function customerKeyMd5(index: number): string {
  return createHash("md5").update(fromBase64(CUSTOMER_KEYS[index])).digest("base64");
}

/** Creates master key `id` of the key service with the admin API, signed by root. */
export async function createKmsKey(server: TestServer, id: string): Promise<void> {
  const response = await signedFetch(server, {
    method: "POST",
    path: `/flashstor/admin/v1/kms/keys/${id}`,
  });
  const text = await response.text();
  assert(response.ok, `POST /flashstor/admin/v1/kms/keys/${id}: ${response.status} ${text}`);
}

// ---- What the drivers report ----------------------------------------------------------------

/** Response fields that report encryption, named as both boto3 and the SDK name them. */
export interface Reported {
  ServerSideEncryption?: string;
  SSEKMSKeyId?: string;
  SSEKMSEncryptionContext?: string;
  SSECustomerAlgorithm?: string;
  SSECustomerKeyMD5?: string;
  ETag?: string;
}

const REPORTED_FIELDS = [
  "ServerSideEncryption",
  "SSEKMSKeyId",
  "SSEKMSEncryptionContext",
  "SSECustomerAlgorithm",
  "SSECustomerKeyMD5",
  "ETag",
] as const;

/** A GET: the fields, Content-Length, and the body's length and SHA-256. */
export interface ReadSeen extends Reported {
  length: number;
  size: number;
  sha256: string;
}

export interface HeadSeen extends Reported {
  length: number;
}

export interface ObjectSeen {
  put: Reported;
  get: ReadSeen;
  head: HeadSeen;
}

export interface MultipartSeen {
  create: Reported;
  parts: Reported[];
  complete: Reported;
  get: ReadSeen;
  head: HeadSeen;
}

/** A driver's request sequence for one item of the plan that threw: what the client said. */
export interface Failed {
  error: string;
}

export type Outcome<T> = T | Failed;

export interface RoundTripSeen {
  objects: Record<string, Outcome<ObjectSeen>>;
  multipart: Record<string, Outcome<MultipartSeen>>;
  /** ListObjectsV2 of the bucket: key → Size and ETag. */
  listing: Record<string, { size: number; etag: string }>;
}

export interface RangeSeen {
  status: number;
  contentRange: string;
  length: number;
  size: number;
  sha256: string;
}

export interface CopySeen {
  copy: Reported;
  get: ReadSeen;
  head: HeadSeen;
  /** SSE-C targets: GET with the source's key when it differs from the target's. */
  staleKey?: ErrorSeen | null;
}

export interface ErrorSeen {
  status: number;
  code: string;
}

/** Fields of a client's output that report encryption (absent ones left out). */
export function reportedOf(output: Record<string, unknown>): Reported {
  const seen: Record<string, string> = {};
  for (const name of REPORTED_FIELDS) {
    if (typeof output[name] === "string") seen[name] = output[name] as string;
  }
  return seen;
}

// ---- Checks ---------------------------------------------------------------------------------

/** The observation of an item, or an assertion error saying its requests failed. */
function succeeded<T extends object>(got: Outcome<T> | undefined): T {
  if (got === undefined) throw new AssertionError({ message: "not reported" });
  if ("error" in got) throw new AssertionError({ message: `a request failed: ${got.error}` });
  return got;
}

/** Checks every item, then fails once, naming each item that failed and why. */
function checkEach<T>(items: T[], name: (item: T) => string, check: (item: T) => void) {
  const failures: string[] = [];
  for (const item of items) {
    try {
      check(item);
    } catch (err) {
      failures.push(`- ${name(item)}: ${err instanceof Error ? err.message : err}`);
    }
  }
  if (failures.length > 0) {
    throw new AssertionError({
      message: `${failures.length} of ${items.length} failed:\n${failures.join("\n")}`,
    });
  }
}

/** AWS reports the key's ARN, Flashstor its id: either is accepted. */
function isKmsKey(reported: string | undefined, id: string): boolean {
  return reported === id ||
    (reported !== undefined && new RegExp(`^arn:aws:kms:[^:]*:[^:]*:key/${id}$`).test(reported));
}

/** `got` reports `encryption` as AWS's responses do (`context`: a response that echoes it). */
function assertReports(
  encryption: Encryption,
  got: Reported,
  where: string,
  options: { customer?: boolean; context?: boolean } = {},
) {
  const show = `${where}: ${JSON.stringify(got)}`;
  switch (encryption.mode) {
    case "plain":
      assertEquals(
        [got.ServerSideEncryption, got.SSEKMSKeyId, got.SSECustomerAlgorithm],
        [undefined, undefined, undefined],
        show,
      );
      return;
    case "SSE-S3":
      assertEquals(got.ServerSideEncryption, "AES256", show);
      assertEquals([got.SSEKMSKeyId, got.SSECustomerAlgorithm], [undefined, undefined], show);
      return;
    case "SSE-KMS": {
      assertEquals(got.ServerSideEncryption, "aws:kms", show);
      assert(isKmsKey(got.SSEKMSKeyId, encryption.keyId ?? DEFAULT_KMS_KEY), show);
      assertEquals(got.SSECustomerAlgorithm, undefined, show);
      if (options.context && encryption.context) {
        assert(got.SSEKMSEncryptionContext !== undefined, `${show}: no encryption context`);
        // AWS adds its own pairs (aws:s3:arn) to the client's.
        const echoed = JSON.parse(atob(got.SSEKMSEncryptionContext));
        assertEquals({ ...echoed, ...encryption.context }, echoed, `${show}: context`);
      }
      return;
    }
    case "SSE-C":
      assertEquals(got.SSEKMSKeyId, undefined, show);
      if (options.customer === false) return;
      assertEquals(
        [got.SSECustomerAlgorithm, got.SSECustomerKeyMD5],
        ["AES256", customerKeyMd5(encryption.customerKey)],
        show,
      );
  }
}

const quoted = (hex: string) => `"${hex}"`;

/** A single-part object's ETag: the plaintext's MD5 for plain and SSE-S3, not for the others. */
function assertSinglePartEtag(
  encryption: Encryption,
  etag: string | undefined,
  plain: Uint8Array,
  where: string,
) {
  const md5 = quoted(md5Hex(plain));
  if (encryption.mode === "plain" || encryption.mode === "SSE-S3") {
    assertEquals(etag, md5, `${where}: ETag`);
  } else {
    assert(/^"[0-9a-f]{32}"$/.test(etag ?? ""), `${where}: ETag ${etag}`);
    assertNotEquals(
      etag,
      md5,
      `${where}: ETag is the plaintext MD5 (AWS: not for ${encryption.mode})`,
    );
  }
}

/** A multipart ETag: "-N"; for SSE-S3 (parts' ETags their plaintext MD5s) AWS's MD5 of MD5s. */
function assertMultipartEtag(
  encryption: Encryption,
  etag: string | undefined,
  parts: Uint8Array[],
  where: string,
) {
  const digests = parts.map((p) => createHash("md5").update(p).digest());
  const aws = quoted(`${md5Hex(...digests)}-${parts.length}`);
  if (encryption.mode === "SSE-S3" || encryption.mode === "plain") {
    assertEquals(etag, aws, `${where}: ETag`);
  } else {
    assert(
      new RegExp(`^"[0-9a-f]{32}-${parts.length}"$`).test(etag ?? ""),
      `${where}: ETag ${etag}`,
    );
    assertNotEquals(etag, aws, `${where}: ETag from the plaintext MD5s`);
  }
}

function assertRead(got: ReadSeen, plain: Uint8Array, where: string) {
  assertEquals(
    { length: got.length, size: got.size, sha256: got.sha256 },
    { length: plain.length, size: plain.length, sha256: sha256Hex(plain) },
    `${where}: GET body`,
  );
}

export function checkRoundTrip(seen: RoundTripSeen) {
  checkEach([...objects, ...multipart], (o) => o.key, (o) => {
    if ("size" in o) checkObject(o, succeeded(seen.objects[o.key]), seen.listing[o.key]);
    else checkMultipart(o, succeeded(seen.multipart[o.key]), seen.listing[o.key]);
  });
}

type Listed = { size: number; etag: string } | undefined;

function checkObject(o: PlannedObject, got: ObjectSeen, listed: Listed) {
  const plain = plaintext(o);
  assertReports(o.encryption, got.put, "PUT", { context: true });
  assertReports(o.encryption, got.get, "GET");
  assertReports(o.encryption, got.head, "HEAD");
  assertRead(got.get, plain, "GET");
  assertEquals(got.head.length, o.size, "HEAD: Content-Length");
  assertSinglePartEtag(o.encryption, got.put.ETag, plain, "PUT");
  assertEquals([got.get.ETag, got.head.ETag], [got.put.ETag, got.put.ETag], "GET, HEAD: ETag");
  assertEquals(listed, { size: o.size, etag: got.put.ETag }, "ListObjectsV2: Size, ETag");
}

function checkMultipart(m: PlannedMultipart, got: MultipartSeen, listed: Listed) {
  const plain = multipartPlaintext(m);
  const parts = partsOf(plain, m.parts);
  assertReports(m.encryption, got.create, "CreateMultipartUpload", { context: true });
  got.parts.forEach((part, i) => {
    assertReports(m.encryption, part, `UploadPart ${i + 1}`);
    if (m.encryption.mode === "SSE-S3") {
      assertEquals(part.ETag, quoted(md5Hex(parts[i])), `UploadPart ${i + 1}: ETag`);
    }
  });
  // CompleteMultipartUpload's output has no SSE-C fields (AWS's API).
  assertReports(m.encryption, got.complete, "CompleteMultipartUpload", { customer: false });
  assertReports(m.encryption, got.get, "GET");
  assertReports(m.encryption, got.head, "HEAD");
  assertRead(got.get, plain, "GET");
  assertEquals(got.head.length, plain.length, "HEAD: Content-Length");
  assertMultipartEtag(m.encryption, got.complete.ETag, parts, "CompleteMultipartUpload");
  assertEquals([got.get.ETag, got.head.ETag], [got.complete.ETag, got.complete.ETag], "ETags");
  assertEquals(listed, { size: plain.length, etag: got.complete.ETag }, "ListObjectsV2");
}

function partsOf(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  let offset = 0;
  return sizes.map((size) => bytes.subarray(offset, offset += size));
}

/** First and last byte of `range` (bytes=A-B or bytes=-N) of an object of `size` bytes. */
function resolveRange(range: string, size: number): [number, number] {
  const suffix = /^bytes=-(\d+)$/.exec(range);
  if (suffix) return [Math.max(0, size - Number(suffix[1])), size - 1];
  const [, first, last] = /^bytes=(\d+)-(\d+)$/.exec(range)!;
  return [Number(first), Math.min(Number(last), size - 1)];
}

function plaintextOfKey(key: string): Uint8Array {
  const m = multipart.find((x) => x.key === key);
  return m ? multipartPlaintext(m) : plaintext(objectOf(key));
}

export function checkRanges(seen: Outcome<RangeSeen>[]) {
  assertEquals(seen.length, ranges.length, "one result per range");
  const each = ranges.map((r, i) => ({ ...r, got: seen[i] }));
  checkEach(each, (r) => `GET ${r.key} ${r.range}`, (r) => {
    const plain = plaintextOfKey(r.key);
    const [first, last] = resolveRange(r.range, plain.length);
    const slice = plain.subarray(first, last + 1);
    assertEquals(succeeded(r.got), {
      status: 206,
      contentRange: `bytes ${first}-${last}/${plain.length}`,
      length: slice.length,
      size: slice.length,
      sha256: sha256Hex(slice),
    });
  });
}

export function checkCopies(seen: Record<string, Outcome<CopySeen>>) {
  checkEach(copies, (c) => `CopyObject ${c.name}`, (c) => {
    const got = succeeded(seen[c.name]);
    const plain = plaintext(c.source);
    assertReports(c.encryption, got.copy, "CopyObject", { context: true });
    assertSinglePartEtag(c.encryption, got.copy.ETag, plain, "CopyObject");
    assertReports(c.encryption, got.get, "GET");
    assertReports(c.encryption, got.head, "HEAD");
    assertRead(got.get, plain, "GET");
    assertEquals(got.head.length, plain.length, "HEAD: Content-Length");
    assertEquals(got.get.ETag, got.copy.ETag, "GET: ETag");
    if (c.encryption.mode === "SSE-C" && c.source.encryption.mode === "SSE-C") {
      assertEquals(got.staleKey, { status: 403, code: "AccessDenied" }, "GET with the old key");
    }
  });
}

export function checkPartCopy(seen: Outcome<MultipartSeen>) {
  const { source, encryption, ranges: copied } = partCopy;
  checkEach([source], (s) => `UploadPartCopy from ${s.key}`, () => {
    const got = succeeded(seen);
    const all = multipartPlaintext(source);
    const parts = copied.map(([first, last]) => all.subarray(first, last + 1));
    assertReports(encryption, got.create, "CreateMultipartUpload");
    got.parts.forEach((part, i) => assertReports(encryption, part, `UploadPartCopy ${i + 1}`));
    assertReports(encryption, got.complete, "CompleteMultipartUpload");
    assertReports(encryption, got.get, "GET");
    assertRead(got.get, all, "GET");
    assertEquals(got.head.length, all.length, "HEAD: Content-Length");
    assertMultipartEtag(encryption, got.complete.ETag, parts, "CompleteMultipartUpload");
  });
}

/**
 * The error cases every driver runs, by name, with the answers AWS gives (several where AWS's
 * documentation leaves it open). A HEAD has no body, so only its status is compared.
 */
export const EXPECTED_ERRORS: Record<string, ErrorSeen[]> = {
  /** GET / HEAD of an SSE-C object without its key. */
  getWithoutKey: [{ status: 400, code: "InvalidRequest" }],
  headWithoutKey: [{ status: 400, code: "" }],
  /** … with another (valid) key: refused, no bytes. */
  getWrongKey: [{ status: 403, code: "AccessDenied" }],
  headWrongKey: [{ status: 403, code: "" }],
  /** A range GET of an SSE-C object with another key. */
  rangeWrongKey: [{ status: 403, code: "AccessDenied" }],
  /** PUT whose key MD5 is not the key's. */
  putWrongKeyMd5: [{ status: 400, code: "InvalidArgument" }],
  /** PUT with a 128-bit key. */
  putShortKey: [{ status: 400, code: "InvalidArgument" }],
  /** SSE-C algorithm AES128 (AWS: InvalidEncryptionAlgorithmError). */
  putAlgorithm: [{ status: 400, code: "InvalidEncryptionAlgorithmError" }],
  /** SSE-C together with x-amz-server-side-encryption: AES256. */
  putSseCAndSseS3: [{ status: 400, code: "InvalidArgument" }],
  /** aws:kms:dsse: not supported. */
  putDsse: [{ status: 501, code: "NotImplemented" }, { status: 400, code: "InvalidArgument" }],
  /** aws:kms with a key id the key service does not have (AWS: KMS.NotFoundException). */
  putUnknownKmsKey: [{ status: 400, code: "KMS.NotFoundException" }],
  /** SSE-C headers on a GET of an SSE-S3 object and of a plain object. */
  getSseS3WithKey: [{ status: 400, code: "InvalidRequest" }],
  getPlainWithKey: [{ status: 400, code: "InvalidRequest" }],
  /** CopyObject of an SSE-C source without / with a wrong copy-source key. */
  copyWithoutSourceKey: [{ status: 400, code: "InvalidRequest" }],
  copyWrongSourceKey: [{ status: 403, code: "AccessDenied" }],
  /** UploadPart into an SSE-C upload with another key / without a key. */
  partWrongKey: [{ status: 400, code: "InvalidRequest" }, { status: 403, code: "AccessDenied" }],
  partWithoutKey: [{ status: 400, code: "InvalidRequest" }],
};

export interface ErrorsSeen {
  /** Each case's error; null when the request succeeded. */
  cases: Record<string, ErrorSeen | null>;
  /** The upload of the part cases, completed with the right key afterwards and read back. */
  upload: Outcome<{ get: ReadSeen }>;
}

export function checkErrors(seen: ErrorsSeen) {
  // Where AWS's answer is open, say which one the server gave.
  const { putDsse, partWrongKey } = seen.cases;
  console.log(
    `aws:kms:dsse → ${JSON.stringify(putDsse)}; ` +
      `UploadPart with another SSE-C key → ${JSON.stringify(partWrongKey)}`,
  );
  const wrong: string[] = [];
  for (const [name, allowed] of Object.entries(EXPECTED_ERRORS)) {
    const got = seen.cases[name];
    if (got === undefined) {
      wrong.push(`${name}: not run`);
      continue;
    }
    const ok = got !== null &&
      allowed.some((a) => a.status === got.status && (a.code === "" || a.code === got.code));
    if (!ok) wrong.push(`${name}: got ${JSON.stringify(got)}, expected ${JSON.stringify(allowed)}`);
  }
  try {
    const size = ERROR_UPLOAD.parts.reduce((a, b) => a + b);
    const plain = plaintext({ offset: ERROR_UPLOAD.offset, size });
    assertRead(succeeded(seen.upload).get, plain, "GET");
  } catch (err) {
    wrong.push(`the upload completed with the right key after the refused parts: ${err}`);
  }
  if (wrong.length > 0) throw new AssertionError({ message: wrong.join("\n") });
}
