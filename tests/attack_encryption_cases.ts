/**
 * The hostile requests of the encryption attack (attack_encryption_test.ts), as plain data: SSE
 * headers in random combinations on every object call that takes them (PutObject, GetObject,
 * HeadObject, CopyObject, the multipart calls, POST form fields), mutated
 * ServerSideEncryptionConfiguration documents, and admin KMS calls with hostile key ids,
 * methods, bodies and signers. The test resolves upload ids, signs and sends.
 */
import { createHash, createHmac } from "node:crypto";
import { signingKey } from "../src/auth/signing.ts";
import { concatBytes, toBase64 } from "../src/bytes.ts";
import { ACCESS_KEY, SECRET_KEY } from "./helpers/server.ts";

/** Holds the objects that must survive; its own encryption configuration is never attacked. */
export const KEPT = "sse-kept";
/** No default encryption: writes there take only what their headers ask for. */
export const OPEN = "sse-open";
/** The bucket whose ?encryption configuration the cases mutate. */
export const CONFIG = "sse-config";

const SSE = "x-amz-server-side-encryption";
export const CUSTOMER = `${SSE}-customer-`;
export const COPY_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-";

/** The customer key of the kept SSE-C objects, and another well-formed key. */
export const CUSTOMER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 7 + 1) & 0xff);
export const OTHER_KEY = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

export const md5Base64 = (data: Uint8Array | string) =>
  createHash("md5").update(data).digest("base64");
const b64 = (text: string) => toBase64(new TextEncoder().encode(text));

/** The three SSE-C headers naming `key`, for the object (or its copy source with COPY_CUSTOMER). */
export function customerHeaders(key: Uint8Array, prefix = CUSTOMER): Record<string, string> {
  return {
    [`${prefix}algorithm`]: "AES256",
    [`${prefix}key`]: toBase64(key),
    [`${prefix}key-md5`]: md5Base64(key),
  };
}

/** A kept object: written at the start, read back byte-exact at the end. */
export interface KeptObject {
  key: string;
  size: number;
  /** Headers of its PutObject / CreateMultipartUpload. */
  headers: Record<string, string>;
  /** Sizes of its parts when written by multipart upload. */
  parts?: number[];
  /** Whether reading it needs CUSTOMER_KEY. */
  customer: boolean;
}

export const KEPT_OBJECTS: readonly KeptObject[] = [
  { key: "plain.bin", size: 70_000, headers: {}, customer: false },
  { key: "s3.bin", size: 100_000, headers: { [SSE]: "AES256" }, customer: false },
  {
    key: "kms.bin",
    size: 65_537,
    headers: {
      [SSE]: "aws:kms",
      [`${SSE}-context`]: b64('{"app":"attack"}'),
      "x-amz-meta-owner": "kept",
      "content-type": "application/x-kept",
    },
    customer: false,
  },
  { key: "c.bin", size: 65_536, headers: customerHeaders(CUSTOMER_KEY), customer: true },
  {
    key: "c-multi.bin",
    size: 5 * 1024 * 1024 + 1000,
    headers: customerHeaders(CUSTOMER_KEY),
    parts: [5 * 1024 * 1024, 1000],
    customer: true,
  },
];

/** The uploads UploadPart, UploadPartCopy and Complete attack; the test keeps one open of each. */
export interface PooledUpload {
  name: string;
  bucket: string;
  key: string;
  headers: Record<string, string>;
}

export const UPLOADS: readonly PooledUpload[] = [
  { name: "plain", bucket: OPEN, key: "victim-up-plain", headers: {} },
  { name: "s3", bucket: OPEN, key: "victim-up-s3", headers: { [SSE]: "AES256" } },
  { name: "kms", bucket: OPEN, key: "victim-up-kms", headers: { [SSE]: "aws:kms" } },
  { name: "c", bucket: OPEN, key: "victim-up-c", headers: customerHeaders(CUSTOMER_KEY) },
  { name: "default", bucket: KEPT, key: "victim-up-default", headers: {} },
];

export type Principal = "root" | "user" | "anonymous";

