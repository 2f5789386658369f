/**
 * Encryption at rest under faults, end to end on the real server: a flipped ciphertext byte is
 * healed from parity; with parity gone the GET fails cleanly; ciphertext altered together with
 * its bitrot checksum and parity (so only the authenticated encryption can notice) is refused,
 * never returned; master-key rotation re-wraps the sealed keys and leaves the data as it was; a
 * restart without FLASHSTOR_KMS_SECRET_KEY refuses SSE-S3/SSE-KMS clearly and serves everything
 * else; a SIGKILL during SSE-S3 PUTs loses no acknowledged object.
 */

import { CreateBucketCommand, GetObjectCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertNotEquals } from "./helpers/assert.ts";
import { serving, type TestServer } from "./helpers/server.ts";
import { signedFetch } from "./s3_raw.ts";
import { BLOCK_SIZE, CHECKSUM_SIZE, ErasureCodec } from "../src/erasure/codec.ts";
import { readSealed } from "../src/crypto/sealed-metadata.ts";
import type { MasterKeyStatus } from "../src/kms/key-service.ts";
import type { RewrapProgress } from "../src/kms/rewrap.ts";
import {
  client,
  equalBytes,
  type Expected,
  expectExact,
  failure,
  md5,
  metaPath,
  MiB,
  partPath,
  pattern,
  resealMeta,
  restored,
  snapshot,
  waitUntil,
} from "./fault_util.ts";
import {
  alterConsistently,
  assertRefusedCleanly,
  editStripe,
  flipByte,
  getAs,
  getAsFarAsItGoes,
  isData,
  type Mode,
  putAs,
  putMultipartAs,
  type Shard,
  shardsOf,
  startSseServer,
} from "./sse_fault_util.ts";

const BUCKET = "ssefault";
/** Plaintext bytes of one package of the encrypted format. */
const PACKAGE = 64 * 1024;
/** A shard file's frame of stripe 1 (2 data shards: 8-byte checksum + 512 KiB). */
const STRIPE_1 = new ErasureCodec(2, 2).frameOffset(1);

async function withSseServer(fn: (server: TestServer) => Promise<void>): Promise<void> {
  await serving(await startSseServer(), async (server) => {
    await client(server).send(new CreateBucketCommand({ Bucket: BUCKET }));
    await fn(server);
  });
}

/** PUTs `bytes` in `mode` and returns what a read must give. */
async function write(server: TestServer, key: string, bytes: Uint8Array, mode: Mode) {
  return { bytes, etag: await putAs(client(server), BUCKET, key, bytes, mode) };
}

async function expectAlive(server: TestServer, key: string, want: Expected): Promise<void> {
  const live = await fetch(`${server.endpoint}/flashstor/health/live`);
  await live.body?.cancel();
  assertEquals(live.status, 200, "the server is alive");
  await expectExact(client(server), BUCKET, key, want);
}

Deno.test("sse fault: a flipped ciphertext byte in a data shard (part file, inline) → exact GET, the shard healed", async () => {
  await withSseServer(async (server) => {
    const s3 = client(server);
    const objects = new Map<string, Expected>([
      ["big", await write(server, "big", pattern(3 * MiB + 5, 1), "SSE-S3")],
      ["small", await write(server, "small", pattern(1000, 2), "SSE-S3")],
    ]);
    const big = (await shardsOf(server.drives, BUCKET, "big")).filter(isData);
    const small = (await shardsOf(server.drives, BUCKET, "small")).filter(isData);
    assert(small[0].version.inlineLength > 0, "small is stored inline");
    const damaged = [big[0].drive, small[1].drive];
    const before = new Map(
      await Promise.all(damaged.map(async (d) => [d, await snapshot(`${d}/${BUCKET}`)] as const)),
    );
    await flipByte(await partPath(big[0].drive, BUCKET, "big"), STRIPE_1 + CHECKSUM_SIZE + 777);
    // Inline: xl.meta resealed, so only the shard's own bitrot checksum can tell.
    const meta = metaPath(small[1].drive, BUCKET, "small");
    const bytes = await Deno.readFile(meta);
    bytes[small[1].inlineStart + CHECKSUM_SIZE + 10] ^= 0x5a;
    resealMeta(bytes);
    await Deno.writeFile(meta, bytes);
    for (const [drive, files] of before) {
      assert(!await restored(`${drive}/${BUCKET}`, files), `${drive} is damaged to begin with`);
    }
    await waitUntil("the damaged shards rewritten", async () => {
      for (const [key, want] of objects) await expectExact(s3, BUCKET, key, want);
      for (const [drive, files] of before) {
        if (!await restored(`${drive}/${BUCKET}`, files)) return false;
      }
      return true;
    });
  });
});

