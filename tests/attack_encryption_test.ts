/**
 * Encryption at rest attacked from outside: a seeded sample of hostile requests
 * (attack_encryption_cases.ts) — SSE-S3 / SSE-KMS / SSE-C headers in random combinations on
 * every object call and POST form, mutated ?encryption documents, the admin KMS API with hostile
 * ids, methods, bodies and signers — against a real server with a key service, holding a plain,
 * an SSE-S3, an SSE-KMS, an SSE-C and a multipart SSE-C object. Every answer must be below 500
 * (501 and 503 allowed), an S3 error document when an error, with no stack trace, internal path
 * or customer key in it; an SSE-C object is served or copied only with its key, and what is
 * served is its exact bytes; the admin KMS API answers only the root user; CONFIG's encryption
 * configuration changes only when a call says it did. Afterwards the server is up and the kept
 * objects, their headers and their bucket's configuration are as they were.
 * FLASHSTOR_TEST_FULL=1 (deno task test:full) runs 4000 cases; FLASHSTOR_ATTACK_SEED replays one.
 */
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateUserCommand,
} from "@aws-sdk/client-iam";
import { toBase64, utf8ByteString } from "../src/bytes.ts";
import { assert, assertEquals } from "./helpers/assert.ts";
import { patterned } from "./helpers/clients.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { iam } from "./helpers/sts.ts";
import { prng } from "./erasure_util.ts";
import { type RawRequest, rawRequest, signRequest, xmlField } from "./s3_raw.ts";
import {
  type Case,
  CONFIG,
  COPY_CUSTOMER,
  CUSTOMER,
  CUSTOMER_KEY,
  customerHeaders,
  KEPT,
  KEPT_OBJECTS,
  type KeptObject,
  makeCase,
  md5Base64,
  OPEN,
  OTHER_KEY,
  postForm,
  UPLOADS,
  type World,
} from "./attack_encryption_cases.ts";

const FULL = Deno.env.get("FLASHSTOR_TEST_FULL") === "1";
const SEED = Number(Deno.env.get("FLASHSTOR_ATTACK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
const CASES = FULL ? 4000 : 300;
const BUDGET_MS = 25_000;
const KMS_SECRET_KEY = `test-key:${toBase64(Uint8Array.from({ length: 32 }, (_, i) => i + 100))}`;
/** Headers that differ between two answers about the same, unchanged object. */
const PER_RESPONSE = new Set([
  "date",
  "x-amz-request-id",
  "x-amz-id-2",
  "connection",
  "keep-alive",
]);
const S3_ERROR = /^(<\?xml[^>]*\?>)?\s*<Error>[\s\S]*<Code>[^<]+<\/Code>[\s\S]*<\/Error>\s*$/;
const INTERNALS = /\bat (async )?\S+ \(|\.ts:\d+|file:\/\/|node_modules|\/src\//;

interface Answer {
  status: number;
  header(name: string): string | null;
  headerNames: string[];
  bytes: Uint8Array;
  text: string;
}

/** A pooled upload as the test last knew it. */
interface OpenUpload {
  id: string;
  /** ETag of its part 1 (quoted). */
  etag: string;
}

interface State {
  server: TestServer;
  user: { accessKey: string; secretKey: string };
  uploads: Map<string, OpenUpload>;
  /** CONFIG's GetBucketEncryption answer, status and body. */
  config: [number, string];
  contents: Map<string, Uint8Array>;
}

async function fromResponse(response: Response): Promise<Answer> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    header: (name) => response.headers.get(name),
    headerNames: [...response.headers.keys()],
    bytes,
    text: new TextDecoder().decode(bytes),
  };
}

/**
 * A signed request over fetch. Header values beyond ASCII (a unicode key id) are signed over
 * their UTF-8 and sent as those bytes, as a client sending UTF-8 does (fetch takes bytes only).
 */
async function s3(server: TestServer, request: RawRequest): Promise<Answer> {
  const { target, headers } = signRequest(request, `127.0.0.1:${server.port}`);
  delete headers["host"];
  for (const name in headers) headers[name] = utf8ByteString(headers[name]);
  return await fromResponse(
    await fetch(server.endpoint + target, {
      method: request.method,
      headers,
      body: request.body,
    }),
  );
}

async function ok(server: TestServer, request: RawRequest): Promise<Answer> {
  const answer = await s3(server, request);
  assert(answer.status < 300, `${request.method} ${request.path}: ${answer.status} ${answer.text}`);
  return answer;
}

/** Only the SSE-C headers of `headers`: what every part of an SSE-C upload repeats. */
const customerOnly = (headers: Record<string, string>) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith(CUSTOMER)));

