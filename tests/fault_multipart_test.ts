/**
 * Multipart uploads under faults, end to end: parts stored while a drive loses the upload's
 * files or a part's shard rots before CompleteMultipartUpload, and a server SIGKILLed in the
 * middle of an UploadPart. The completed object reads back exactly and gets healed.
 */

import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { serving, startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  expectAll,
  type Expected,
  loseBucket,
  metaPath,
  MiB,
  multipartEtag,
  parseMeta,
  pattern,
  readOrUndefined,
  slowPut,
  unquote,
  waitUntil,
} from "./fault_util.ts";

const BUCKET = "uploads";
const KEY = "big/upload";
const FRAME = 8 + 512 * 1024;

async function withServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  await serving(await startServer(), async (server) => {
    await client(server).send(new CreateBucketCommand({ Bucket: BUCKET }));
    await fn(server);
  });
}

function partsOf(seed: number): Uint8Array[] {
  return [pattern(5 * MiB, seed), pattern(5 * MiB + 1, seed + 1), pattern(2 * MiB + 3, seed + 2)];
}

function joined(parts: Uint8Array[]): Expected {
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
  return { bytes, etag: multipartEtag(parts) };
}

async function uploadParts(s3: S3Client, parts: Uint8Array[]): Promise<string> {
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: KEY }),
  );
  for (const [i, body] of parts.entries()) {
    await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: KEY, UploadId, PartNumber: i + 1, Body: body }),
    );
  }
  return UploadId!;
}

async function complete(s3: S3Client, uploadId: string, parts: Uint8Array[]): Promise<string> {
  const listed = await s3.send(
    new ListPartsCommand({ Bucket: BUCKET, Key: KEY, UploadId: uploadId }),
  );
  assertEquals(listed.Parts?.map((p) => p.PartNumber), parts.map((_, i) => i + 1), "parts listed");
  const out = await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: BUCKET,
      Key: KEY,
      UploadId: uploadId,
      MultipartUpload: {
        Parts: listed.Parts!.map((p) => ({ PartNumber: p.PartNumber, ETag: p.ETag })),
      },
    }),
  );
  return unquote(out.ETag);
}

/** Every file named `name` under `dir`, recursively. */
async function findFiles(dir: string, name: string): Promise<string[]> {
  const found: string[] = [];
  const visit = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await visit(`${d}/${e.name}`);
      else if (e.name === name) found.push(`${d}/${e.name}`);
    }
  };
  await visit(dir);
  return found;
}

/** Reads until every drive holds its shards of KEY again, then reads with only `keep` left. */
async function expectHealedOnto(server: TestServer, want: Expected, drives: string[]) {
  const s3 = client(server);
  const objects = new Map([[KEY, want]]);
  await waitUntil(`${KEY} healed onto ${drives.join(", ")}`, async () => {
    await expectAll(s3, BUCKET, objects);
    for (const d of drives) {
      const raw = await readOrUndefined(metaPath(d, BUCKET, KEY));
      if (!raw) return false;
      const { version } = parseMeta(raw);
      if (version.etag !== want.etag) return false;
      for (const part of version.parts) {
        const file = `${d}/${BUCKET}/${KEY}/${version.dataDir}/part.${part.number}`;
        const bytes = await readOrUndefined(file);
        const blocks = Math.ceil(part.size / MiB);
        const full = Math.floor(part.size / MiB);
        const expected = full * FRAME + (blocks - full) * (8 + Math.ceil((part.size % MiB) / 2));
        if (bytes?.byteLength !== expected) return false;
      }
    }
    return true;
  }, 30_000);
  for (const d of server.drives.filter((d) => !drives.includes(d)).slice(0, 2)) {
    await loseBucket(d, BUCKET);
  }
  await expectAll(s3, BUCKET, objects);
}

Deno.test("fault: a drive loses the upload's files before Complete → the object is whole and healed", async () => {
  await withServer(async (server) => {
    const s3 = client(server);
    const parts = partsOf(10);
    const uploadId = await uploadParts(s3, parts);
    const d2 = server.drives[1];
    await Deno.remove(`${d2}/.flashstor.sys/multipart`, { recursive: true });
    const want = joined(parts);
    assertEquals(await complete(s3, uploadId, parts), want.etag, "ETag of Complete");
    await expectHealedOnto(server, want, [d2]);
  });
});

Deno.test("fault: a part's shard rots before Complete → exact reads, the shard is rewritten", async () => {
  await withServer(async (server) => {
    const s3 = client(server);
    const parts = partsOf(20);
    const uploadId = await uploadParts(s3, parts);
    const [d1] = server.drives;
    const shards = await findFiles(`${d1}/.flashstor.sys/multipart`, "part.2");
    assertEquals(shards.length, 1, "d1 holds one shard of part 2");
    const bytes = await Deno.readFile(shards[0]);
    bytes[8 + 1234] ^= 0xff;
    bytes[3 * FRAME + 99] ^= 0xff;
    await Deno.writeFile(shards[0], bytes);
    const want = joined(parts);
    assertEquals(await complete(s3, uploadId, parts), want.etag, "ETag of Complete");
    // Whether d1's shard of part 2 is a data shard or parity, losing two other drives needs it.
    await expectHealedOnto(server, want, [d1]);
    const version = parseMeta(await Deno.readFile(metaPath(d1, BUCKET, KEY))).version;
    const healed = await Deno.readFile(`${d1}/${BUCKET}/${KEY}/${version.dataDir}/part.2`);
    assert(healed[8 + 1234] !== bytes[8 + 1234], "the rotten byte was rewritten");
  });
});

Deno.test("fault: SIGKILL during an UploadPart → after the restart the upload resumes and completes exactly", async () => {
  const first = await startServer();
  let server = first;
  try {
    let s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const parts = [pattern(5 * MiB, 30), pattern(40 * MiB, 31), pattern(MiB, 32)];
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: KEY }),
    );
    await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: KEY, UploadId, PartNumber: 1, Body: parts[0] }),
    );
    // A slow body: the server is killed while part 2 streams in.
    const progress = { sent: 0 };
    const query: [string, string][] = [["partNumber", "2"], ["uploadId", UploadId!]];
    // Settled at once: the connection may break while the test is still killing the server.
    const cut = slowPut(server, `/${BUCKET}/${KEY}`, query, parts[1], progress)
      .then((status) => `answered ${status}`, () => "no answer");
    for (let i = 0; i < 500 && progress.sent < 10 * MiB; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await server.kill();
    assertEquals(await cut, "no answer", "the interrupted UploadPart");
    assert(progress.sent < parts[1].byteLength, "killed mid-part");

    server = await startServer({ dir: first.dir });
    s3 = client(server);
    for (const d of server.drives) {
      assertEquals([...Deno.readDirSync(`${d}/.flashstor.sys/tmp`)], [], `temp area of ${d}`);
    }
    const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: KEY, UploadId }));
    const numbers = listed.Parts?.map((p) => p.PartNumber) ?? [];
    assertEquals(numbers, [1], "only the acknowledged part is listed");
    for (const n of [2, 3]) {
      await s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: KEY,
          UploadId,
          PartNumber: n,
          Body: parts[n - 1],
        }),
      );
    }
    const want = joined(parts);
    assertEquals(await complete(s3, UploadId!, parts), want.etag, "ETag of Complete");
    await expectAll(s3, BUCKET, new Map([[KEY, want]]));
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.kill();
    await Deno.remove(first.dir, { recursive: true });
  }
});