export interface Case {
  /** The operation attacked, for the tally and the report. */
  op: string;
  method: string;
  /** Decoded path; the admin API's is sent raw (dot segments and all). */
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body?: string | Uint8Array<ArrayBuffer>;
  /** fetch (header values as byte strings), raw TCP (raw path), or an unsigned POST form. */
  via: "fetch" | "raw" | "form";
  principal: Principal;
  /** A pooled upload: the test adds its uploadId to the query. */
  upload?: string;
  /** CompleteMultipartUpload: the pooled upload's part 1 as tracked, or a made-up one. */
  completeParts?: "tracked" | "bogus";
  /** POST form fields besides the key, the policy and its signature. */
  formFields?: [string, string][];
  /** The kept object this case reads (GET/HEAD) or copies from. */
  kept?: KeptObject;
  /** A change of CONFIG's ?encryption configuration (PUT or DELETE). */
  configChange?: boolean;
}

export interface World {
  /** The key service's default master key (as the kept SSE-KMS object reports it). */
  defaultKeyId: string;
}

function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)];
}

const chance = (random: () => number, p: number) => random() < p;

const long = (n: number, unit = "a") => unit.repeat(n);
/** Sent as its UTF-8 bytes, signed as such (attack_encryption_test.ts). */
const unicode = "ключ-🔑-é";

const SSE_VALUES = [
  "AES256",
  "aws:kms",
  "aws:kms:dsse",
  "garbage",
  "",
  "aes256",
  "AWS:KMS",
  "aws:kms ",
  "AES256,aws:kms",
  long(10_000, "A"),
  unicode,
];

function keyIds(world: World): string[] {
  return [
    world.defaultKeyId,
    `arn:aws:kms:us-east-1:123456789012:key/${world.defaultKeyId}`,
    `arn:aws:kms:${world.defaultKeyId}`,
    "no-such-key",
    "arn:aws:kms:us-east-1:123456789012:key/no-such-key",
    "arn:aws:kms:",
    "arn:aws:kms:us-east-1:123456789012:key/",
    long(10_000, "k"),
    unicode,
    "../../etc/passwd",
    "a/../../b",
    "%00",
    "",
    " ",
  ];
}

/** A JSON object of string values `bytes` long, give or take. */
function bigContext(bytes: number): string {
  const entries = Array.from({ length: Math.ceil(bytes / 1000) }, (_, i) => [`k${i}`, long(990)]);
  return b64(JSON.stringify(Object.fromEntries(entries)));
}

const CONTEXTS = [
  "!!!not base64!!!",
  "e30",
  b64("not json"),
  b64("[1,2,3]"),
  b64('{"a":{"b":"c"}}'),
  b64('{"a":"b"}'),
  b64('{"a":1}'),
  b64("null"),
  b64('{"__proto__":{"polluted":"yes"}}'),
  b64('{"flashstor:object":"sse-kept/kms.bin"}'),
  toBase64(Uint8Array.of(0x7b, 0xff, 0xfe, 0x7d)),
  "",
  bigContext(30_000),
  bigContext(100_000),
];

const FLAGS = ["true", "false", "TRUE", "garbage", "", "1", long(5000, "t")];
const ALGORITHMS = ["AES256", "aes256", "AES128", "aws:kms", "", "garbage"];

/** Customer-key header values: 0, 16, 31, 33, 64 bytes, bad encodings, two good keys. */
const KEY_VALUES = [
  "",
  toBase64(new Uint8Array(16).fill(1)),
  toBase64(new Uint8Array(31).fill(2)),
  toBase64(new Uint8Array(33).fill(3)),
  toBase64(new Uint8Array(64).fill(4)),
  "!!!!" + toBase64(CUSTOMER_KEY).slice(4),
  toBase64(CUSTOMER_KEY.subarray(0, 31)).replace(/=+$/, ""),
  Array.from(CUSTOMER_KEY, (b) => b.toString(16).padStart(2, "0")).join(""),
  toBase64(CUSTOMER_KEY),
  toBase64(OTHER_KEY),
];

/** SSE-C headers: a coherent set (right or wrong key) or pieces of one, each possibly wrong. */
function customerSet(random: () => number, prefix: string): Record<string, string> {
  if (chance(random, 0.5)) {
    return customerHeaders(chance(random, 0.7) ? CUSTOMER_KEY : OTHER_KEY, prefix);
  }
  const headers: Record<string, string> = {};
  const key = pick(KEY_VALUES, random);
  if (chance(random, 0.75)) headers[`${prefix}algorithm`] = pick(ALGORITHMS, random);
  if (chance(random, 0.75)) headers[`${prefix}key`] = key;
  if (chance(random, 0.75)) {
    headers[`${prefix}key-md5`] = pick([
      md5Base64(key),
      md5Base64(CUSTOMER_KEY),
      md5Base64(OTHER_KEY),
      "garbage",
      "",
      createHash("md5").update(CUSTOMER_KEY).digest("hex"),
    ], random);
  }
  return headers;
}