Deno.test("sse fault: parity shards gone and a data shard flipped → an S3 error or a cut-off body, never wrong bytes; the server lives", async () => {
  await withSseServer(async (server) => {
    const intact = await write(server, "intact", pattern(2 * MiB, 10), "SSE-S3");
    const cases: [string, number][] = [["first-stripe", CHECKSUM_SIZE + 4321], [
      "second-stripe",
      STRIPE_1 + CHECKSUM_SIZE + 4321,
    ]];
    const objects = new Map<string, Uint8Array>();
    for (const [i, [key]] of cases.entries()) {
      objects.set(key, (await write(server, key, pattern(3 * MiB + 1, 11 + i), "SSE-S3")).bytes);
    }
    for (const [key, offset] of cases) {
      const shards = await shardsOf(server.drives, BUCKET, key);
      for (const parity of shards.filter((s) => !isData(s))) {
        await Deno.remove(await partPath(parity.drive, BUCKET, key));
      }
      await flipByte(await partPath(shards[0].drive, BUCKET, key), offset);
    }
    for (const [key] of cases) {
      const got = await getAsFarAsItGoes(server, BUCKET, key, "SSE-S3");
      assertRefusedCleanly(got, objects.get(key)!, key);
      if (key === "first-stripe") {
        assertEquals(got.status, 503, "unreadable before the first byte: ServiceUnavailable");
      }
    }
    await expectAlive(server, "intact", intact);
  });
});

Deno.test("sse fault: ciphertext altered with its checksums and parity (only AES-GCM can tell) → refused, never returned; other packages still read", async () => {
  await withSseServer(async (server) => {
    const size = 3 * MiB + 3;
    // Stored byte 1 MiB + 100 000 is in stripe 1, in the package holding plaintext ~1.1 MB.
    const late = BLOCK_SIZE + 100_000;
    const intact = await write(server, "intact", pattern(size, 20), "SSE-S3");
    const control = await write(server, "control-plain", pattern(size, 21), "plain");
    const objects: [string, Mode, number, number][] = [
      ["late", "SSE-S3", size, late],
      ["early", "SSE-S3", size, 100],
      ["inline-sse-s3", "SSE-S3", 1000, 100],
      ["inline-sse-c", "SSE-C", 1000, 100],
      ["late-sse-kms", "SSE-KMS", size, late],
    ];
    const want = new Map<string, Uint8Array>();
    for (const [i, [key, mode, bytes]] of objects.entries()) {
      want.set(key, (await write(server, key, pattern(bytes, 30 + i), mode)).bytes);
    }

    // The control: the same alteration of a plain object is returned by the erasure layer (a
    // raw GET: the SDK would check the stored CRC32 itself).
    await alterConsistently(server.drives, BUCKET, "control-plain", late);
    const altered = (await getAsFarAsItGoes(server, BUCKET, "control-plain", "plain")).bytes;
    assertEquals(altered.byteLength, control.bytes.byteLength);
    const differ: number[] = [];
    control.bytes.forEach((b, i) => b !== altered[i] && differ.push(i));
    assertEquals(differ, [late], "the plain object comes back with exactly that byte changed");

    for (const [key, mode, , offset] of objects) {
      const inline = (await shardsOf(server.drives, BUCKET, key))[0].version.inlineLength > 0;
      assertEquals(inline, key.startsWith("inline"), `${key} stored inline`);
      await alterConsistently(server.drives, BUCKET, key, offset);
      assertRefusedCleanly(await getAsFarAsItGoes(server, BUCKET, key, mode), want.get(key)!, key);
    }
    // A range over the altered package is refused; ranges elsewhere still read exact.
    const bytes = want.get("late")!;
    const over = await getAsFarAsItGoes(server, BUCKET, "late", "SSE-S3", "bytes=1000000-1300000");
    assertRefusedCleanly(over, bytes.subarray(1_000_000, 1_300_001), "range over the damage");
    for (const [from, to] of [[0, 65_535], [70_000, 200_000], [2_000_000, size - 1]]) {
      const got = await getAsFarAsItGoes(server, BUCKET, "late", "SSE-S3", `bytes=${from}-${to}`);
      assertEquals([got.status, got.broken], [206, false], `range ${from}-${to}`);
      assert(equalBytes(got.bytes, bytes.subarray(from, to + 1)), `range ${from}-${to} exact`);
    }
    await expectAlive(server, "intact", intact);
  });
});