const completeBody = (parts: [number, string][]) =>
  `<CompleteMultipartUpload>${
    parts.map(([n, etag]) => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag></Part>`)
      .join("")
  }</CompleteMultipartUpload>`;

async function createUpload(
  server: TestServer,
  path: string,
  headers: Record<string, string>,
): Promise<string> {
  const created = await ok(server, { method: "POST", path, query: [["uploads", ""]], headers });
  return xmlField(created.text, "UploadId")!;
}

async function uploadPart(
  server: TestServer,
  path: string,
  id: string,
  n: number,
  headers: Record<string, string>,
  body: Uint8Array<ArrayBuffer>,
): Promise<string> {
  const query: [string, string][] = [["partNumber", String(n)], ["uploadId", id]];
  const part = await ok(server, { method: "PUT", path, query, headers, body });
  return part.header("etag")!;
}

async function writeKept(server: TestServer, kept: KeptObject, body: Uint8Array<ArrayBuffer>) {
  const path = `/${KEPT}/${kept.key}`;
  if (!kept.parts) {
    return void await ok(server, { method: "PUT", path, headers: kept.headers, body });
  }
  const id = await createUpload(server, path, kept.headers);
  const etags: [number, string][] = [];
  let at = 0;
  for (const [i, size] of kept.parts.entries()) {
    const piece = body.slice(at, at + size);
    at += size;
    etags.push([
      i + 1,
      await uploadPart(server, path, id, i + 1, customerOnly(kept.headers), piece),
    ]);
  }
  await ok(server, {
    method: "POST",
    path,
    query: [["uploadId", id]],
    body: completeBody(etags),
  });
}

/** A fresh upload of `name` with a part 1, replacing the pooled one. */
async function openUpload(state: State, name: string): Promise<void> {
  const pooled = UPLOADS.find((u) => u.name === name)!;
  const path = `/${pooled.bucket}/${pooled.key}`;
  const id = await createUpload(state.server, path, pooled.headers);
  const etag = await uploadPart(
    state.server,
    path,
    id,
    1,
    customerOnly(pooled.headers),
    patterned(1000, 7),
  );
  state.uploads.set(name, { id, etag });
}

/** What a HEAD of a kept object answers, minus what changes from answer to answer. */
async function headersOf(server: TestServer, kept: KeptObject): Promise<Record<string, string>> {
  const head = await ok(server, {
    method: "HEAD",
    path: `/${KEPT}/${kept.key}`,
    headers: kept.customer ? customerHeaders(CUSTOMER_KEY) : {},
  });
  return Object.fromEntries(
    head.headerNames.filter((n) => !PER_RESPONSE.has(n)).map((n) => [n, head.header(n)!]),
  );
}

/** GetBucketEncryption's status and body, less the request's own ids. */
async function configOf(server: TestServer, bucket: string): Promise<[number, string]> {
  const got = await s3(server, { method: "GET", path: `/${bucket}`, query: [["encryption", ""]] });
  return [got.status, got.text.replace(/<(RequestId|HostId)>[^<]*<\/\1>/g, "")];
}

async function iamUser(server: TestServer): Promise<{ accessKey: string; secretKey: string }> {
  const client = iam(server);
  try {
    await client.send(new CreateUserCommand({ UserName: "sse-attacker" }));
    await client.send(
      new AttachUserPolicyCommand({
        UserName: "sse-attacker",
        PolicyArn: "arn:aws:iam::aws:policy/readwrite",
      }),
    );
    const key = await client.send(new CreateAccessKeyCommand({ UserName: "sse-attacker" }));
    return { accessKey: key.AccessKey!.AccessKeyId!, secretKey: key.AccessKey!.SecretAccessKey! };
  } finally {
    client.destroy();
  }
}

/** The case's request with its upload id and CompleteMultipartUpload body filled in. */
function resolved(state: State, c: Case): RawRequest {
  const query = [...c.query];
  const upload = c.upload === undefined ? undefined : state.uploads.get(c.upload)!;
  if (upload) query.push(["uploadId", upload.id]);
  let body = c.body;
  if (c.completeParts === "tracked" && upload) body = completeBody([[1, upload.etag]]);
  if (c.completeParts === "bogus" || (c.completeParts && !upload)) {
    body = completeBody([[1, `"${"0".repeat(32)}"`], [7, '"x"']]);
  }
  return {
    method: c.method,
    path: c.path,
    query,
    headers: c.headers,
    body,
    anonymous: c.principal === "anonymous",
    credentials: c.principal === "user" ? state.user : undefined,
  };
}

async function send(state: State, c: Case): Promise<Answer> {
  const request = resolved(state, c);
  if (c.via === "fetch") return await s3(state.server, request);
  if (c.via === "form") {
    const form = postForm(c.path.slice(1), c.formFields ?? [], c.body as Uint8Array<ArrayBuffer>);
    return await fromResponse(
      await fetch(`${state.server.endpoint}${c.path}`, {
        method: "POST",
        headers: { "content-type": form.contentType },
        body: form.body,
      }),
    );
  }
  const raw = await rawRequest(state.server, request);
  const bytes = new TextEncoder().encode(raw.body);
  return {
    status: raw.status,
    header: (name) => raw.headers.get(name) ?? null,
    headerNames: [...raw.headers.keys()],
    bytes,
    text: raw.body,
  };
}

const succeeded = (a: Answer) => a.status < 300 && !a.text.includes("<Error>");

/** The bytes a successful GET of `kept` must have served, given its answer. */
function expectedBytes(content: Uint8Array, answer: Answer): Uint8Array | string {
  if (answer.status === 200) return content;
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(answer.header("content-range") ?? "");
  if (!range) return `206 without a usable content-range (${answer.header("content-range")})`;
  if (Number(range[3]) !== content.length) return `content-range total ${range[3]}`;
  return content.slice(Number(range[1]), Number(range[2]) + 1);
}

const sameBytes = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((byte, i) => byte === b[i]);

/** What is wrong with `answer` to `c`, in words (empty: nothing). */
function violations(state: State, c: Case, answer: Answer): string[] {
  const found: string[] = [];
  const { status, text } = answer;
  if (status >= 500 && status !== 501 && status !== 503) found.push(`a ${status}`);
  // An object's own bytes are checked against what was stored, not searched for words.
  const objectData = c.via === "fetch" && c.method === "GET" && status < 300;
  const shown = objectData ? "" : text;
  if (INTERNALS.test(shown) || shown.includes(state.server.dir)) {
    found.push("internal detail shown");
  }
  if (status >= 300 && c.method !== "HEAD") {
    // The front door refuses an oversized request head before S3 sees it, in plain text.
    const frontDoor = status === 431;
    if (!frontDoor && !S3_ERROR.test(text)) found.push("an error that is no S3 error document");
  }
  const keys = [toBase64(CUSTOMER_KEY), toBase64(OTHER_KEY)];
  if (answer.header(`${CUSTOMER}key`) !== null || keys.some((k) => shown.includes(k))) {
    found.push("a customer key echoed");
  }
  // Dot segments can take a path out of the admin API: then any refusal will do.
  const leavesAdmin = /\/\.\.?(\/|$)/.test(c.path);
  if (c.principal !== "root" && c.via === "raw" && (leavesAdmin ? status < 400 : status !== 403)) {
    found.push(`the admin API answered a ${c.principal} request with ${status}`);
  }
  if (!c.kept || !succeeded(answer)) return found;
  const copy = c.op === "CopyObject" || c.op === "UploadPartCopy";
  const givenKey = c.headers[`${copy ? COPY_CUSTOMER : CUSTOMER}key`];
  if (c.kept.customer && givenKey !== toBase64(CUSTOMER_KEY)) {
    found.push(`${copy ? "copied" : "served"} an SSE-C object without its key`);
  }
  if (c.method === "GET") {
    const expected = expectedBytes(state.contents.get(c.kept.key)!, answer);
    if (typeof expected === "string") found.push(expected);
    else if (!sameBytes(expected, answer.bytes)) {
      found.push("served bytes that are not the object's");
    }
  }
  return found;
}

/** Keeps the pooled uploads and the tracked configuration in step with what a case did. */
async function follow(state: State, c: Case, answer: Answer): Promise<string[]> {
  const done = succeeded(answer);
  if (c.upload && done && c.query.some(([k, v]) => k === "partNumber" && v === "1")) {
    const etag = c.op === "UploadPart"
      ? answer.header("etag")
      : xmlField(answer.text, "ETag")?.replaceAll("&quot;", '"');
    if (etag) state.uploads.get(c.upload)!.etag = etag;
  }
  if (c.op === "CompleteMultipartUpload" && c.upload && done) await openUpload(state, c.upload);
  if (!c.configChange) return [];
  const before = state.config;
  const after = state.config = await configOf(state.server, CONFIG);
  if (!done) {
    return before[0] === after[0] && before[1] === after[1]
      ? []
      : [`a refused call changed the configuration: ${before[0]} → ${after[0]} ${after[1]}`];
  }
  if (c.method === "DELETE") {
    return after[0] === 404 ? [] : [`still a configuration after a DELETE: ${after[1]}`];
  }
  const sent = typeof c.body === "string" ? xmlField(c.body, "SSEAlgorithm") : undefined;
  const stored = xmlField(after[1], "SSEAlgorithm");
  if (after[0] !== 200) return [`no configuration after an accepted PUT: ${after[0]}`];
  return sent === undefined || !/^(AES256|aws:kms)$/.test(sent) || sent === stored
    ? []
    : [`an accepted PUT of ${sent} stored ${stored}`];
}

/** The case as one line: long values shortened, the way to replay it is the seed. */
function describe(c: Case, answer?: Answer): string {
  const short = (v: string) => v.length > 100 ? `${v.slice(0, 40)}…(${v.length} chars)` : v;
  const headers = Object.entries(c.headers).map(([k, v]) => `${k}: ${JSON.stringify(short(v))}`);
  const fields = (c.formFields ?? []).map(([k, v]) => `field ${k}=${JSON.stringify(short(v))}`);
  const body = typeof c.body === "string" ? ` body ${JSON.stringify(short(c.body))}` : "";
  const query = c.query.map(([k, v]) => `${k}=${short(v)}`).join("&");
  const head = `${c.op} [${c.principal}] ${c.method} ${short(c.path)}${query ? `?${query}` : ""}` +
    `${c.upload ? ` (upload ${c.upload})` : ""}`;
  const reply = answer
    ? ` → ${answer.status} ${answer.text.replace(/\s+/g, " ").slice(0, 600)}`
    : "";
  return `${head} {${[...headers, ...fields].join(", ")}}${body}${reply}`;
}

async function seed(server: TestServer): Promise<State> {
  for (const bucket of [KEPT, OPEN, CONFIG]) {
    await ok(server, { method: "PUT", path: `/${bucket}` });
  }
  const contents = new Map<string, Uint8Array>();
  for (const [i, kept] of KEPT_OBJECTS.entries()) {
    const body = patterned(kept.size, 1000 + i);
    contents.set(kept.key, body);
    await writeKept(server, kept, body);
  }
  // Written after plain.bin, so that one stays plain and later writes meet a default.
  const defaultConfig =
    `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>` +
    `<SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault>` +
    `<BucketKeyEnabled>true</BucketKeyEnabled></Rule></ServerSideEncryptionConfiguration>`;
  await ok(server, {
    method: "PUT",
    path: `/${KEPT}`,
    query: [["encryption", ""]],
    headers: { "content-md5": md5Base64(defaultConfig) },
    body: defaultConfig,
  });
  const state: State = {
    server,
    user: await iamUser(server),
    uploads: new Map(),
    config: await configOf(server, CONFIG),
    contents,
  };
  for (const upload of UPLOADS) await openUpload(state, upload.name);
  return state;
}

Deno.test("attack: hostile SSE headers, encryption configurations and KMS admin calls leave encrypted objects, their keys and their bucket's defaults intact", async () => {
  const random = prng(SEED);
  console.log(`attack seed ${SEED}: replay with FLASHSTOR_ATTACK_SEED=${SEED}`);
  const server = await startServer({
    env: { FLASHSTOR_KMS_SECRET_KEY: KMS_SECRET_KEY, FLASHSTOR_SSE_C_OVER_HTTP: "loopback" },
  });
  try {
    const state = await seed(server);
    const keptHeaders = new Map<string, Record<string, string>>();
    for (const kept of KEPT_OBJECTS) keptHeaders.set(kept.key, await headersOf(server, kept));
    const keptConfig = await configOf(server, KEPT);
    const defaultKeyId = keptHeaders.get("kms.bin")!["x-amz-server-side-encryption-aws-kms-key-id"];
    assert(defaultKeyId, "the SSE-KMS object names its master key");
    const world: World = { defaultKeyId };

    const all = Array.from({ length: CASES }, (_, i) => makeCase(random, world, i));
    const started = Date.now();
    const seen = new Map<string, number>();
    const broken: string[] = [];
    let ran = 0;
    for (const c of all) {
      if (!FULL && Date.now() - started > BUDGET_MS) break;
      let answer: Answer;
      try {
        answer = await send(state, c);
      } catch (err) {
        broken.push(`${describe(c)}: no answer (${err})`);
        const live = await fetch(`${server.endpoint}/flashstor/health/live`).then(
          async (r) => (await r.body?.cancel(), r.ok),
          () => false,
        );
        if (!live) break;
        continue;
      }
      ran++;
      const wrong = [...violations(state, c, answer), ...await follow(state, c, answer)];
      for (const why of wrong) broken.push(`${why}: ${describe(c, answer)}`);
      const code = answer.status < 300 ? "" : ` ${/<Code>([^<]+)</.exec(answer.text)?.[1] ?? ""}`;
      const tally = `${c.op.replace(/ \(.*/, "")} ${answer.status}${code}`;
      seen.set(tally, (seen.get(tally) ?? 0) + 1);
    }
    console.log(
      `${ran} of ${all.length} cases in ${Date.now() - started} ms:`,
      Object.fromEntries([...seen].sort()),
    );

    // Afterwards: up, nothing escaped a request, the kept objects and their defaults as they were.
    const live = await fetch(`${server.endpoint}/flashstor/health/live`);
    await live.body?.cancel();
    if (live.status !== 200) broken.push(`the server is no longer live: ${live.status}`);
    if (/Uncaught|flashstor: unhandled/.test(server.output())) {
      broken.push(`an error escaped its request:\n${server.output().slice(-4000)}`);
    }
    for (const kept of KEPT_OBJECTS) {
      const got = await s3(server, {
        method: "GET",
        path: `/${KEPT}/${kept.key}`,
        headers: kept.customer ? customerHeaders(CUSTOMER_KEY) : {},
      });
      if (got.status !== 200 || !sameBytes(got.bytes, state.contents.get(kept.key)!)) {
        broken.push(`${kept.key} no longer reads back: ${got.status} ${got.text.slice(0, 300)}`);
      } else {
        const now = JSON.stringify(await headersOf(server, kept));
        const then = JSON.stringify(keptHeaders.get(kept.key));
        if (now !== then) broken.push(`${kept.key}'s headers changed: ${then} → ${now}`);
      }
    }
    const configNow = await configOf(server, KEPT);
    if (JSON.stringify(configNow) !== JSON.stringify(keptConfig)) {
      broken.push(`${KEPT}'s configuration changed: ${keptConfig} → ${configNow}`);
    }

    for (const line of broken.slice(0, 60)) console.log(`VIOLATION ${line}`);
    if (broken.length > 0) console.log(`server output (end):\n${server.output().slice(-6000)}`);
    assert(ran > 0, "at least one case ran");
    assertEquals(broken.length, 0, `${broken.length} violations (seed ${SEED}), listed above`);
  } finally {
    await server.cleanup();
  }
});
