/**
 * The drive handle and the drive monitor, in process, with the fault-injecting drive: deadlines
 * (per call, and per chunk of a stream), cancellation, the identity check of a wiped drive, a
 * read-only drive, and the monitor bringing drives back or formatting them into their slot.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./helpers/assert.ts";
import { join } from "node:path";
import { QUARANTINE_DIR, SYSTEM_VOLUME, TMP_DIR } from "../src/storage/api.ts";
import { DriveHandle } from "../src/storage/drive-handle.ts";
import { DriveMonitor } from "../src/storage/drive-monitor.ts";
import { LOCK_FILE, lockDrive } from "../src/storage/drive-lock.ts";
import { lockFileExclusive } from "../ffi/libc.ts";
import {
  DiskAccessDenied,
  DiskNotFound,
  DiskTimeout,
  FileNotFound,
} from "../src/storage/errors.ts";
import { type Format, FORMAT_FILE, loadOrInitFormat, parseFormat } from "../src/storage/format.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { FaultyDrive } from "./helpers/faulty-drive.ts";

/** Short, so hangs fail fast; the drives sit on tmpfs where there is one, so that no real
 *  fsync of a busy disk outlasts it (the CI run once timed out formatting the rig). */
const TIMEOUT_MS = 500;
const SCRATCH = await Deno.stat("/dev/shm").then(
  (s) => s.isDirectory ? "/dev/shm" : undefined,
  () => undefined,
);
const enc = new TextEncoder();

interface Rig {
  dirs: string[];
  faulty: FaultyDrive[];
  handles: DriveHandle[];
  reference: Format;
  log: string[];
  formatted: [number, number][];
  monitor: DriveMonitor;
}

/** Four formatted drives (one set of 4) behind faulty drives and handles, with a monitor. */
async function withRig(fn: (rig: Rig) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ dir: SCRATCH, prefix: "flashstor-handle-" });
  const log: string[] = [];
  const dirs = [0, 1, 2, 3].map((i) => join(root, `d${i}`));
  const faulty = await Promise.all(dirs.map(async (d) => new FaultyDrive(await XlStorage.open(d))));
  const handles = await Promise.all(
    faulty.map((f) => DriveHandle.of(f, { timeoutMs: TIMEOUT_MS, log: (line) => log.push(line) })),
  );
  const format = await loadOrInitFormat(handles, { setCount: 1, setDriveCount: 4 });
  const formatted: [number, number][] = [];
  const monitor = new DriveMonitor(format.sets, format.reference, {
    onDriveFormatted: (set, drive) => formatted.push([set, drive]),
  });
  try {
    await fn({ dirs, faulty, handles, reference: format.reference, log, formatted, monitor });
  } finally {
    await monitor.close();
    await Deno.remove(root, { recursive: true });
  }
}

/** A stream of `chunks` chunks of `size` bytes, one every `everyMs`. */
function slowStream(chunks: number, size: number, everyMs: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent++ === chunks) return controller.close();
      await new Promise((r) => setTimeout(r, everyMs));
      controller.enqueue(new Uint8Array(size));
    },
  });
}

Deno.test("a call that hangs fails with DiskTimeout at the deadline; the drive is offline, answers at once, and the monitor brings it back", async () => {
  await withRig(async ({ faulty, handles, log, monitor }) => {
    const [drive] = handles;
    faulty[0].inject({ kind: "hang" }, ["readAll"]);
    await assertRejects(() => drive.readAll(SYSTEM_VOLUME, FORMAT_FILE), DiskTimeout);
    assertEquals(drive.state, "offline");
    assertStringIncludes(drive.reason, "no answer to readAll");
    assert(log.some((l) => l.startsWith(`flashstor: drive ${drive.endpoint} offline: `)));
    const calls = faulty[0].calls.get("statVolume") ?? 0;
    await assertRejects(() => drive.statVolume("b"), DiskNotFound);
    assertEquals(faulty[0].calls.get("statVolume") ?? 0, calls, "an offline drive is not asked");

    // Still hanging: the probe leaves it offline.
    await monitor.probeOffline();
    assertEquals(drive.state, "offline");
    faulty[0].heal();
    await monitor.probeOffline();
    assertEquals(drive.state, "online");
    assert(log.includes(`flashstor: drive ${drive.endpoint} back online`));
  });
});

