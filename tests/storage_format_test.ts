import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./helpers/assert.ts";
import { join } from "node:path";
import { QUARANTINE_DIR, type StorageAPI, SYSTEM_VOLUME } from "../src/storage/api.ts";
import { DiskNotFound, FileCorrupt, UnformattedDisk } from "../src/storage/errors.ts";
import {
  type Format,
  FORMAT_FILE,
  FormatPending,
  loadOrInitFormat,
  newFormat,
  parseFormat,
  serializeFormat,
} from "../src/storage/format.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { openLocalDrive } from "../src/storage/local-drive.ts";
import { offlineDrive } from "./fixtures/object_env.ts";
import { DriveMonitor } from "../src/storage/drive-monitor.ts";

const layout = { setCount: 2, setDriveCount: 2 };

async function withDirs(n: number, fn: (dirs: string[]) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "flashstor-format-" });
  try {
    await fn(Array.from({ length: n }, (_, i) => join(root, `d${i + 1}`)));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const openAll = (dirs: string[]) => Promise.all(dirs.map((d) => openLocalDrive(d)));

async function formatOf(drive: StorageAPI): Promise<Format> {
  return parseFormat(await drive.readAll(SYSTEM_VOLUME, FORMAT_FILE));
}

Deno.test("fresh drives get one deployment, distinct drive ids, sets in order", async () => {
  await withDirs(4, async (dirs) => {
    const drives = await openAll(dirs);
    const result = await loadOrInitFormat(drives, layout);
    assertEquals(result.sets, [[drives[0], drives[1]], [drives[2], drives[3]]]);
    const formats = await Promise.all(drives.map(formatOf));
    const ids = formats.map((f) => f.xl.this);
    assertEquals(new Set(ids).size, 4);
    for (const f of formats) {
      assertEquals(f.id, result.deploymentId);
      assertEquals(f.xl.sets, [[ids[0], ids[1]], [ids[2], ids[3]]]);
      assertEquals(f.version, 1);
      assertEquals(f.format, "xl");
      assertEquals(f.xl.distributionAlgo, "CRC32");
    }
    assertEquals((await drives[2].diskInfo()).id, ids[2]);
  });
});

Deno.test("reload keeps the deployment; a wrong layout is refused", async () => {
  await withDirs(4, async (dirs) => {
    const first = await loadOrInitFormat(await openAll(dirs), layout);
    const again = await loadOrInitFormat(await openAll(dirs), layout);
    assertEquals(again.deploymentId, first.deploymentId);
    await assertRejects(
      async () => loadOrInitFormat(await openAll(dirs), { setCount: 1, setDriveCount: 4 }),
      UnformattedDisk,
      "1 set(s) of 4",
    );
    await assertRejects(
      async () => loadOrInitFormat(await openAll(dirs.slice(0, 3)), layout),
      RangeError,
    );
  });
});

Deno.test("a drive of another deployment is refused, naming the drive", async () => {
  await withDirs(5, async (dirs) => {
    await loadOrInitFormat(await openAll(dirs.slice(0, 4)), layout);
    // d5 becomes a one-drive deployment of its own, then replaces d2.
    await loadOrInitFormat(await openAll([dirs[4]]), { setCount: 1, setDriveCount: 1 });
    const mixed = [dirs[0], dirs[4], dirs[2], dirs[3]];
    await assertRejects(
      async () => loadOrInitFormat(await openAll(mixed), layout),
      UnformattedDisk,
      `drive ${dirs[4]} belongs to deployment`,
    );
  });
});

Deno.test("swapped drives are refused with the positions in the message", async () => {
  await withDirs(4, async (dirs) => {
    await loadOrInitFormat(await openAll(dirs), layout);
    const swapped = [dirs[0], dirs[2], dirs[1], dirs[3]];
    const err = await assertRejects(
      async () => loadOrInitFormat(await openAll(swapped), layout),
      UnformattedDisk,
      "drive order changed",
    );
    assert(
      err.message.includes("set 2, drive 1") && err.message.includes("set 1, drive 2"),
      err.message,
    );
  });
});

Deno.test("a replaced (empty) drive gets the id expected at its position", async () => {
  await withDirs(4, async (dirs) => {
    const drives = await openAll(dirs);
    const first = await loadOrInitFormat(drives, layout);
    const before = await formatOf(drives[3]);
    await Deno.remove(dirs[3], { recursive: true });
    const reopened = await openAll(dirs);
    const result = await loadOrInitFormat(reopened, layout);
    assertEquals(result.deploymentId, first.deploymentId);
    assertEquals(await formatOf(reopened[3]), before);
  });
});

Deno.test("a drive without format.json that holds data: quarantined and formatted into its slot in an existing deployment, refused in a new one", async () => {
  await withDirs(4, async (dirs) => {
    const first = await loadOrInitFormat(await openAll(dirs), layout);
    const drives = await openAll(dirs);
    await drives[1].delete(SYSTEM_VOLUME, FORMAT_FILE);
    await drives[1].makeVolume("bucket");
    await drives[1].writeAll("bucket", "obj/xl.meta", new Uint8Array([1, 2, 3]));
    const result = await loadOrInitFormat(drives, layout);
    assertEquals(result.formatted, [1]);
    assertEquals(drives[1].state, "healing");
    assertEquals(await formatOf(drives[1]), {
      ...await formatOf(drives[0]),
      xl: { ...first.reference.xl, this: first.reference.xl.sets[0][1] },
    });
    assertEquals(await drives[1].listVolumes(), []);
    const kept = [...Deno.readDirSync(join(dirs[1], QUARANTINE_DIR))].map((e) => e.name);
    assertEquals(kept.length, 1);
    const moved = join(dirs[1], QUARANTINE_DIR, kept[0], "bucket", "obj", "xl.meta");
    assertEquals(await Deno.readFile(moved), new Uint8Array([1, 2, 3]));

    await withDirs(4, async (fresh) => {
      const some = await openAll(fresh);
      await some[2].makeVolume("bucket");
      await assertRejects(() => loadOrInitFormat(some, layout), UnformattedDisk, "holds data");
      // Refused before any drive was formatted: the next start must not see a deployment.
      // (Writes the refusal did not wait for would land within moments: give them time.)
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const drive of some) {
        await assertRejects(() => drive.readAll(SYSTEM_VOLUME, FORMAT_FILE));
      }
    });
  });
});

