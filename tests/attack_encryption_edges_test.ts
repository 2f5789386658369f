/**
 * Encryption at rest attacked at its edges, one probe at a time, against a real server (what
 * the seeded sample of attack_encryption_test.ts does not reach): SSE headers left unsigned,
 * sent twice or with odd case and spacing; encrypted uploads cut off mid-body (plain, UploadPart,
 * POST form, aws-chunked) and encrypted GETs abandoned mid-body; oversized encryption contexts,
 * key ids and Range headers, ranges of empty objects, partNumber GETs; keys and headers named
 * like the server's own files and sealed-key entries; copies of an encrypted object onto itself;
 * conditional reads of an SSE-C object without its key. Every probe must end below 500 (501
 * and 503 allowed), never serve or store what it must not, and afterwards the server is up and
 * every acknowledged object reads back exact.
 */
import { createHash } from "node:crypto";
import { toBase64 } from "../src/bytes.ts";
import { assertEquals } from "./helpers/assert.ts";
import { MiB, patterned } from "./helpers/clients.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { RawClient } from "./http_client.ts";
import { type RawRequest, signRequest, xmlField } from "./s3_raw.ts";
import { postForm } from "./attack_encryption_cases.ts";

const KMS_SECRET_KEY = `test-key:${toBase64(Uint8Array.from({ length: 32 }, (_, i) => i * 3))}`;
const SSE = "x-amz-server-side-encryption";
const CUSTOMER = `${SSE}-customer-`;
const COPY_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-";
const CUSTOMER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 11 + 5) & 0xff);
const OTHER_KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 13 + 9) & 0xff);
const BUCKET = "edges";
const VERSIONED = "edges-versioned";
const INTERNAL = "x-flashstor-internal-sse-";
const VERSIONING = `<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>`;

interface Answer {
  status: number;
  headers: Headers;
  bytes: Uint8Array;
  text: string;
}

const md5Base64 = (data: Uint8Array) => createHash("md5").update(data).digest("base64");

function customer(key: Uint8Array, prefix = CUSTOMER): Record<string, string> {
  return {
    [`${prefix}algorithm`]: "AES256",
    [`${prefix}key`]: toBase64(key),
    [`${prefix}key-md5`]: md5Base64(key),
  };
}

const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((byte, i) => byte === b[i]);

/** A signed request over fetch; `unsigned` headers are added after signing. */
async function s3(
  server: TestServer,
  request: RawRequest,
  unsigned: Record<string, string> = {},
): Promise<Answer> {
  const { target, headers } = signRequest(request, `127.0.0.1:${server.port}`);
  delete headers["host"];
  const response = await fetch(server.endpoint + target, {
    method: request.method,
    headers: { ...headers, ...unsigned },
    body: request.body,
  });
  const bytes = new Uint8Array(await response.arrayBuffer());
  return {
    status: response.status,
    headers: response.headers,
    bytes,
    text: new TextDecoder().decode(bytes),
  };
}

/**
 * A signed request written byte for byte: `lines` replace the signed header of the same name
 * (so a header can be sent twice, or spelled otherwise than it was signed), `body` is sent as
 * given after a Content-Length of `contentLength`; with `cut` the connection is closed right
 * after the body, without waiting for an answer.
 */