/** Stored bytes of one full package of part 1 of `key`: 64 KiB of plaintext plus overhead. */
async function packageSize(server: TestServer, key: string): Promise<number> {
  const [{ size, actualSize }] = (await shardsOf(server.drives, BUCKET, key))[0].version.parts;
  const overhead = (size - actualSize) / Math.ceil(actualSize / PACKAGE);
  assert(Number.isInteger(overhead) && overhead > 0, `${key}: ${size} stored, ${actualSize} plain`);
  return PACKAGE + overhead;
}

Deno.test("sse fault: packages swapped on disk, part 2 of a multipart object altered (checksums and parity consistent) → refused, never returned", async () => {
  await withSseServer(async (server) => {
    const s3 = client(server);
    const swapped = await write(server, "swapped", pattern(3 * MiB, 50), "SSE-S3");
    const parts = [pattern(5 * MiB, 51), pattern(100_000, 52)];
    await putMultipartAs(s3, BUCKET, "multipart", parts, "SSE-S3");
    const whole = new Uint8Array(5 * MiB + 100_000);
    whole.set(parts[0]);
    whole.set(parts[1], 5 * MiB);

    // Packages 2 and 3 trade places: each authenticates alone, not at the other's position.
    const p = await packageSize(server, "swapped");
    await editStripe(server.drives, BUCKET, "swapped", 0, (stripe) => {
      const second = stripe.slice(2 * p, 3 * p);
      stripe.copyWithin(2 * p, 3 * p, 4 * p);
      stripe.set(second, 3 * p);
    });
    const got = await getAsFarAsItGoes(server, BUCKET, "swapped", "SSE-S3");
    assertRefusedCleanly(got, swapped.bytes, "swapped packages");
    const head = await getAsFarAsItGoes(server, BUCKET, "swapped", "SSE-S3", "bytes=0-131071");
    assertEquals([head.status, head.broken], [206, false], "the packages before them");
    assert(equalBytes(head.bytes, swapped.bytes.subarray(0, 2 * PACKAGE)), "read exact");

    await alterConsistently(server.drives, BUCKET, "multipart", 100, 2);
    assertRefusedCleanly(
      await getAsFarAsItGoes(server, BUCKET, "multipart", "SSE-S3"),
      whole,
      "multipart, part 2 altered",
    );
    const first = await getAsFarAsItGoes(server, BUCKET, "multipart", "SSE-S3", "bytes=0-999999");
    assertEquals([first.status, first.broken], [206, false], "a range of part 1");
    assert(equalBytes(first.bytes, whole.subarray(0, 1_000_000)), "part 1 reads exact");
  });
});

/** Puts `from`'s files (xl.meta, data dir) in place of `to`'s on every drive, as they are. */
async function copyObjectFiles(server: TestServer, from: string, to: string): Promise<void> {
  for (const drive of server.drives) {
    const files = await snapshot(`${drive}/${BUCKET}/${from}`);
    await Deno.remove(`${drive}/${BUCKET}/${to}`, { recursive: true });
    for (const [rel, bytes] of files) {
      const path = `${drive}/${BUCKET}/${to}/${rel}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(path, bytes);
    }
  }
}

Deno.test("sse fault: an object's files copied over another's on every drive → refused under the other name (keys bound to it); a plain copy reads as the original", async () => {
  await withSseServer(async (server) => {
    for (const [i, mode] of (["plain", "SSE-S3", "SSE-KMS", "SSE-C"] as Mode[]).entries()) {
      for (const [shape, size] of [["inline", 1000], ["parts", 300 * 1024]] as const) {
        const [from, to] = [`${mode}/${shape}/from`, `${mode}/${shape}/to`];
        const original = await write(server, from, pattern(size, 70 + 2 * i), mode);
        const victim = await write(server, to, pattern(size, 71 + 2 * i), mode);
        await copyObjectFiles(server, from, to);
        const got = await getAsFarAsItGoes(server, BUCKET, to, mode);
        if (mode === "plain") {
          assertEquals(got.status, 200, `${to}: the copied files are served`);
          assert(equalBytes(got.bytes, original.bytes), `${to} reads as ${from}`);
        } else {
          assertRefusedCleanly(got, victim.bytes, `${to} (holding ${from}'s files)`);
          assert(!equalBytes(got.bytes, original.bytes), `${to} gave ${from}'s plaintext`);
        }
      }
    }
  });
});