Deno.test("offline drives stay offline; the format needs half of all drives", async () => {
  await withDirs(4, async (dirs) => {
    const first = await loadOrInitFormat(await openAll(dirs), layout);
    const drives = await openAll(dirs);
    drives[1] = offlineDrive(dirs[1]);
    const three = await loadOrInitFormat(drives, layout);
    assertEquals(three.deploymentId, first.deploymentId);
    assertEquals(three.sets[0][1].state, "offline");
    assertEquals(three.sets[1], [drives[2], drives[3]]);

    // A drive whose directory vanished after open reports DiskNotFound: offline too.
    const reopened = await openAll(dirs);
    await Deno.remove(dirs[0], { recursive: true });
    const gone = await loadOrInitFormat(reopened, layout);
    assertEquals(gone.sets[0].map((d) => d.state), ["offline", "online"]);
    await assertRejects(() => Deno.stat(dirs[0]));
    await XlStorage.open(dirs[0]);
    await loadOrInitFormat(await openAll(dirs), layout);

    // Only one of four agrees (the others offline or empty): no quorum.
    const wiped = await openAll(dirs);
    await wiped[3].delete(SYSTEM_VOLUME, FORMAT_FILE);
    await assertRejects(
      () =>
        loadOrInitFormat(
          [wiped[0], offlineDrive(dirs[1]), offlineDrive(dirs[2]), wiped[3]],
          layout,
        ),
      UnformattedDisk,
      "no quorum",
    );
    // The wiped drive was not formatted by the refused attempt.
    await assertRejects(() => formatOf(wiped[3]));
    // Two of four (half, as MinIO) is enough: the wiped drive gets its id back.
    const half = await loadOrInitFormat(
      [wiped[0], offlineDrive(dirs[1]), wiped[2], wiped[3]],
      layout,
    );
    assertEquals(half.deploymentId, first.deploymentId);
    assertEquals((await formatOf(wiped[3])).id, first.deploymentId);

    // A fresh deployment needs every drive.
    await withDirs(4, async (fresh) => {
      const some = await openAll(fresh);
      some[0] = offlineDrive(fresh[0]);
      await assertRejects(() => loadOrInitFormat(some, layout), DiskNotFound);
    });
  });
});