Deno.test("a stall of the process itself (a blocked event loop) is not counted against a drive's deadline", async () => {
  await withRig(async ({ faulty, handles }) => {
    const [drive] = handles;
    faulty[0].inject({ kind: "delay", ms: 50 }, ["readAll"]);
    const read = drive.readAll(SYSTEM_VOLUME, FORMAT_FILE);
    // The drive answers after 50 ms, but the process runs nothing for 3 deadlines.
    const until = Date.now() + 3 * TIMEOUT_MS;
    while (Date.now() < until) { /* busy: no timer, no I/O callback runs */ }
    assert((await read).byteLength > 0);
    assertEquals(drive.state, "online");
  });
});

Deno.test("streams have an idle deadline, not a total one: a slow but steady stream passes, a stalled one is cut", async () => {
  await withRig(async ({ faulty, handles }) => {
    const [drive] = handles;
    // 10 chunks, one every TIMEOUT_MS / 4: twice the deadline in total.
    const writer = await drive.createFile(SYSTEM_VOLUME, `${TMP_DIR}/x/part.1`);
    for await (const chunk of slowStream(10, 1024, TIMEOUT_MS / 4)) await writer.write(chunk);
    await writer.close();
    const read = await drive.readFileStream(SYSTEM_VOLUME, `${TMP_DIR}/x/part.1`, 0, 10 * 1024);
    assertEquals((await new Response(read).arrayBuffer()).byteLength, 10 * 1024);
    assertEquals(drive.state, "online");

    faulty[0].inject({ kind: "hang", afterBytes: 4096 }, ["readFileStream"]);
    const stalled = await drive.readFileStream(SYSTEM_VOLUME, `${TMP_DIR}/x/part.1`, 0, 10 * 1024);
    await assertRejects(() => new Response(stalled).arrayBuffer(), DiskTimeout);
    assertEquals(drive.state, "offline");
  });
});

Deno.test("an aborted call rejects with the signal's reason at once and leaves the drive online", async () => {
  await withRig(async ({ faulty, handles }) => {
    const [drive] = handles;
    faulty[0].inject({ kind: "hang" }, ["listVolumes"]);
    const controller = new AbortController();
    const call = drive.listVolumes({ signal: controller.signal });
    controller.abort(new Error("client went away"));
    await assertRejects(() => call, Error, "client went away");
    assertEquals(drive.state, "online");
    await assertRejects(
      () => drive.statVolume("b", { signal: AbortSignal.abort(new Error("already")) }),
      Error,
      "already",
    );
  });
});

