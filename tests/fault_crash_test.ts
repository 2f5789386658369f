/**
 * Crashes, end to end: the real server is SIGKILLed at a random moment while background
 * writers keep putting, overwriting (single-part and multipart, inline and multi-stripe) and
 * deleting objects, then restarted on the same drives, several rounds in a row. Afterwards
 * every acknowledged write reads back byte-exact with its ETag; an object whose write was in
 * flight is its previous state or the new one, never a mix or an error; the listing shows
 * exactly those objects; the temp areas are empty.
 */

import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  ListMultipartUploadsCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./helpers/assert.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import {
  client,
  equalBytes,
  expectAll,
  type Expected,
  expectExact,
  fillBucket,
  get,
  listAll,
  loseBucket,
  md5,
  metaPath,
  MiB,
  multipartEtag,
  parseMeta,
  pattern,
  put,
  putMultipart,
  readOrUndefined,
  tmpEntries,
  waitUntil,
} from "./fault_util.ts";

const BUCKET = "crash";
const ROUNDS = 8;
/** Upper bound on the writes of one writer in one round (it normally stops at the kill). */
const MAX_OPS = 300;

/** One state of a key: its bytes, or null when deleted. */
type Version = (Expected & { parts?: Uint8Array[] }) | null;

type Kind = "small" | "big" | "mixed" | "multipart" | "delete";

interface KeyState {
  key: string;
  kind: Kind;
  /** The last state the server acknowledged (undefined: never written). */
  acked: Version | undefined;
  /** States sent since, whose answer never came (the server died first). */
  pending: Version[];
  ops: number;
}

let seed = 1;

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

function single(size: number): Version {
  const bytes = pattern(size, seed++);
  return { bytes, etag: md5(bytes) };
}

/** The next state of a key, by its kind. */
function nextVersion(state: KeyState): Version {
  const n = state.ops++;
  const small = () => single(randomInt(0, 200 * 1024));
  const big = () => single(randomInt(10 * MiB, 30 * MiB));
  switch (state.kind) {
    case "small":
      return small();
    case "big":
      return big();
    case "mixed":
      return n % 2 === 0 ? big() : small();
    case "delete":
      return n % 3 === 2 ? null : n % 3 === 0 ? small() : big();
    case "multipart": {
      const parts = [5 * MiB, 5 * MiB, randomInt(1, 3 * MiB)].map((s) => pattern(s, seed++));
      const bytes = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      parts.reduce((at, p) => (bytes.set(p, at), at + p.byteLength), 0);
      return { bytes, etag: multipartEtag(parts), parts };
    }
  }
}

async function apply(s3: S3Client, key: string, v: Version): Promise<void> {
  if (v === null) {
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    return;
  }
  const etag = v.parts
    ? await putMultipart(s3, BUCKET, key, v.parts)
    : await put(s3, BUCKET, key, v.bytes);
  assertEquals(etag, v.etag, `ETag acknowledged for ${key}`);
}

/**
 * Writes new states of `keys` one after another until the server stops answering. An answer
 * that is an S3 error is recorded in `errors`: none is expected from a healthy server.
 */
async function writer(s3: S3Client, keys: KeyState[], errors: string[]): Promise<number> {
  let acked = 0;
  for (let i = 0; i < MAX_OPS; i++) {
    const state = keys[i % keys.length];
    const v = nextVersion(state);
    state.pending.push(v);
    try {
      await apply(s3, state.key, v);
    } catch (err) {
      if (err instanceof S3ServiceException) {
        errors.push(`${state.key}: ${err.$metadata.httpStatusCode} ${err.name}: ${err.message}`);
      }
      return acked;
    }
    state.acked = v;
    state.pending = [];
    acked++;
  }
  return acked;
}

const describe = (v: Version | undefined) =>
  v === undefined ? "never written" : v === null ? "deleted" : `${v.bytes.byteLength} B ${v.etag}`;

/**
 * Reads `state.key` after a restart: it must be the acknowledged state or one of the pending
 * ones; that state becomes the acknowledged one from now on.
 */
async function settle(s3: S3Client, state: KeyState, round: number): Promise<"old" | "new"> {
  const allowed = [state.acked, ...state.pending];
  const got = await get(s3, BUCKET, state.key).catch((err) => {
    if (err instanceof S3ServiceException && err.name === "NoSuchKey") return null;
    throw new Error(`round ${round}: GET ${state.key} failed: ${err}`);
  });
  let match: Version | undefined;
  if (got === null) {
    match = allowed.find((v) => v === null || v === undefined);
    if (match === undefined && !allowed.some((v) => !v)) {
      throw new Error(
        `round ${round}: ${state.key} is gone, expected ${allowed.map(describe).join(" or ")}`,
      );
    }
    match = null;
  } else {
    match = allowed.find((v) => v && equalBytes(v.bytes, got.bytes));
    if (!match) {
      throw new Error(
        `round ${round}: ${state.key} reads ${got.bytes.byteLength} B (md5 ${md5(got.bytes)}, ` +
          `ETag ${got.etag}), expected ${allowed.map(describe).join(" or ")}`,
      );
    }
    assertEquals(got.etag, match.etag, `round ${round}: ETag of ${state.key}`);
  }
  const landed = match !== state.acked;
  state.acked = match;
  state.pending = [];
  return landed ? "new" : "old";
}