const ADMIN = "/flashstor/admin/v1/";

async function admin(server: TestServer, method: string, api: string) {
  const response = await signedFetch(server, { method, path: ADMIN + api });
  return { status: response.status, text: await response.text() };
}

/** What rotation must change (the sealed KEK) and keep (object key, data) on one drive. */
interface Stored {
  sealedKek: string;
  objectKey: string;
  dataDir: string;
  /** The part file, or the inline shard. */
  data: Uint8Array;
}

async function stored(shard: Shard, key: string): Promise<Stored> {
  const sealed = readSealed(shard.version.metadata);
  assert(sealed?.kms, `${key} on ${shard.drive} records a sealed KEK`);
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const meta = await Deno.readFile(metaPath(shard.drive, BUCKET, key));
  return {
    sealedKek: hex(sealed.kms.sealedKek),
    objectKey: hex(sealed.objectKey.iv) + hex(sealed.objectKey.sealed),
    dataDir: shard.version.dataDir,
    data: shard.version.inlineLength >= 0
      ? meta.subarray(shard.inlineStart, shard.inlineStart + shard.version.inlineLength)
      : await Deno.readFile(await partPath(shard.drive, BUCKET, key)),
  };
}

async function storedAll(server: TestServer, keys: string[]): Promise<Map<string, Stored>> {
  const out = new Map<string, Stored>();
  for (const key of keys) {
    for (const shard of await shardsOf(server.drives, BUCKET, key)) {
      out.set(`${key} @ ${shard.drive}`, await stored(shard, key));
    }
  }
  return out;
}

Deno.test("sse fault: master-key rotation re-wraps every sealed KEK, leaves object keys and data as they were; all reads exact", async () => {
  await withSseServer(async (server) => {
    const s3 = client(server);
    const objects = new Map<string, Expected & { mode: Mode }>();
    for (let i = 0; i < 23; i++) {
      const mode: Mode = i < 20 ? "SSE-S3" : "SSE-KMS";
      const size = i % 3 === 0 ? 700 * 1024 + i : 1000 + i;
      const key = `${mode}/${i}`;
      objects.set(key, { ...(await write(server, key, pattern(size, 40 + i), mode)), mode });
    }
    const keys = [...objects.keys()];
    const first = (await shardsOf(server.drives, BUCKET, keys[0]))[0];
    const keyId = readSealed(first.version.metadata)!.kms!.keyId;
    const before = await storedAll(server, keys);

    const rotated = await admin(server, "POST", `kms/keys/${keyId}/rotate`);
    assertEquals(rotated.status, 200, `rotate ${keyId}: ${rotated.text}`);
    const { key: rotatedKey } = JSON.parse(rotated.text) as { key: MasterKeyStatus };
    let pass: RewrapProgress | undefined;
    await waitUntil("the re-wrap done", async () => {
      const r = await admin(server, "GET", "kms/rewrap");
      assertEquals(r.status, 200, r.text);
      const { passes } = JSON.parse(r.text) as { passes: RewrapProgress[] };
      pass = passes.find((p) => p.keyId === keyId && p.version === rotatedKey.version);
      assert(pass && pass.state !== "failed" && pass.state !== "cancelled", r.text);
      return pass.state === "done";
    }, 30_000);
    assertEquals(
      [pass!.versionsRewrapped, pass!.versionsFailed],
      [objects.size, 0],
      JSON.stringify(pass),
    );

    const after = await storedAll(server, keys);
    for (const [where, was] of before) {
      const now = after.get(where)!;
      assertNotEquals(now.sealedKek, was.sealedKek, `${where}: sealed KEK re-wrapped`);
      assertEquals(now.objectKey, was.objectKey, `${where}: sealed object key kept`);
      assertEquals(now.dataDir, was.dataDir, `${where}: data dir kept`);
      assert(equalBytes(now.data, was.data), `${where}: shard data unchanged`);
    }
    for (const [key, want] of objects) await expectExact(s3, BUCKET, key, want);
    const fresh = await write(server, "after-rotation", pattern(5000, 99), "SSE-S3");
    await expectExact(s3, BUCKET, "after-rotation", fresh);
  });
});