/** A random combination of the SSE headers; `copy` makes the copy-source key likelier. */
function sseHeaders(random: () => number, world: World, copy: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  if (chance(random, 0.45)) headers[SSE] = pick(SSE_VALUES, random);
  if (chance(random, 0.25)) headers[`${SSE}-aws-kms-key-id`] = pick(keyIds(world), random);
  if (chance(random, 0.25)) headers[`${SSE}-context`] = pick(CONTEXTS, random);
  if (chance(random, 0.15)) headers[`${SSE}-bucket-key-enabled`] = pick(FLAGS, random);
  if (chance(random, 0.45)) Object.assign(headers, customerSet(random, CUSTOMER));
  if (chance(random, copy ? 0.6 : 0.1)) Object.assign(headers, customerSet(random, COPY_CUSTOMER));
  return headers;
}

function payload(random: () => number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(Math.floor(random() * (random() < 0.2 ? 140_000 : 2000)));
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

const RANGES = [
  "bytes=0-0",
  "bytes=65535-65537",
  "bytes=65536-",
  "bytes=-1",
  "bytes=-70000",
  "bytes=10-5",
  "bytes=999999999-",
  "bytes=0-1,5-6",
  "garbage",
];
const PART_NUMBERS = ["1", "2", "0", "10000", "10001", "-1", "abc", ""];
const UPLOAD_IDS = ["", "x", "../../x", long(1024), "%00", "00000000-0000-0000-0000-000000000000"];

/** A read target: most often a kept object (whose answers are checked), else a victim or none. */
function readTarget(random: () => number): { bucket: string; key: string; kept?: KeptObject } {
  if (chance(random, 0.8)) {
    const kept = pick(KEPT_OBJECTS, random);
    return { bucket: KEPT, key: kept.key, kept };
  }
  return {
    bucket: pick([KEPT, OPEN], random),
    key: pick(["victim", "victim-copy", "victim-post", "missing"], random),
  };
}

function objectCase(random: () => number, world: World): Case {
  const base = {
    query: [] as [string, string][],
    via: "fetch" as const,
    principal: "root" as const,
  };
  const writeBucket = pick([KEPT, OPEN], random);
  const kind = random();
  if (kind < 0.17) {
    return {
      ...base,
      op: "PutObject",
      method: "PUT",
      path: `/${writeBucket}/victim`,
      headers: sseHeaders(random, world, false),
      body: payload(random),
    };
  }
  if (kind < 0.45) {
    const head = kind < 0.33;
    const { bucket, key, kept } = readTarget(random);
    const headers = sseHeaders(random, world, false);
    // Half the reads of an SSE-C object give its key: the other headers then decide.
    if (kept?.customer && chance(random, 0.5)) {
      Object.assign(headers, customerHeaders(CUSTOMER_KEY));
    }
    if (chance(random, 0.3)) headers["range"] = pick(RANGES, random);
    const query: [string, string][] = chance(random, 0.15)
      ? [["partNumber", pick(PART_NUMBERS, random)]]
      : [];
    return {
      ...base,
      op: head ? "HeadObject" : "GetObject",
      method: head ? "HEAD" : "GET",
      path: `/${bucket}/${key}`,
      query,
      headers,
      kept,
    };
  }
  if (kind < 0.6) {
    const source = readTarget(random);
    const headers = sseHeaders(random, world, true);
    if (source.kept?.customer && chance(random, 0.4)) {
      Object.assign(headers, customerHeaders(CUSTOMER_KEY, COPY_CUSTOMER));
    }
    headers["x-amz-copy-source"] = `/${source.bucket}/${source.key}`;
    if (chance(random, 0.3)) {
      headers["x-amz-metadata-directive"] = pick(["COPY", "REPLACE", "garbage"], random);
    }
    return {
      ...base,
      op: "CopyObject",
      method: "PUT",
      path: `/${writeBucket}/victim-copy`,
      headers,
      kept: source.kept,
    };
  }
  if (kind < 0.68) {
    return {
      ...base,
      op: "CreateMultipartUpload",
      method: "POST",
      path: `/${writeBucket}/victim-new-upload`,
      query: [["uploads", ""]],
      headers: sseHeaders(random, world, false),
    };
  }
  const pooled = pick(UPLOADS, random);
  const known = chance(random, 0.85);
  const uploadQuery: [string, string][] = known ? [] : [["uploadId", pick(UPLOAD_IDS, random)]];
  const upload = known ? pooled.name : undefined;
  const path = `/${pooled.bucket}/${pooled.key}`;
  const headers = sseHeaders(random, world, false);
  // Most parts of the SSE-C upload carry its key, so that the other headers get their turn.
  if (pooled.name === "c" && chance(random, 0.5)) Object.assign(headers, pooled.headers);
  const partNumber: [string, string] = [
    "partNumber",
    chance(random, 0.8) ? pick(["1", "2"], random) : pick(PART_NUMBERS, random),
  ];
  if (kind < 0.8) {
    return {
      ...base,
      op: "UploadPart",
      method: "PUT",
      path,
      query: [partNumber, ...uploadQuery],
      headers,
      body: payload(random),
      upload,
    };
  }
  if (kind < 0.92) {
    const source = readTarget(random);
    Object.assign(headers, sseHeaders(random, world, true));
    if (source.kept?.customer && chance(random, 0.4)) {
      Object.assign(headers, customerHeaders(CUSTOMER_KEY, COPY_CUSTOMER));
    }
    headers["x-amz-copy-source"] = `/${source.bucket}/${source.key}`;
    if (chance(random, 0.4)) headers["x-amz-copy-source-range"] = pick(RANGES, random);
    return {
      ...base,
      op: "UploadPartCopy",
      method: "PUT",
      path,
      query: [partNumber, ...uploadQuery],
      headers,
      upload,
      kept: source.kept,
    };
  }
  return {
    ...base,
    op: "CompleteMultipartUpload",
    method: "POST",
    path,
    query: uploadQuery,
    headers,
    upload,
    completeParts: chance(random, 0.75) ? "tracked" : "bogus",
  };
}

/** SSE form fields for a POST upload, now and then one given twice. */
function formCase(random: () => number, world: World): Case {
  const fields = Object.entries(sseHeaders(random, world, false));
  if (chance(random, 0.2)) fields.push([SSE, pick(SSE_VALUES, random)]);
  return {
    op: "PostObject",
    method: "POST",
    path: `/${pick([KEPT, OPEN], random)}`,
    query: [],
    headers: {},
    via: "form",
    principal: "anonymous",
    formFields: fields,
    body: payload(random),
  };
}

function configDocument(algorithm: string, keyId?: string, bucketKey = "false"): string {
  const master = keyId === undefined ? "" : `<KMSMasterKeyID>${keyId}</KMSMasterKeyID>`;
  return `<ServerSideEncryptionConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>${algorithm}</SSEAlgorithm>` +
    `${master}</ApplyServerSideEncryptionByDefault><BucketKeyEnabled>${bucketKey}` +
    `</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`;
}

const ELEMENTS = [
  "Rule",
  "ApplyServerSideEncryptionByDefault",
  "SSEAlgorithm",
  "KMSMasterKeyID",
  "BucketKeyEnabled",
];
const elementOf = (name: string) => new RegExp(`<${name}>[\\s\\S]*?</${name}>`);

/** Edits of a well-formed configuration: what a hostile or broken client sends instead. */
const DOCUMENT_MUTATIONS: [string, (doc: string, random: () => number) => string][] = [
  ["unchanged", (d) => d],
  ["element dropped", (d, r) => d.replace(elementOf(pick(ELEMENTS, r)), "")],
  ["element duplicated", (d, r) => d.replace(elementOf(pick(ELEMENTS, r)), (m) => m + m)],
  [
    "huge value",
    (d, r) =>
      d.replace(/<(SSEAlgorithm|KMSMasterKeyID)>[^<]*</, `<$1>${long(pick([5000, 200_000], r))}<`),
  ],
  [
    "wrong algorithm",
    (d, r) =>
      d.replace(
        /<SSEAlgorithm>[^<]*</,
        `<SSEAlgorithm>${pick(["aws:kms:dsse", "aes256", "AES128", "", "garbage", "AWS:KMS"], r)}<`,
      ),
  ],
  [
    "KMSMasterKeyID with AES256",
    (d) =>
      d.replace(/<SSEAlgorithm>[^<]*<\/SSEAlgorithm>/, "<SSEAlgorithm>AES256</SSEAlgorithm>")
        .replace("</ApplyServerSideEncryptionByDefault>", "<KMSMasterKeyID>k</KMSMasterKeyID>$&"),
  ],
  [
    "hostile key id",
    (d, r) =>
      d.replace(
        /<SSEAlgorithm>[^<]*<\/SSEAlgorithm>(<KMSMasterKeyID>[^<]*<\/KMSMasterKeyID>)?/,
        () =>
          `<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>${
            pick(["no-such-key", "", "../../x", "arn:aws:kms:", "ключ", long(10_000), " "], r)
          }</KMSMasterKeyID>`,
      ),
  ],
  ["several rules", (d, r) => d.replace(elementOf("Rule"), (m) => m.repeat(pick([2, 1000], r)))],
  [
    "bucket key garbage",
    (d, r) => d.replace(/<BucketKeyEnabled>[^<]*</, `<BucketKeyEnabled>${pick(FLAGS, r)}<`),
  ],
  [
    "blocked types",
    (d, r) =>
      d.replace(
        "</Rule>",
        `<BlockedEncryptionTypes><EncryptionType>${
          pick(["SSE-C", "NONE", "garbage", ""], r)
        }</EncryptionType></BlockedEncryptionTypes></Rule>`,
      ),
  ],
  ["unknown element", (d) => d.replace("</Rule>", "<Bogus>1</Bogus></Rule>")],
  ["truncated", (d, r) => d.slice(0, Math.floor(r() * d.length))],
  ["not xml", () => '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}'],
  ["empty", () => ""],
  ["root renamed", (d) => d.replaceAll("ServerSideEncryptionConfiguration", "Configuration")],
  [
    "deep nesting",
    (d) => d.replace("</Rule>", "<a>".repeat(2000) + "</a>".repeat(2000) + "</Rule>"),
  ],
  [
    "entity",
    (d) =>
      `<!DOCTYPE x [<!ENTITY e "${long(1000, "e")}">]>` +
      d.replace(/<SSEAlgorithm>[^<]*</, "<SSEAlgorithm>&e;<"),
  ],
  ["cdata", (d) => d.replace(/<SSEAlgorithm>([^<]*)</, "<SSEAlgorithm><![CDATA[$1]]><")],
  ["other namespace", (d) => d.replace(/xmlns="[^"]*"/, 'xmlns="http://evil/"')],
  ["huge document", (d) => d.replace("</Rule>", `<Bogus>${long(3 * 1024 * 1024)}</Bogus></Rule>`)],
];

function configCase(random: () => number, world: World): Case {
  const base = {
    via: "fetch" as const,
    principal: "root" as const,
    query: [["encryption", ""]] as [string, string][],
  };
  const method = pick(["PUT", "PUT", "PUT", "PUT", "GET", "DELETE"], random);
  const bucket = chance(random, 0.05) ? "no-such-bucket" : CONFIG;
  if (method !== "PUT") {
    return {
      ...base,
      op: `${method === "GET" ? "Get" : "Delete"}BucketEncryption`,
      method,
      path: `/${method === "GET" && chance(random, 0.3) ? KEPT : bucket}`,
      headers: {},
      configChange: method === "DELETE" && bucket === CONFIG,
    };
  }
  const document = pick([
    configDocument("AES256"),
    configDocument("aws:kms", world.defaultKeyId, "true"),
    configDocument("aws:kms", `arn:aws:kms:us-east-1:123456789012:key/${world.defaultKeyId}`),
    configDocument("aws:kms"),
  ], random);
  const [mutation, edit] = pick(DOCUMENT_MUTATIONS, random);
  const text = edit(document, random);
  const body: string | Uint8Array<ArrayBuffer> = chance(random, 0.05)
    ? Uint8Array.from([...new TextEncoder().encode(text.slice(0, 120)), 0xff, 0xfe, 0x80])
    : text;
  const headers: Record<string, string> = {};
  const md5 = pick(["right", "right", "right", "wrong", "garbage", "none"], random);
  if (md5 === "right") headers["content-md5"] = md5Base64(body);
  if (md5 === "wrong") headers["content-md5"] = md5Base64("another body");
  if (md5 === "garbage") headers["content-md5"] = "not-an-md5";
  return {
    ...base,
    op: `PutBucketEncryption (${mutation})`,
    method,
    path: `/${bucket}`,
    headers,
    body,
    configChange: bucket === CONFIG,
  };
}

const ADMIN_IDS = [
  "",
  long(1024),
  "..",
  "\u0000",
  "%00",
  "ключ-🔑",
  "a/b",
  "../../etc/passwd",
  "/",
  " ",
  long(129),
  "a:b.c_d-e",
];

const ADMIN_BODIES = [
  undefined,
  "",
  "{}",
  "[]",
  "null",
  "not json",
  '{"keyId":"../../x"}',
  '{"keyId":"' + long(1024) + '"}',
  '{"keyId":123}',
  '{"bucket":"sse-kept"}',
  '{"bucket":"sse-kept","prefix":"../"}',
  '{"bucket":"no-such-bucket"}',
  '{"__proto__":{"admin":true}}',
  long(100_000, "{"),
];

/** The admin KMS API (src/admin/api.ts), with the method each call takes. */
const ADMIN_APIS: [string, string][] = [
  ["kms/status", "GET"],
  ["kms/keys", "GET"],
  ["kms/keys/{id}", "GET"],
  ["kms/keys/{id}", "POST"],
  ["kms/keys/{id}/rotate", "POST"],
  ["kms/rewrap", "GET"],
  ["kms", "GET"],
  ["kms/", "GET"],
  ["kms/keys/", "POST"],
  ["kms/{id}", "GET"],
  ["kms/status/{id}", "GET"],
];

/**
 * A call of the admin KMS API, by anyone: hostile ids, any method, any body. The default key is
 * named often, so that it gets rotated (and its objects re-wrapped) while the attack runs.
 */
function adminCase(random: () => number, world: World, serial: number): Case {
  const principal: Principal = pick(["root", "root", "root", "root", "user", "anonymous"], random);
  const id = chance(random, 0.3)
    ? world.defaultKeyId
    : pick([...ADMIN_IDS, `attack-${serial}`], random);
  const [template, natural] = pick(ADMIN_APIS, random);
  const api = template.replace("{id}", id);
  let method = chance(random, 0.6)
    ? natural
    : pick(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"], random);
  // A key the kept objects depend on is never the target of a (legitimate) deletion.
  if (method === "DELETE" && api.includes(world.defaultKeyId)) method = "GET";
  const query: [string, string][] = chance(random, 0.2)
    ? [[pick(["keyId", "bucket", "prefix", "force"], random), pick([id, KEPT, "", "../"], random)]]
    : [];
  const body = method === "GET" || method === "HEAD" ? undefined : pick(ADMIN_BODIES, random);
  return {
    op: `admin ${method} ${template}`,
    method,
    path: `/flashstor/admin/v1/${api}`,
    query,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body,
    via: "raw",
    principal,
  };
}

/** One hostile request. `serial` makes names fresh (keys an admin call may create). */
export function makeCase(random: () => number, world: World, serial: number): Case {
  const kind = random();
  if (kind < 0.72) return objectCase(random, world);
  if (kind < 0.8) return formCase(random, world);
  if (kind < 0.92) return configCase(random, world);
  return adminCase(random, world, serial);
}

/** A POST form upload of `file` to `bucket`/victim-post, signed, with `extra` fields allowed. */
export function postForm(
  bucket: string,
  extra: [string, string][],
  file: Uint8Array<ArrayBuffer>,
): { contentType: string; body: Uint8Array<ArrayBuffer> } {
  const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const credential = `${ACCESS_KEY}/${day}/us-east-1/s3/aws4_request`;
  const signed: [string, string][] = [
    ["key", "victim-post"],
    ["x-amz-algorithm", "AWS4-HMAC-SHA256"],
    ["x-amz-credential", credential],
    ["x-amz-date", amzDate],
  ];
  const policy = b64(JSON.stringify({
    expiration: new Date(Date.now() + 3_600_000).toISOString(),
    conditions: [
      { bucket },
      ...signed.map(([name, value]) => ["eq", `$${name}`, value]),
      ...extra.map(([name]) => ["starts-with", `$${name}`, ""]),
    ],
  }));
  const key = signingKey(ACCESS_KEY, SECRET_KEY, day, "us-east-1", "s3");
  const signature = createHmac("sha256", key).update(policy).digest("hex");
  const boundary = "----FlashstorSseAttack";
  const fields = [...signed, ...extra, ["policy", policy], ["x-amz-signature", signature]];
  const text =
    fields.map(([name, value]) =>
      `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
    ).join("") +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n\r\n`;
  const encoder = new TextEncoder();
  const body = concatBytes([encoder.encode(text), file, encoder.encode(`\r\n--${boundary}--\r\n`)]);
  return { contentType: `multipart/form-data; boundary=${boundary}`, body };
}