async function rawSend(
  server: TestServer,
  request: RawRequest,
  options: { lines?: string[]; replace?: string[]; contentLength?: number; cut?: boolean } = {},
): Promise<{ status: number; headers: Map<string, string>; body: string } | undefined> {
  const host = `127.0.0.1:${server.port}`;
  const body = typeof request.body === "string"
    ? new TextEncoder().encode(request.body)
    : request.body ?? new Uint8Array(0);
  const { target, headers } = signRequest(request, host);
  headers["host"] = host;
  const out = [`${request.method} ${target} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) {
    if (!(options.replace ?? []).includes(name)) out.push(`${name}: ${value}`);
  }
  out.push(...options.lines ?? []);
  out.push(`content-length: ${options.contentLength ?? body.length}`, "connection: close", "", "");
  const client = await RawClient.connect(server.port);
  try {
    await client.send(out.join("\r\n"));
    if (body.length > 0) await client.send(body).catch(() => {});
    if (options.cut) return undefined;
    return await client.response(request.method === "HEAD");
  } finally {
    client.close();
  }
}

/** Starts a GET, reads about `upTo` bytes of its answer and hangs up. */
async function abandonGet(server: TestServer, request: RawRequest, upTo: number): Promise<number> {
  const host = `127.0.0.1:${server.port}`;
  const { target, headers } = signRequest(request, host);
  headers["host"] = host;
  const head = [`GET ${target} HTTP/1.1`, ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)];
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  let got = 0;
  try {
    const text = new TextEncoder().encode(head.join("\r\n") + "\r\n\r\n");
    for (let off = 0; off < text.length;) off += await conn.write(text.subarray(off));
    const buf = new Uint8Array(16 * 1024);
    for (let i = 0; i < 1000 && got < upTo; i++) {
      const n = await conn.read(buf);
      if (n === null) break;
      got += n;
    }
  } finally {
    conn.close();
  }
  return got;
}

Deno.test("attack: SSE edge cases — unsigned, doubled and oversized headers, cut bodies, internal names, self-copies, conditional SSE-C reads", async () => {
  const server = await startServer({
    env: { FLASHSTOR_KMS_SECRET_KEY: KMS_SECRET_KEY, FLASHSTOR_SSE_C_OVER_HTTP: "loopback" },
  });
  const broken: string[] = [];
  /** What every acknowledged object must still read as: key → [read headers, bytes]. */
  const acknowledged = new Map<string, [Record<string, string>, Uint8Array]>();
  const label = (r: RawRequest) =>
    `${r.method} ${r.path}${
      r.query?.length ? "?" + r.query.map((q) => q.join("=")).join("&") : ""
    }`;
  const answerLine = (a: { status: number; text?: string; body?: string }) =>
    `${a.status} ${(a.text ?? a.body ?? "").replace(/\s+/g, " ").slice(0, 300)}`;
  /** Below 500 (501/503 allowed), and no customer key echoed. */
  const seen: string[] = [];
  const sane = (what: string, a: { status: number; text?: string; body?: string }) => {
    seen.push(`${a.status} ${what.slice(0, 120)}`);
    if (a.status >= 500 && a.status !== 501 && a.status !== 503) {
      broken.push(`${what}: a ${answerLine(a)}`);
    }
    const text = a.text ?? a.body ?? "";
    if (text.includes(toBase64(CUSTOMER_KEY)) || text.includes(toBase64(OTHER_KEY))) {
      broken.push(`${what}: a customer key echoed`);
    }
  };
  const expect = async (request: RawRequest, want: (s: number) => boolean, why: string) => {
    const a = await s3(server, request);
    sane(label(request), a);
    if (!want(a.status)) broken.push(`${label(request)} (${why}): got ${answerLine(a)}`);
    return a;
  };
  const put = async (
    key: string,
    body: Uint8Array<ArrayBuffer>,
    headers: Record<string, string> = {},
    read: Record<string, string> = {},
    bucket = BUCKET,
  ) => {
    const a = await expect(
      { method: "PUT", path: `/${bucket}/${key}`, headers, body },
      (s) => s === 200,
      "a well-formed PUT",
    );
    if (a.status === 200 && bucket === BUCKET) acknowledged.set(key, [read, body]);
    return a;
  };
  const get = (key: string, headers: Record<string, string> = {}, bucket = BUCKET) =>
    s3(server, { method: "GET", path: `/${bucket}/${key}`, headers });
  /** The object reads back as `body` (full GET, exact bytes). */
  const intact = async (
    what: string,
    key: string,
    read: Record<string, string>,
    body: Uint8Array,
  ) => {
    const a = await get(key, read);
    if (a.status !== 200 || !same(a.bytes, body)) {
      broken.push(
        `${what}: GET ${key} → ${a.status}, ${a.bytes.length} bytes (want ${body.length} exact)`,
      );
    }
  };
  /** HEAD shows no internal entry, and the SSE mode `mode` (undefined: none). */
  const headShows = async (
    what: string,
    key: string,
    read: Record<string, string>,
    mode?: string,
  ) => {
    const a = await s3(server, { method: "HEAD", path: `/${BUCKET}/${key}`, headers: read });
    const names = [...a.headers.keys()];
    if (names.some((n) => n.includes("flashstor-internal") && !n.startsWith("x-amz-meta-"))) {
      broken.push(`${what}: HEAD ${key} shows internal entries ${names.join(",")}`);
    }
    if (a.status !== 200) broken.push(`${what}: HEAD ${key} → ${a.status}`);
    const shown = a.headers.get(SSE) ??
      (a.headers.get(`${CUSTOMER}algorithm`) ? "SSE-C" : undefined);
    if (shown !== mode) {
      broken.push(`${what}: HEAD ${key} reports encryption ${shown}, want ${mode}`);
    }
  };
  const live = async (what: string) => {
    const r = await fetch(`${server.endpoint}/flashstor/health/live`).catch(() => undefined);
    await r?.body?.cancel();
    if (r?.status !== 200) broken.push(`${what}: server no longer live (${r?.status})`);
    return r?.status === 200;
  };

  try {
    for (const bucket of [BUCKET, VERSIONED]) {
      await expect({ method: "PUT", path: `/${bucket}` }, (s) => s === 200, "create bucket");
    }
    await expect(
      {
        method: "PUT",
        path: `/${VERSIONED}`,
        query: [["versioning", ""]],
        headers: { "content-md5": md5Base64(new TextEncoder().encode(VERSIONING)) },
        body: VERSIONING,
      },
      (s) => s === 200,
      "enable versioning",
    );
    const sseC = customer(CUSTOMER_KEY);
    const small = patterned(100_000, 1);
    const big = patterned(6 * MiB + 13, 2);
    await put("s3.bin", small, { [SSE]: "AES256" });
    await put("c.bin", small, sseC, sseC);
    await put("big-s3.bin", big, { [SSE]: "AES256" });
    await put("big-c.bin", big, sseC, sseC);
    await put("plain.bin", small);
    await put("empty-s3", new Uint8Array(0), { [SSE]: "AES256" });
    await put("empty-c", new Uint8Array(0), sseC, sseC);

    // ---- Unsigned SSE headers: every x-amz-* header must be signed.
    for (
      const [key, extra] of [
        ["unsigned-sse", { [SSE]: "AES256" }],
        ["unsigned-kms", { [SSE]: "aws:kms", [`${SSE}-aws-kms-key-id`]: "test-key" }],
        ["unsigned-c", sseC],
      ] as [string, Record<string, string>][]
    ) {
      const request: RawRequest = { method: "PUT", path: `/${BUCKET}/${key}`, body: small };
      const a = await s3(server, request, extra);
      sane(`PUT ${key} with unsigned SSE headers`, a);
      if (a.status !== 403) {
        broken.push(`PUT ${key} with unsigned SSE headers: want 403, got ${answerLine(a)}`);
      }
      const head = await s3(server, { method: "HEAD", path: `/${BUCKET}/${key}`, headers: extra });
      if (head.status !== 404) {
        broken.push(`${key}: stored after an unsigned PUT (HEAD ${head.status})`);
      }
    }
    {
      const a = await s3(server, { method: "GET", path: `/${BUCKET}/c.bin` }, sseC);
      sane("GET c.bin with unsigned customer key", a);
      if (a.status !== 403) {
        broken.push(`GET c.bin, customer key unsigned: want 403, got ${answerLine(a)}`);
      }
    }

    // ---- The same SSE header twice, and odd case and spacing.
    const doubled: [string, string[], string, boolean][] = [
      // name, lines sent, value signed (as comma-joined), may it succeed
      [SSE, [`${SSE}: AES256`, `${SSE}: aws:kms`], "AES256, aws:kms", false],
      [SSE, [`${SSE}: AES256`, `${SSE}: AES256`], "AES256, AES256", true],
      [
        `${CUSTOMER}key`,
        [`${CUSTOMER}key: ${toBase64(CUSTOMER_KEY)}`, `${CUSTOMER}key: ${toBase64(OTHER_KEY)}`],
        `${toBase64(CUSTOMER_KEY)}, ${toBase64(OTHER_KEY)}`,
        false,
      ],
      [
        `${CUSTOMER}key`,
        [`${CUSTOMER}key: ${toBase64(CUSTOMER_KEY)}`, `${CUSTOMER}key: ${toBase64(CUSTOMER_KEY)}`],
        `${toBase64(CUSTOMER_KEY)}, ${toBase64(CUSTOMER_KEY)}`,
        true,
      ],
    ];
    for (const [i, [name, lines, signedValue, mayWork]] of doubled.entries()) {
      const key = `doubled-${i}`;
      const base = name.startsWith(CUSTOMER) ? { ...sseC } : {};
      const request: RawRequest = {
        method: "PUT",
        path: `/${BUCKET}/${key}`,
        headers: { ...base, [name]: signedValue },
        body: small,
      };
      const a = (await rawSend(server, request, { lines, replace: [name] }))!;
      sane(`PUT ${key} with ${lines.join(" | ")}`, a);
      if (a.status < 300 && !mayWork) {
        broken.push(`PUT ${key} with conflicting ${name} lines accepted: ${answerLine(a)}`);
      }
      if (a.status < 300) {
        const read = name.startsWith(CUSTOMER) ? sseC : {};
        acknowledged.set(key, [read, small]);
        await headShows(
          `doubled ${name}`,
          key,
          read,
          name.startsWith(CUSTOMER) ? "SSE-C" : "AES256",
        );
      }
    }
    for (
      const [i, line, accepted] of [
        [0, `X-AMZ-Server-Side-Encryption:    AES256   `, "AES256"],
        [1, `${SSE}:\tAES256`, "AES256"],
        [2, `${SSE}: aes256`, undefined],
        [3, `${SSE}: AES256 ,`, undefined],
        [4, `${SSE}: AWS:KMS`, undefined],
      ] as [number, string, string | undefined][]
    ) {
      const key = `spelled-${i}`;
      const value = line.slice(line.indexOf(":") + 1).trim();
      const request: RawRequest = {
        method: "PUT",
        path: `/${BUCKET}/${key}`,
        headers: { [SSE]: value },
        body: small,
      };
      const a = (await rawSend(server, request, { lines: [line], replace: [SSE] }))!;
      sane(`PUT ${key} with ${JSON.stringify(line)}`, a);
      if (accepted && a.status !== 200) {
        broken.push(`PUT with ${JSON.stringify(line)}: want 200, got ${answerLine(a)}`);
      }
      if (!accepted && a.status < 300) {
        // Accepted anyway: it must then be stored as a mode HEAD names.
        const head = await s3(server, { method: "HEAD", path: `/${BUCKET}/${key}` });
        broken.push(
          `PUT with ${JSON.stringify(line)} accepted (AWS: 400 InvalidArgument); HEAD says ${
            head.headers.get(SSE)
          }`,
        );
      }
      if (a.status === 200) {
        acknowledged.set(key, [{}, small]);
        await headShows(`spelled ${JSON.stringify(line)}`, key, {}, "AES256");
      }
    }

    // ---- Bodies cut off mid-way: nothing half-stored, the previous version intact.
    await put("victim", small, { [SSE]: "AES256" });
    await put("victim-c", small, sseC, sseC);
    const half = patterned(150_000, 3);
    for (
      const [key, headers, read] of [
        ["victim", { [SSE]: "AES256" }, {}],
        ["victim", { [SSE]: "aws:kms" }, {}],
        ["victim-c", sseC, sseC],
        ["fresh-cut", { [SSE]: "AES256" }, {}],
      ] as [string, Record<string, string>, Record<string, string>][]
    ) {
      const request: RawRequest = { method: "PUT", path: `/${BUCKET}/${key}`, headers, body: half };
      await rawSend(server, request, { contentLength: 400_000, cut: true });
      await live(`PUT ${key} cut after 150000 of 400000 bytes`);
      if (key === "fresh-cut") {
        const head = await s3(server, { method: "HEAD", path: `/${BUCKET}/${key}` });
        if (head.status !== 404) broken.push(`a cut PUT left ${key} visible (HEAD ${head.status})`);
      } else await intact(`after a cut PUT of ${key}`, key, read, small);
    }
    // Large bodies are sealed on the cipher thread in 1 MiB batches: four cut at once after
    // two batches went there, then a whole one through the same thread reads back exact.
    const bigHalf = patterned(2 * MiB + 300_000, 6);
    await Promise.all(
      ([
        ["victim", { [SSE]: "AES256" }],
        ["victim-c", sseC],
        ["fresh-cut-big", { [SSE]: "AES256" }],
        ["fresh-cut-big-kms", { [SSE]: "aws:kms" }],
      ] as [string, Record<string, string>][]).map(([key, headers]) =>
        rawSend(server, { method: "PUT", path: `/${BUCKET}/${key}`, headers, body: bigHalf }, {
          contentLength: 4 * MiB,
          cut: true,
        })
      ),
    );
    await live("large SSE PUTs cut after 2.3 of 4 MiB");
    await intact("after a cut large PUT", "victim", {}, small);
    await intact("after a cut large PUT", "victim-c", sseC, small);
    for (const key of ["fresh-cut-big", "fresh-cut-big-kms"]) {
      const head = await s3(server, { method: "HEAD", path: `/${BUCKET}/${key}` });
      if (head.status !== 404) broken.push(`a cut large PUT left ${key} visible (${head.status})`);
    }
    await put("after-cuts", bigHalf, { [SSE]: "AES256" });
    await intact("a large SSE-S3 PUT after the cut ones", "after-cuts", {}, bigHalf);
    {
      // aws-chunked (unsigned payload with trailer) cut inside its second chunk.
      const chunk = patterned(64 * 1024, 4);
      const body = new Uint8Array([
        ...new TextEncoder().encode(`10000\r\n`),
        ...chunk,
        ...new TextEncoder().encode(`\r\n10000\r\n`),
        ...chunk.subarray(0, 1000),
      ]);
      const request: RawRequest = {
        method: "PUT",
        path: `/${BUCKET}/victim`,
        headers: {
          [SSE]: "AES256",
          "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
          "content-encoding": "aws-chunked",
          "x-amz-decoded-content-length": String(3 * 64 * 1024),
          "x-amz-trailer": "x-amz-checksum-crc32",
        },
        body,
      };
      await rawSend(server, request, { contentLength: body.length + 70_000, cut: true });
      await live("aws-chunked PUT cut mid-chunk");
      await intact("after a cut aws-chunked PUT", "victim", {}, small);
    }
    {
      // UploadPart cut mid-body: the part must not be listed, and the upload completes without it.
      const created = await expect(
        { method: "POST", path: `/${BUCKET}/mp-cut`, query: [["uploads", ""]], headers: sseC },
        (s) => s === 200,
        "CreateMultipartUpload SSE-C",
      );
      const id = xmlField(created.text, "UploadId")!;
      const part1 = patterned(5 * MiB, 5);
      const p1 = await expect(
        {
          method: "PUT",
          path: `/${BUCKET}/mp-cut`,
          query: [["partNumber", "1"], ["uploadId", id]],
          headers: sseC,
          body: part1,
        },
        (s) => s === 200,
        "UploadPart 1",
      );
      const request: RawRequest = {
        method: "PUT",
        path: `/${BUCKET}/mp-cut`,
        query: [["partNumber", "2"], ["uploadId", id]],
        headers: sseC,
        body: half,
      };
      await rawSend(server, request, { contentLength: 1_000_000, cut: true });
      await live("UploadPart cut mid-body");
      const listed = await s3(server, {
        method: "GET",
        path: `/${BUCKET}/mp-cut`,
        query: [["uploadId", id]],
      });
      if (listed.text.includes("<PartNumber>2</PartNumber>")) {
        broken.push(`a cut UploadPart 2 is listed: ${answerLine(listed)}`);
      }
      const done = await expect(
        {
          method: "POST",
          path: `/${BUCKET}/mp-cut`,
          query: [["uploadId", id]],
          body: `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${
            p1.headers.get("etag")
          }</ETag></Part></CompleteMultipartUpload>`,
        },
        (s) => s === 200,
        "complete with part 1 only",
      );
      if (done.status === 200) {
        acknowledged.set("mp-cut", [sseC, part1]);
        await intact("after a cut UploadPart", "mp-cut", sseC, part1);
      }
    }
    {
      // A POST form upload cut mid-file; victim-post never existed.
      const form = postForm(BUCKET, [[SSE, "AES256"]], patterned(300_000, 6));
      const conn = await RawClient.connect(server.port);
      await conn.send(
        `POST /${BUCKET} HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\ncontent-type: ${form.contentType}\r\n` +
          `content-length: ${form.body.length}\r\n\r\n`,
      );
      await conn.send(form.body.subarray(0, 200_000)).catch(() => {});
      conn.close();
      await live("POST form cut mid-file");
      const head = await s3(server, { method: "HEAD", path: `/${BUCKET}/victim-post` });
      if (head.status !== 404) {
        broken.push(`a cut POST form left victim-post (HEAD ${head.status})`);
      }
    }

    // ---- Encrypted GETs abandoned mid-body.
    for (
      const [key, read, range] of [
        ["big-s3.bin", {}, undefined],
        ["big-c.bin", sseC, undefined],
        ["big-s3.bin", {}, "bytes=100000-5000000"],
        ["big-c.bin", sseC, "bytes=-4000000"],
      ] as [string, Record<string, string>, string | undefined][]
    ) {
      for (const upTo of [100, 300_000]) {
        await abandonGet(server, {
          method: "GET",
          path: `/${BUCKET}/${key}`,
          headers: { ...read, ...(range ? { range } : {}) },
        }, upTo);
      }
      await live(`GET ${key} ${range ?? ""} abandoned`);
    }
    await intact("after abandoned GETs", "big-s3.bin", {}, big);
    await intact("after abandoned GETs", "big-c.bin", sseC, big);

    // ---- Oversized inputs.
    const bigContext = toBase64(
      new TextEncoder().encode(JSON.stringify({ k: "v".repeat(45_000) })),
    );
    for (
      const [what, headers] of [
        ["a 60 KB encryption context", { [SSE]: "aws:kms", [`${SSE}-context`]: bigContext }],
        ["a 100 KB key id", { [SSE]: "aws:kms", [`${SSE}-aws-kms-key-id`]: "k".repeat(100_000) }],
        ["a 60 KB key id", { [SSE]: "aws:kms", [`${SSE}-aws-kms-key-id`]: "k".repeat(60_000) }],
      ] as [string, Record<string, string>][]
    ) {
      const request: RawRequest = {
        method: "PUT",
        path: `/${BUCKET}/oversized`,
        headers,
        body: small,
      };
      const a = await s3(server, request).catch((e) => ({ status: 0, text: String(e) }) as Answer);
      sane(`PUT with ${what}`, a);
      // An encryption context is stored with the object: past KMS's 8 KiB it is refused.
      if (what.includes("context") && a.status !== 400) {
        broken.push(`PUT with ${what}: ${a.status}, expected 400`);
      }
      if (a.status === 200) acknowledged.set("oversized", [{}, small]);
      if (a.status === 0) broken.push(`PUT with ${what}: no answer (${a.text})`);
      await live(`PUT with ${what}`);
    }
    {
      const many = Array.from({ length: 10_000 }, (_, i) => `${i * 3}-${i * 3}`).join(",");
      const few = Array.from({ length: 4000 }, (_, i) => `${i * 7}-${i * 7 + 1}`).join(",");
      for (
        const [what, range] of [["10,000 ranges", `bytes=${many}`], [
          "4,000 ranges",
          `bytes=${few}`,
        ]]
      ) {
        for (
          const [key, read] of [["big-s3.bin", {}], ["big-c.bin", sseC]] as [
            string,
            Record<string, string>,
          ][]
        ) {
          const a = await s3(server, {
            method: "GET",
            path: `/${BUCKET}/${key}`,
            headers: { ...read, range },
          })
            .catch((e) => ({
              status: 0,
              text: String(e),
              bytes: new Uint8Array(),
              headers: new Headers(),
            }));
          sane(`GET ${key} with ${what}`, a);
          if (a.status === 200 && !same(a.bytes, big)) {
            broken.push(`GET ${key} with ${what}: 200 with wrong bytes`);
          }
          if (a.status === 206) {
            broken.push(
              `GET ${key} with ${what}: 206 ${
                a.headers.get("content-range")
              } (multi-range served as one?)`,
            );
          }
        }
      }
    }
    for (
      const [key, read] of [["empty-s3", {}], ["empty-c", sseC]] as [
        string,
        Record<string, string>,
      ][]
    ) {
      for (const range of ["bytes=0-", "bytes=-1", "bytes=0-0"]) {
        const a = await s3(server, {
          method: "GET",
          path: `/${BUCKET}/${key}`,
          headers: { ...read, range },
        });
        sane(`GET ${key} ${range}`, a);
        // AWS: 416 InvalidRange for any range of an empty object (some servers answer 200, empty).
        if (!(a.status === 416 || (a.status === 200 && a.bytes.length === 0))) {
          broken.push(`GET ${key} ${range}: want 416 (or 200 empty), got ${answerLine(a)}`);
        }
      }
    }
    for (
      const [key, read] of [["s3.bin", {}], ["c.bin", sseC]] as [string, Record<string, string>][]
    ) {
      for (const range of ["bytes=-100001", "bytes=-99999999999", "bytes=99990-99999999"]) {
        const a = await s3(server, {
          method: "GET",
          path: `/${BUCKET}/${key}`,
          headers: { ...read, range },
        });
        sane(`GET ${key} ${range}`, a);
        const from = range === "bytes=99990-99999999" ? 99_990 : 0;
        if (
          a.status !== 206 || !same(a.bytes, small.subarray(from)) ||
          a.headers.get("content-range") !== `bytes ${from}-99999/100000`
        ) {
          broken.push(
            `GET ${key} ${range}: want 206 bytes ${from}-99999/100000, got ${a.status} ${
              a.headers.get("content-range")
            } ${a.bytes.length} bytes`,
          );
        }
      }
    }

    // ---- partNumber GETs of an encrypted multipart object.
    const partSizes = [5 * MiB, 5 * MiB + 1, 70_000];
    const parts = partSizes.map((n, i) => patterned(n, 10 + i));
    for (
      const [key, headers, read] of [
        ["mp-c", sseC, sseC],
        ["mp-kms", { [SSE]: "aws:kms" }, {}],
      ] as [string, Record<string, string>, Record<string, string>][]
    ) {
      const created = await expect(
        { method: "POST", path: `/${BUCKET}/${key}`, query: [["uploads", ""]], headers },
        (s) => s === 200,
        "CreateMultipartUpload",
      );
      const id = xmlField(created.text, "UploadId")!;
      const etags: string[] = [];
      for (const [i, body] of parts.entries()) {
        const p = await expect(
          {
            method: "PUT",
            path: `/${BUCKET}/${key}`,
            query: [["partNumber", `${i + 1}`], ["uploadId", id]],
            headers: read,
            body,
          },
          (s) => s === 200,
          "UploadPart",
        );
        etags.push(p.headers.get("etag")!);
      }
      await expect(
        {
          method: "POST",
          path: `/${BUCKET}/${key}`,
          query: [["uploadId", id]],
          body: `<CompleteMultipartUpload>${
            etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`)
              .join("")
          }</CompleteMultipartUpload>`,
        },
        (s) => s === 200,
        "CompleteMultipartUpload",
      );
      const whole = new Uint8Array(partSizes.reduce((a, b) => a + b));
      parts.reduce((at, p) => (whole.set(p, at), at + p.length), 0);
      acknowledged.set(key, [read, whole]);
      let at = 0;
      for (const [i, body] of parts.entries()) {
        const a = await s3(server, {
          method: "GET",
          path: `/${BUCKET}/${key}`,
          query: [["partNumber", `${i + 1}`]],
          headers: read,
        });
        const want = `bytes ${at}-${at + body.length - 1}/${whole.length}`;
        if (
          a.status !== 206 || !same(a.bytes, body) || a.headers.get("content-range") !== want ||
          a.headers.get("x-amz-mp-parts-count") !== "3"
        ) {
          broken.push(
            `GET ${key}?partNumber=${i + 1}: want 206 ${want} parts-count 3, got ${a.status} ${
              a.headers.get("content-range")
            } ${a.headers.get("x-amz-mp-parts-count")} ${a.bytes.length} bytes ${
              a.status >= 300 ? a.text.slice(0, 200) : ""
            }`,
          );
        }
        const h = await s3(server, {
          method: "HEAD",
          path: `/${BUCKET}/${key}`,
          query: [["partNumber", `${i + 1}`]],
          headers: read,
        });
        if (h.status !== 206 || h.headers.get("content-length") !== String(body.length)) {
          broken.push(
            `HEAD ${key}?partNumber=${i + 1}: want 206 length ${body.length}, got ${h.status} ${
              h.headers.get("content-length")
            }`,
          );
        }
        at += body.length;
      }
      for (const n of ["4", "10000", "10001", "0", "-1", "1x"]) {
        const a = await s3(server, {
          method: "GET",
          path: `/${BUCKET}/${key}`,
          query: [["partNumber", n]],
          headers: read,
        });
        sane(`GET ${key}?partNumber=${n}`, a);
        if (a.status < 400) {
          broken.push(
            `GET ${key}?partNumber=${n}: want 4xx, got ${a.status} (${a.bytes.length} bytes)`,
          );
        }
      }
      const noKey = await s3(server, {
        method: "GET",
        path: `/${BUCKET}/${key}`,
        query: [["partNumber", "1"]],
      });
      if (key === "mp-c" && noKey.status < 300) {
        broken.push(`GET mp-c?partNumber=1 without its key served ${noKey.bytes.length} bytes`);
      }
    }

    // ---- Names and headers colliding with the server's own files and sealed entries.
    for (
      const key of [
        "xl.meta",
        "dir/xl.meta",
        ".flashstor.sys/config/iam.json",
        "a/part.1",
        ".flashstor.sys",
      ]
    ) {
      const a = await s3(server, {
        method: "PUT",
        path: `/${BUCKET}/${key}`,
        headers: { [SSE]: "AES256" },
        body: small,
      });
      sane(`PUT ${key}`, a);
      if (a.status === 200) {
        acknowledged.set(key, [{}, small]);
        await intact(`key ${key}`, key, {}, small);
        await headShows(`key ${key}`, key, {}, "AES256");
      } else if (a.status !== 400) {
        broken.push(`PUT ${key}: want 200 or a 400, got ${answerLine(a)}`);
      }
    }
    const forged = {
      [`${INTERNAL}mode`]: "SSE-C",
      [`${INTERNAL}iv`]: toBase64(new Uint8Array(32)),
      [`${INTERNAL}sealed-key`]: toBase64(new Uint8Array(64)),
      [`x-amz-meta-${INTERNAL}mode`]: "SSE-S3",
    };
    await put("forged-plain", small, forged, {});
    await intact("plain PUT with forged internal headers", "forged-plain", {}, small);
    await headShows("plain PUT with forged internal headers", "forged-plain", {}, undefined);
    await put("forged-s3", small, { ...forged, [SSE]: "AES256" }, {});
    await intact("SSE-S3 PUT with forged internal headers", "forged-s3", {}, small);
    await headShows("SSE-S3 PUT with forged internal headers", "forged-s3", {}, "AES256");
    await put("forged-c", small, { ...forged, [`${INTERNAL}mode`]: "SSE-S3", ...sseC }, sseC);
    await intact("SSE-C PUT with forged internal headers", "forged-c", sseC, small);
    {
      const noKey = await get("forged-c");
      if (noKey.status < 300) broken.push(`forged-c served without its key (${noKey.status})`);
    }
    for (
      const [target, extra, read, mode] of [
        ["forged-copy-plain", {}, {}, undefined],
        ["forged-copy-s3", { [SSE]: "AES256" }, {}, "AES256"],
        ["forged-copy-c", sseC, sseC, "SSE-C"],
      ] as [string, Record<string, string>, Record<string, string>, string | undefined][]
    ) {
      const a = await expect(
        {
          method: "PUT",
          path: `/${BUCKET}/${target}`,
          headers: {
            ...forged,
            ...extra,
            ...customer(CUSTOMER_KEY, COPY_CUSTOMER),
            "x-amz-copy-source": `/${BUCKET}/c.bin`,
            "x-amz-metadata-directive": "REPLACE",
          },
        },
        (s) => s === 200,
        "CopyObject REPLACE with forged internal headers",
      );
      if (a.status === 200) {
        acknowledged.set(target, [read, small]);
        await intact("CopyObject REPLACE with forged headers", target, read, small);
        await headShows("CopyObject REPLACE with forged headers", target, read, mode);
      }
    }

    // ---- CopyObject of an encrypted object onto itself.
    await put("self-s3", small, { [SSE]: "AES256" });
    await put("self-c", small, sseC, sseC);
    const selfCopy = async (
      key: string,
      headers: Record<string, string>,
      want: number,
      read: Record<string, string>,
    ) => {
      const a = await expect(
        {
          method: "PUT",
          path: `/${BUCKET}/${key}`,
          headers: { "x-amz-copy-source": `/${BUCKET}/${key}`, ...headers },
        },
        (s) => s === want,
        `self-copy with ${Object.keys(headers).join(",") || "no headers"} (AWS: ${want})`,
      );
      if (a.status === 200) acknowledged.set(key, [read, small]);
      await intact(
        `after self-copy of ${key} (${a.status})`,
        key,
        a.status === 200 ? read : acknowledged.get(key)![0],
        small,
      );
    };
    await selfCopy("self-s3", {}, 400, {});
    await selfCopy("self-s3", { [SSE]: "AES256" }, 200, {});
    await selfCopy("self-s3", { [SSE]: "aws:kms" }, 200, {});
    await selfCopy(
      "self-s3",
      { "x-amz-metadata-directive": "REPLACE", "x-amz-meta-a": "b" },
      200,
      {},
    );
    await selfCopy("self-c", {}, 400, sseC);
    await selfCopy("self-c", customer(CUSTOMER_KEY, COPY_CUSTOMER), 400, sseC);
    await selfCopy("self-c", { ...customer(CUSTOMER_KEY, COPY_CUSTOMER), ...sseC }, 200, sseC);
    await selfCopy(
      "self-c",
      { ...customer(CUSTOMER_KEY, COPY_CUSTOMER), ...customer(OTHER_KEY) },
      200,
      customer(OTHER_KEY),
    );
    {
      const old = await get("self-c", sseC);
      if (old.status < 300) {
        broken.push("self-c still reads with its old key after a key-changing self-copy");
      }
    }
    await selfCopy("self-c", { ...customer(OTHER_KEY, COPY_CUSTOMER), [SSE]: "AES256" }, 200, {});
    {
      const v1 = patterned(70_000, 20);
      const v2 = patterned(80_000, 21);
      const p1 = await put("ver", v1, sseC, sseC, VERSIONED);
      await put("ver", v2, { [SSE]: "AES256" }, {}, VERSIONED);
      const vid = p1.headers.get("x-amz-version-id")!;
      const a = await expect(
        {
          method: "PUT",
          path: `/${VERSIONED}/ver`,
          headers: {
            "x-amz-copy-source": `/${VERSIONED}/ver?versionId=${vid}`,
            ...customer(CUSTOMER_KEY, COPY_CUSTOMER),
            [SSE]: "aws:kms",
          },
        },
        (s) => s === 200,
        "copy an old SSE-C version onto its own key as SSE-KMS",
      );
      const now = await get("ver", {}, VERSIONED);
      if (a.status === 200 && (now.status !== 200 || !same(now.bytes, v1))) {
        broken.push(
          `after copying version ${vid} onto ver: GET → ${now.status}, ${now.bytes.length} bytes`,
        );
      }
      const noKey = await expect(
        {
          method: "PUT",
          path: `/${VERSIONED}/ver`,
          headers: { "x-amz-copy-source": `/${VERSIONED}/ver?versionId=${vid}` },
        },
        (s) => s === 400,
        "copy of an SSE-C version without the source key",
      );
      void noKey;
      const old = await s3(server, {
        method: "GET",
        path: `/${VERSIONED}/ver`,
        query: [["versionId", vid]],
        headers: sseC,
      });
      if (old.status !== 200 || !same(old.bytes, v1)) {
        broken.push(`version ${vid} no longer reads: ${old.status}`);
      }
    }

    // ---- Conditional reads of an SSE-C object without its key: the key is checked first
    // (AWS answers 400 for a missing key before evaluating preconditions), never bytes.
    {
      const head = await s3(server, { method: "HEAD", path: `/${BUCKET}/c.bin`, headers: sseC });
      const etag = head.headers.get("etag")!;
      const later = new Date(Date.now() + 86_400_000).toUTCString();
      for (
        const [name, value] of [
          ["if-match", etag],
          ["if-match", '"0000"'],
          ["if-none-match", etag],
          ["if-none-match", '"0000"'],
          ["if-modified-since", later],
          ["if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT"],
        ]
      ) {
        for (const method of ["GET", "HEAD"]) {
          const a = await s3(server, {
            method,
            path: `/${BUCKET}/c.bin`,
            headers: { [name]: value },
          });
          sane(`${method} c.bin ${name}: ${value} without key`, a);
          if (a.status < 300) {
            broken.push(
              `${method} c.bin ${name}: ${value} without its key: ${a.status} (${a.bytes.length} bytes)`,
            );
          }
          if (a.status !== 400) {
            console.log(`note: ${method} c.bin ${name} without key → ${a.status} (AWS: 400)`);
          }
          const wrong = await s3(server, {
            method,
            path: `/${BUCKET}/c.bin`,
            headers: { [name]: value, ...customer(OTHER_KEY) },
          });
          sane(`${method} c.bin ${name} wrong key`, wrong);
          if (wrong.status < 300) {
            broken.push(`${method} c.bin ${name}: ${value} with a wrong key: ${wrong.status}`);
          }
        }
      }
    }

    // ---- Afterwards: up, nothing escaped a request, every acknowledged object exact.
    await live("at the end");
    if (/Uncaught|unhandled|panicked/i.test(server.output())) {
      broken.push(`an error escaped a request:\n${server.output().slice(-3000)}`);
    }
    for (const [key, [read, body]] of acknowledged) await intact("at the end", key, read, body);
  } finally {
    console.log(`answers:\n${seen.join("\n")}`);
    for (const line of broken) console.log(`VIOLATION ${line}`);
    if (broken.length > 0) console.log(`server output (end):\n${server.output().slice(-4000)}`);
    await server.cleanup();
  }
  assertEquals(broken, []);
});