Deno.test("sse fault: restarted without FLASHSTOR_KMS_SECRET_KEY → SSE-S3/SSE-KMS refused clearly, plain and SSE-C served; with the key again all read", async () => {
  let server = await startSseServer();
  const dir = server.dir;
  try {
    let s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const objects = new Map<string, Expected & { mode: Mode }>();
    for (const [i, mode] of (["plain", "SSE-S3", "SSE-KMS", "SSE-C"] as Mode[]).entries()) {
      for (const [name, size] of [["small", 1000], ["big", 2 * MiB + 3]] as const) {
        const key = `${mode}/${name}`;
        objects.set(key, { ...(await write(server, key, pattern(size, 60 + i), mode)), mode });
      }
    }
    await server.stop();

    server = await startSseServer({ dir }, { kms: false });
    s3 = client(server);
    for (const [key, want] of objects) {
      if (want.mode === "SSE-S3" || want.mode === "SSE-KMS") {
        const got = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })));
        console.log(`GET ${key} without the key service: ${JSON.stringify(got)}`);
        assert(got.status >= 400 && got.status !== 500, `GET ${key}: ${JSON.stringify(got)}`);
        assertNotEquals(got.code, "InternalError", `GET ${key}`);
      } else {
        assert(equalBytes(await getAs(s3, BUCKET, key, want.mode), want.bytes), `GET ${key}`);
      }
    }
    const put = await failure(putAs(s3, BUCKET, "refused", pattern(100, 1), "SSE-S3"));
    console.log(`PUT SSE-S3 without the key service: ${JSON.stringify(put)}`);
    assert(put.status >= 400 && put.status !== 500, `PUT SSE-S3: ${JSON.stringify(put)}`);
    for (const mode of ["plain", "SSE-C"] as Mode[]) {
      const key = `${mode}/new`;
      objects.set(key, { ...(await write(server, key, pattern(3000, 70), mode)), mode });
      assert(equalBytes(await getAs(s3, BUCKET, key, mode), objects.get(key)!.bytes), `${key}`);
    }
    await server.stop();

    server = await startSseServer({ dir });
    s3 = client(server);
    for (const [key, want] of objects) {
      assert(equalBytes(await getAs(s3, BUCKET, key, want.mode), want.bytes), `GET ${key}`);
    }
    const refused = await failure(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "refused" })),
    );
    assertEquals(refused.code, "NoSuchKey", "the refused PUT left nothing");
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.cleanup();
  }
});

Deno.test("sse fault: SIGKILL during SSE-S3 PUTs of 1-8 MiB → every acknowledged object reads back exact", async () => {
  let server = await startSseServer();
  const dir = server.dir;
  try {
    let s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const acked = new Map<string, Expected>();
    const unanswered = new Map<string, Uint8Array>();
    const errors: string[] = [];
    const killAfter = 5 + Math.floor(Math.random() * 8);
    let killing: Promise<unknown> | undefined;
    let killSent = false;
    const writer = async (w: number) => {
      for (let i = 0; i < 10; i++) {
        const key = `w${w}/${i}`;
        const bytes = pattern(MiB + Math.floor(Math.random() * 7 * MiB), 100 + w * 10 + i);
        unanswered.set(key, bytes);
        try {
          acked.set(key, { bytes, etag: await putAs(s3, BUCKET, key, bytes, "SSE-S3") });
          unanswered.delete(key);
        } catch (err) {
          if (!killSent) errors.push(`${key}: ${err}`);
          return;
        }
        if (acked.size >= killAfter && !killing) {
          killing = (async () => {
            await new Promise((r) => setTimeout(r, Math.random() * 100));
            killSent = true;
            await server.kill();
          })();
        }
      }
    };
    await Promise.all([writer(0), writer(1)]);
    assert(killing, "the kill was started");
    await killing;
    assertEquals(errors, [], "no PUT failed before the kill");
    assert(unanswered.size > 0, "PUTs were in flight when the server died");

    server = await startSseServer({ dir });
    s3 = client(server);
    for (const [key, want] of acked) {
      assertEquals(want.etag, md5(want.bytes), `${key}: SSE-S3 ETag is the plaintext MD5`);
      await expectExact(s3, BUCKET, key, want);
    }
    for (const [key, bytes] of unanswered) {
      const got = await failure(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })))
        .catch(() => undefined);
      if (got) assertEquals(got.code, "NoSuchKey", `${key} (unanswered)`);
      else await expectExact(s3, BUCKET, key, { bytes, etag: md5(bytes) });
    }
  } catch (err) {
    console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server.cleanup();
  }
});