Deno.test("a wiped drive (format.json gone) goes offline at its first error or within the identity interval, and gets no bucket back", async () => {
  await withRig(async ({ dirs, handles, monitor }) => {
    const [drive, other] = handles;
    await drive.makeVolume("bucket");
    await other.makeVolume("bucket");
    for (const entry of Deno.readDirSync(dirs[0])) {
      await Deno.remove(join(dirs[0], entry.name), { recursive: true });
    }
    // The error of a write into the lost bucket starts the identity check.
    await assertRejects(() => drive.writeAll("bucket", "o/xl.meta", enc.encode("m")));
    for (let i = 0; i < 20 && drive.state !== "offline"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(drive.state, "offline");
    assertStringIncludes(drive.reason, "format.json is missing");
    await assertRejects(() => drive.makeVolume("bucket"), DiskNotFound);
    assertEquals([...Deno.readDirSync(dirs[0])].map((e) => e.name), []);

    // Without any error, the periodic check finds the second one.
    for (const entry of Deno.readDirSync(dirs[1])) {
      await Deno.remove(join(dirs[1], entry.name), { recursive: true });
    }
    await monitor.checkOnline();
    assertEquals(other.state, "offline");
  });
});

Deno.test("a drive that refuses writes (EROFS) is taken offline; it stays offline until writes work again", async () => {
  await withRig(async ({ faulty, handles, monitor }) => {
    const [drive] = handles;
    await drive.makeVolume("b");
    faulty[0].inject({ kind: "error", errno: "EROFS" }, ["writeAll", "createFile", "renameData"]);
    await assertRejects(() => drive.writeAll("b", "k/xl.meta", enc.encode("m")), DiskAccessDenied);
    for (let i = 0; i < 20 && drive.state !== "offline"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(drive.state, "offline");
    // Reads alone keep working on such a drive, but it must not count for writes.
    await monitor.probeOffline();
    assertEquals(drive.state, "offline");
    faulty[0].heal();
    await monitor.probeOffline();
    assertEquals(drive.state, "online");
  });
});

Deno.test("the monitor formats a wiped drive that holds data into its old slot: contents quarantined, healing, reported", async () => {
  await withRig(async ({ dirs, handles, reference, formatted, monitor, log }) => {
    const drive = handles[2];
    await drive.makeVolume("bucket");
    await drive.writeAll("bucket", "obj/xl.meta", enc.encode("old"));
    await Deno.remove(join(dirs[2], SYSTEM_VOLUME, FORMAT_FILE));
    await monitor.checkOnline();
    assertEquals(drive.state, "offline");
    await monitor.probeOffline();
    assertEquals(drive.state, "healing");
    assertEquals(formatted, [[0, 2]]);
    const format = parseFormat(await Deno.readFile(join(dirs[2], SYSTEM_VOLUME, FORMAT_FILE)));
    assertEquals(format.id, reference.id);
    assertEquals(format.xl.this, reference.xl.sets[0][2]);
    assertEquals(await drive.listVolumes(), []);
    const [kept] = [...Deno.readDirSync(join(dirs[2], QUARANTINE_DIR))];
    const moved = join(dirs[2], QUARANTINE_DIR, kept.name, "bucket", "obj", "xl.meta");
    assertEquals(new TextDecoder().decode(await Deno.readFile(moved)), "old");
    assert(log.some((l) => l.includes("had no format.json but held data")), log.join("\n"));
    await assertRejects(() => drive.readAll("bucket", "obj/xl.meta"));
    // The heal's end (Engineer C's side) sets it online through the state setter.
    drive.setState("online", "healed");
    assertEquals(drive.state, "online");
  });
});

Deno.test("a drive of another deployment stays offline, named as such", async () => {
  await withRig(async ({ dirs, handles, monitor }) => {
    const drive = handles[3];
    const path = join(dirs[3], SYSTEM_VOLUME, FORMAT_FILE);
    const format = parseFormat(await Deno.readFile(path));
    await Deno.writeFile(path, enc.encode(JSON.stringify({ ...format, id: crypto.randomUUID() })));
    await monitor.checkOnline();
    assertEquals(drive.state, "offline");
    assertStringIncludes(drive.reason, "another deployment");
    await monitor.probeOffline();
    assertEquals(drive.state, "offline");
    await assertRejects(() => drive.readAll(SYSTEM_VOLUME, FORMAT_FILE), DiskNotFound);
    await assertRejects(() => Deno.stat(join(dirs[3], QUARANTINE_DIR)), Deno.errors.NotFound);
  });
});

Deno.test("injected errno faults surface as the storage errors the real drive throws", async () => {
  await withRig(async ({ faulty, handles }) => {
    const drive = handles[1];
    await drive.makeVolume("b");
    faulty[1].inject({ kind: "error", errno: "ENOSPC" }, ["writeAll"]);
    await assertRejects(() => drive.writeAll("b", "k", enc.encode("x")), Error, "ENOSPC");
    assert(await drive.verify(true), "the writability check passes a full drive");
    assertEquals(drive.state, "online", "a full drive is not offline");
    faulty[1].heal();
    await drive.writeAll("b", "k", enc.encode("x"));
    faulty[1].inject({ kind: "corrupt" }, ["readAll"]);
    assertEquals([...await drive.readAll("b", "k")], [0x78 ^ 0xff]);
    await assertRejects(() => drive.readAll("b", "none"), FileNotFound);
    faulty[1].heal();
    // An I/O error starts the identity check, whose own read fails too: offline.
    faulty[1].inject({ kind: "error", errno: "EIO" }, ["readAll"]);
    await assertRejects(() => drive.readAll("b", "k"), DiskNotFound, "EIO");
    for (let i = 0; i < 20 && drive.state !== "offline"; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(drive.state, "offline");
  });
});

Deno.test("a drive wiped while locked is locked again when reopened: no second server can take it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-relock-" });
  try {
    const file = join(dir, SYSTEM_VOLUME, LOCK_FILE);
    await lockDrive(dir);
    assertEquals(lockFileExclusive(file), undefined, "held by this process");
    await Deno.remove(join(dir, SYSTEM_VOLUME), { recursive: true });
    await lockDrive(dir);
    assertEquals(lockFileExclusive(file), undefined, "the new lock file is held too");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