Deno.test("parseFormat rejects malformed formats", () => {
  const good = newFormat(layout);
  assertEquals(parseFormat(serializeFormat(good)), good);
  const bad: unknown[] = [
    "not json",
    { ...good, version: 2 },
    { ...good, format: "fs" },
    { ...good, id: "" },
    { ...good, xl: { ...good.xl, distributionAlgo: "SIPMOD" } },
    { ...good, xl: { ...good.xl, this: "unknown" } },
    { ...good, xl: { ...good.xl, sets: [["a", "b"], ["c"]] } },
    { ...good, xl: { ...good.xl, sets: [[good.xl.this, good.xl.this]] } },
  ];
  for (const b of bad) {
    const bytes = new TextEncoder().encode(typeof b === "string" ? b : JSON.stringify(b));
    assertThrows(() => parseFormat(bytes), FileCorrupt);
  }
  assertNotEquals(newFormat(layout).id, good.id);
});

Deno.test("a corrupt format.json is refused, not overwritten", async () => {
  await withDirs(4, async (dirs) => {
    await loadOrInitFormat(await openAll(dirs), layout);
    const drives = await openAll(dirs);
    await drives[0].writeAll(SYSTEM_VOLUME, FORMAT_FILE, new TextEncoder().encode("{garbage"));
    await assertRejects(() => loadOrInitFormat(drives, layout), UnformattedDisk, dirs[0]);
  });
});

Deno.test("two deployments with half the drives each: a tie is refused", async () => {
  await withDirs(4, async (a) => {
    await withDirs(4, async (b) => {
      await loadOrInitFormat(await openAll(a), layout);
      await loadOrInitFormat(await openAll(b), layout);
      const mixed = [...(await openAll(a)).slice(0, 2), ...(await openAll(b)).slice(2)];
      await assertRejects(() => loadOrInitFormat(mixed, layout), UnformattedDisk, "no quorum");
    });
  });
});

// A cluster node's view: drives 0 and 2 are its own, 1 and 3 a peer's (local drives stand in
// for the peer's remote ones; the rules depend only on which node holds a drive).
const NODE_VIEW = { local: [true, false, true, false] };

Deno.test("cluster: only the first node formats a new deployment; the others wait for it", async () => {
  await withDirs(4, async (dirs) => {
    const drives = await openAll(dirs);
    await assertRejects(
      () => loadOrInitFormat(drives, layout, { ...NODE_VIEW, formatter: "127.0.0.1:9001" }),
      FormatPending,
      "waiting for node 127.0.0.1:9001 to format the new deployment",
    );
    for (const drive of drives) assertEquals(await drive.listVolumes(), []);
    // The first node formats every drive, its peers' included.
    const first = await loadOrInitFormat(drives, layout, { local: [false, true, false, true] });
    const again = await loadOrInitFormat(await openAll(dirs), layout, {
      ...NODE_VIEW,
      formatter: "127.0.0.1:9001",
    });
    assertEquals(again.deploymentId, first.deploymentId);
    assertEquals(again.formatted, []);
  });
});