/** Each drive's temp entries (none for a drive kept offline). */
async function tmpOfDrives(server: TestServer): Promise<string[][]> {
  return await Promise.all(
    server.drives.map(async (d) =>
      (await Deno.stat(d)).isDirectory ? await tmpEntries(d).catch(() => []) : []
    ),
  );
}

/**
 * None of the temp entries a killed server left (`killed`) is there after the restart; the
 * restarted server's own background heals (the heal queue's journal) may have new ones.
 */
async function expectTmpCleared(server: TestServer, killed: string[][], round: number) {
  const now = await tmpOfDrives(server);
  server.drives.forEach((d, i) => {
    const left = now[i].filter((e) => killed[i].includes(e));
    assertEquals(left, [], `round ${round}: temp entries of the killed server on ${d}`);
  });
}

/** The hot keys, spread over three writers: each key is written by one writer only. */
function hotKeys(): KeyState[][] {
  const kinds: [string, Kind][] = [
    ["hot/small-a", "small"],
    ["hot/small-b", "small"],
    ["hot/deleted", "delete"],
    ["hot/big", "big"],
    ["hot/mixed", "mixed"],
    ["hot/multipart", "multipart"],
  ];
  const states = kinds.map(([key, kind]): KeyState => ({
    key,
    kind,
    acked: undefined,
    pending: [],
    ops: 0,
  }));
  return [states.slice(0, 3), states.slice(3, 5), states.slice(5)];
}

/** Counts over all rounds of one test. */
interface Tally {
  acked: number;
  /** Writes cut off by a kill: found in their new state after the restart, or the old. */
  inFlight: { new: number; old: number };
}

/**
 * After a restart: every hot key is in an allowed state (which becomes its acknowledged one),
 * the static objects are exact, the listing shows exactly these objects, and multipart
 * uploads cut off by the kill can be aborted.
 */
async function checkAll(
  s3: S3Client,
  fixed: Map<string, Expected>,
  states: KeyState[],
  round: number,
  tally: Tally,
): Promise<void> {
  for (const state of states) {
    if (state.pending.length === 0) continue;
    tally.inFlight[await settle(s3, state, round)]++;
  }
  for (const state of states) await settle(s3, state, round);
  for (const [key, want] of fixed) await expectExact(s3, BUCKET, key, want);
  const expected = new Map<string, { size: number; etag: string }>();
  for (const [key, want] of fixed) {
    expected.set(key, { size: want.bytes.byteLength, etag: want.etag });
  }
  for (const s of states) {
    if (s.acked) expected.set(s.key, { size: s.acked.bytes.byteLength, etag: s.acked.etag });
  }
  const sorted = (m: Map<string, unknown>) => JSON.stringify([...m].sort());
  assertEquals(
    sorted(await listAll(s3, BUCKET)),
    sorted(expected),
    `round ${round}: listing after the restart`,
  );
  const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  for (const u of uploads.Uploads ?? []) {
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: u.Key, UploadId: u.UploadId }),
    );
  }
}

/**
 * ROUNDS times: writers start on `live.server`, which is SIGKILLed after a random delay and
 * restarted on the same drives (live.server is the new one), then everything is checked.
 */
async function crashRounds(
  live: { server: TestServer },
  fixed: Map<string, Expected>,
  writers: KeyState[][],
): Promise<Tally> {
  const tally: Tally = { acked: 0, inFlight: { new: 0, old: 0 } };
  for (let round = 1; round <= ROUNDS; round++) {
    const errors: string[] = [];
    const s3 = client(live.server);
    const running = writers.map((keys) => writer(s3, keys, errors));
    const delay = randomInt(300, 2500);
    await new Promise((r) => setTimeout(r, delay));
    await live.server.kill();
    const killed = await tmpOfDrives(live.server);
    tally.acked += (await Promise.all(running)).reduce((a, b) => a + b, 0);
    assertEquals(errors, [], `round ${round}: S3 errors before the kill (at ${delay} ms)`);

    live.server = await startServer({ dir: live.server.dir });
    await expectTmpCleared(live.server, killed, round);
    await checkAll(client(live.server), fixed, writers.flat(), round, tally);
  }
  console.log(
    `${ROUNDS} kills; ${tally.acked} writes acknowledged; writes in flight at a kill: ` +
      `${tally.inFlight.new} took effect, ${tally.inFlight.old} did not`,
  );
  assert(tally.acked > 0, "some writes were acknowledged");
  return tally;
}