Deno.test("cluster: a node formats only its own wiped drive; a peer's wiped or foreign drive is offline, untouched", async () => {
  await withDirs(5, async (dirs) => {
    await loadOrInitFormat(await openAll(dirs.slice(0, 4)), layout);
    await loadOrInitFormat(await openAll([dirs[4]]), { setCount: 1, setDriveCount: 1 });
    const wipe = async (dir: string) => {
      await Deno.remove(join(dir, SYSTEM_VOLUME, FORMAT_FILE));
      await Deno.mkdir(join(dir, "bucket"));
    };
    // The peer's drive 4 is wiped, its drive 2 replaced by a drive of another deployment.
    await wipe(dirs[3]);
    const drives = await openAll([dirs[0], dirs[4], dirs[2], dirs[3]]);
    const result = await loadOrInitFormat(drives, layout, NODE_VIEW);
    assertEquals(result.formatted, []);
    assertEquals(drives[1].state, "offline");
    assertStringIncludes(drives[1].reason, "belongs to deployment");
    assertEquals(drives[3].state, "offline");
    assertStringIncludes(drives[3].reason, "its own node formats it");
    await assertRejects(() => Deno.stat(join(dirs[3], SYSTEM_VOLUME, FORMAT_FILE)));
    await assertRejects(() => Deno.stat(join(dirs[3], QUARANTINE_DIR)));
    assert((await Deno.stat(join(dirs[3], "bucket"))).isDirectory);
    // This node's own wiped drive is quarantined, formatted into its slot, healing.
    await wipe(dirs[2]);
    const own = await openAll(dirs.slice(0, 4));
    assertEquals((await loadOrInitFormat(own, layout, NODE_VIEW)).formatted, [2]);
    assertEquals(own[2].state, "healing");
    assertEquals([...Deno.readDirSync(join(dirs[2], QUARANTINE_DIR))].length, 1);
    // The same foreign drive held by this node refuses the start.
    await assertRejects(
      async () =>
        loadOrInitFormat(await openAll([dirs[0], dirs[4], dirs[2], dirs[3]]), layout, {
          local: [true, true, true, false],
        }),
      UnformattedDisk,
      "belongs to deployment",
    );
  });
});

Deno.test("cluster: peers' drives unreachable, no quorum on the format yet: retryable, nothing formatted", async () => {
  await withDirs(4, async (dirs) => {
    await loadOrInitFormat(await openAll(dirs), layout);
    await Deno.remove(join(dirs[0], SYSTEM_VOLUME, FORMAT_FILE));
    const drives = [
      (await openAll([dirs[0]]))[0],
      offlineDrive(dirs[1]),
      (await openAll([dirs[2]]))[0],
      offlineDrive(dirs[3]),
    ];
    await assertRejects(
      () => loadOrInitFormat(drives, layout, { ...NODE_VIEW, formatter: "127.0.0.1:9001" }),
      FormatPending,
      "no quorum on the format",
    );
    await assertRejects(() => Deno.stat(join(dirs[0], SYSTEM_VOLUME, FORMAT_FILE)));
  });
});

Deno.test("cluster: the drive monitor never formats a peer's wiped drive", async () => {
  await withDirs(4, async (dirs) => {
    const drives = await openAll(dirs);
    const format = await loadOrInitFormat(drives, layout, NODE_VIEW);
    const formatted: number[][] = [];
    const monitor = new DriveMonitor(format.sets, format.reference, {
      onDriveFormatted: (set, drive) => formatted.push([set, drive]),
      ...NODE_VIEW,
    });
    try {
      for (const i of [1, 2]) {
        await Deno.remove(join(dirs[i], SYSTEM_VOLUME, FORMAT_FILE));
        drives[i].setState("offline", "wiped");
      }
      await monitor.probeOffline();
      assertEquals(formatted, [[1, 0]]);
      assertEquals(drives[2].state, "healing");
      assertEquals(drives[1].state, "offline");
      assertStringIncludes(drives[1].reason, "its own node formats it");
      await assertRejects(() => Deno.stat(join(dirs[1], SYSTEM_VOLUME, FORMAT_FILE)));
    } finally {
      await monitor.close();
    }
  });
});