/** Data directories (uuid-named) under `dir` that no xl.meta next to them refers to. */
async function orphanDataDirs(dir: string): Promise<number> {
  let count = 0;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  const visit = async (d: string) => {
    const raw = await readOrUndefined(`${d}/xl.meta`);
    // Empty: a new object's first metadata write cut off by a kill (the object never was).
    const used = raw?.byteLength ? parseMeta(raw).version.dataDir : undefined;
    for await (const e of Deno.readDir(d)) {
      if (!e.isDirectory) continue;
      if (uuid.test(e.name)) count += e.name === used ? 0 : 1;
      else await visit(`${d}/${e.name}`);
    }
  };
  await visit(dir);
  return count;
}

/** Runs `fn` with a fresh server holding the bucket and its static objects. */
async function withDeployment(
  fn: (live: { server: TestServer }, fixed: Map<string, Expected>) => Promise<void>,
): Promise<void> {
  const live = { server: await startServer() };
  const dir = live.server.dir;
  try {
    const s3 = client(live.server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await fn(live, await fillBucket(s3, BUCKET, 42, "static/"));
  } catch (err) {
    console.error(live.server.output().slice(-4000));
    throw err;
  } finally {
    await live.server.kill();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("fault: SIGKILL at random moments under concurrent writes loses no acknowledged write and shows no half object", async () => {
  await withDeployment(async (live, fixed) => {
    await crashRounds(live, fixed, hotKeys());
    let orphans = 0;
    for (const d of live.server.drives) orphans += await orphanDataDirs(`${d}/${BUCKET}`);
    console.log(`data directories left unreferenced by the kills: ${orphans}`);
  });
});

Deno.test("fault: SIGKILL rounds with a drive offline (writes at exactly write quorum); the drive back is healed", async () => {
  await withDeployment(async (live, fixed) => {
    const [d1, d2, , d4] = live.server.drives;
    await live.server.stop();
    await Deno.remove(d4, { recursive: true });
    await Deno.writeTextFile(d4, "offline\n");
    live.server = await startServer({ dir: live.server.dir });
    const writers = hotKeys();
    const tally = await crashRounds(live, fixed, writers);

    await live.server.stop();
    await Deno.remove(d4);
    await Deno.mkdir(d4);
    live.server = await startServer({ dir: live.server.dir });
    const s3 = client(live.server);
    const states = writers.flat();
    const current = new Map(fixed);
    for (const s of states) if (s.acked) current.set(s.key, s.acked);
    await waitUntil("every object healed onto the returning drive", async () => {
      await checkAll(s3, fixed, states, ROUNDS + 1, tally);
      for (const [key, want] of current) {
        const raw = await readOrUndefined(metaPath(d4, BUCKET, key));
        if (!raw?.byteLength || parseMeta(raw).version.etag !== want.etag) return false;
      }
      return true;
    }, 60_000);
    for (const d of [d1, d2]) await loseBucket(d, BUCKET);
    await checkAll(s3, fixed, states, ROUNDS + 1, tally);
  });
});

Deno.test("fault: SIGKILL while heals rebuild a replaced drive → nothing lost, healing completes after the restart", async () => {
  await withDeployment(async (live, fixed) => {
    const objects = new Map(fixed);
    const s3 = client(live.server);
    for (let i = 0; i < 8; i++) {
      const bytes = pattern(24 * MiB + i, 5000 + i);
      objects.set(`heal/${i}`, { bytes, etag: await put(s3, BUCKET, `heal/${i}`, bytes) });
    }
    const [d1, d2, d3] = live.server.drives;
    await live.server.stop();
    await Deno.remove(d2, { recursive: true });
    await Deno.mkdir(d2);
    live.server = await startServer({ dir: live.server.dir });

    // The empty d2 is formatted at start and its drive heal begins: kill once it writes.
    let writing = false;
    for (let i = 0; i < 2000 && !writing; i++) {
      writing = await tmpEntries(d2).then((e) => e.length > 0, () => false);
      if (!writing) await new Promise((r) => setTimeout(r, 5));
    }
    await live.server.kill();
    assert(writing, "a heal was writing to the replaced drive");
    const healed = [];
    for (const key of objects.keys()) {
      if (await readOrUndefined(metaPath(d2, BUCKET, key))) healed.push(key);
    }
    assert(healed.length < objects.size, "killed before every object was healed");
    const killed = await tmpOfDrives(live.server);

    live.server = await startServer({ dir: live.server.dir });
    // The drive heal resumed at start may write new temp entries, not keep the killed ones.
    await expectTmpCleared(live.server, killed, 1);
    const after = client(live.server);
    await waitUntil("every object healed onto the replaced drive", async () => {
      await expectAll(after, BUCKET, objects);
      for (const [key, want] of objects) {
        const raw = await readOrUndefined(metaPath(d2, BUCKET, key));
        if (!raw?.byteLength || parseMeta(raw).version.etag !== want.etag) return false;
      }
      return true;
    }, 60_000);
    for (const d of [d1, d3]) await loseBucket(d, BUCKET);
    await expectAll(after, BUCKET, objects);
    console.log(`killed with ${healed.length} of ${objects.size} objects healed`);
  });
});
