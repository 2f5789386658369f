/**
 * Peer storage beyond the conformance suite: a peer's drive faults come back as the same
 * errors, a hung peer (frozen behind a TCP relay, as SIGSTOP leaves it) costs one deadline and
 * takes its drives offline, a dead one is DiskNotFound and is not asked again at once, large
 * shards stream under idle deadlines without being cut, and the server refuses what a peer
 * should never send (other drives, escaping paths, oversized or malformed bodies).
 * Everything runs over the real router, server and client on 127.0.0.1 in this process.
 */
import { assert, assertEquals, assertRejects } from "./helpers/assert.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { SYSTEM_VOLUME, TMP_DIR } from "../src/storage/api.ts";
import { DriveHandle } from "../src/storage/drive-handle.ts";
import {
  DiskAccessDenied,
  DiskFull,
  DiskNotFound,
  DiskTimeout,
  FileNotFound,
} from "../src/storage/errors.ts";
import { XlStorage } from "../src/storage/xl-storage.ts";
import { PeerCallError, PeerClient } from "../src/cluster/internode-client.ts";
import { InternodeAuth } from "../src/cluster/internode-auth.ts";
import { openRemoteDrive } from "../src/storage/rest-storage.ts";
import { Frame, frame } from "../src/cluster/storage-wire.ts";
import { FaultyDrive } from "./helpers/faulty-drive.ts";
import { ROOT, startStoragePeer } from "./helpers/storage-peer.ts";
import { hasOpenssl, selfSignedCert } from "./helpers/tls.ts";

const quiet = { log: () => {} };
const enc = new TextEncoder();
const FULL = Deno.env.get("FLASHSTOR_TEST_FULL") === "1";

/** A peer serving one FaultyDrive (behind its own handle, `localTimeoutMs`) at `dir`. */
async function faultyPeer(dir: string, localTimeoutMs = 10_000) {
  const faulty = new FaultyDrive(await XlStorage.open(dir));
  const local = await DriveHandle.of(faulty, { ...quiet, timeoutMs: localTimeoutMs });
  const peer = startStoragePeer();
  peer.serve(dir, local);
  return { faulty, local, peer };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-peer-storage-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Bytes i of a deterministic stream: chunk `n` of `size` bytes. */
function chunkOf(n: number, size: number): Uint8Array {
  const chunk = new Uint8Array(size);
  const view = new DataView(chunk.buffer);
  for (let i = 0; i + 4 <= size; i += 4096) view.setUint32(i, n * size + i);
  return chunk;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("peer storage: a peer's drive faults come back as the errors its drive threw", async (t) => {
  await withDir(async (dir) => {
    const { faulty, local, peer } = await faultyPeer(dir, 300);
    const remote = await peer.open(dir, 5_000);
    try {
      await remote.makeVolume("b");
      await t.step("ENOSPC → DiskFull, EROFS → DiskAccessDenied, EIO → DiskNotFound", async () => {
        faulty.inject({ kind: "error", errno: "ENOSPC" }, ["writeAll"]);
        faulty.inject({ kind: "error", errno: "EROFS" }, ["deleteObject"]);
        faulty.inject({ kind: "error", errno: "EIO" }, ["listDir"]);
        await assertRejects(() => remote.writeAll("b", "k", enc.encode("x")), DiskFull);
        await assertRejects(() => remote.deleteObject("b", "k"), DiskAccessDenied);
        await assertRejects(() => remote.listDir("b", ""), DiskNotFound);
        faulty.heal();
      });
      await t.step("the peer's own drive timing out is DiskTimeout here", async () => {
        faulty.inject({ kind: "hang" }, ["statFile"]);
        await assertRejects(() => remote.statFile("b", "k"), DiskTimeout);
        faulty.heal();
        // The peer's monitor would bring its drive back; this one's handle likewise.
        local.setState("online");
        remote.setState("online");
      });
      await t.step(
        "a shard write the peer's drive breaks midway fails, the file is dropped",
        async () => {
          const dir2 = `${TMP_DIR}/broken`;
          faulty.inject({ kind: "disconnect", afterBytes: 1 << 20 }, ["write"]);
          const writer = await remote.createFile(SYSTEM_VOLUME, `${dir2}/part.1`);
          await assertRejects(async () => {
            for (let i = 0; i < 8; i++) await writer.write(chunkOf(i, 256 * 1024));
            await writer.close();
          }, DiskNotFound);
          await writer.abort();
          faulty.heal();
          await assertRejects(
            () => faulty.inner.statFile(SYSTEM_VOLUME, `${dir2}/part.1`),
            FileNotFound,
          );
          // A full drive midway: the writer hears DiskFull, whatever its connection then does.
          faulty.inject({ kind: "error", errno: "ENOSPC" }, ["write"]);
          const full = await remote.createFile(SYSTEM_VOLUME, `${dir2}/part.2`);
          await assertRejects(async () => {
            for (let i = 0; i < 8; i++) await full.write(chunkOf(i, 256 * 1024));
            await full.close();
          }, DiskFull);
          await full.abort();
          faulty.heal();
          await assertRejects(
            () => faulty.inner.statFile(SYSTEM_VOLUME, `${dir2}/part.2`),
            FileNotFound,
          );
        },
      );
    } finally {
      await peer.close();
    }
  });
});

Deno.test("peer storage: the server refuses what a peer should never send", async (t) => {
  await withDir(async (dir) => {
    const drive = join(dir, "d1");
    const { peer } = await faultyPeer(drive);
    const call = async (method: string, query: Record<string, string>, body?: Uint8Array) => {
      try {
        const response = await peer.client.call("storage", method, { query, body });
        await response.body?.cancel();
        return { status: response.status, code: "" };
      } catch (err) {
        if (!(err instanceof PeerCallError)) throw err;
        return { status: err.status, code: err.code };
      }
    };
    try {
      await t.step("only this node's drives, by their exact path", async () => {
        assertEquals(await call("listVolumes", { drive: dir }), {
          status: 404,
          code: "DiskNotFound",
        });
        assertEquals(await call("listVolumes", {}), { status: 404, code: "DiskNotFound" });
        assertEquals((await call("listVolumes", { drive })).status, 200);
        assertEquals(await call("format", { drive }), { status: 404, code: "UnknownMethod" });
        assertEquals(await call("constructor", { drive }), { status: 404, code: "UnknownMethod" });
      });
      await t.step("no path leaves the drive or the volume", async () => {
        for (
          const [volume, path] of [["..", "x"], [".", "x"], ["b", "../x"], ["b", "a/../../x"], [
            "b/c",
            "x",
          ], ["b", "/etc/passwd"]]
        ) {
          assertEquals(
            await call("writeAll", { drive, volume, path }, enc.encode("escape")),
            { status: 403, code: "DiskAccessDenied" },
            `${volume} ${path}`,
          );
        }
        assertEquals(
          await call("renameData", {
            drive,
            srcVolume: SYSTEM_VOLUME,
            srcPath: "",
            dstVolume: "b",
            object: "k",
            dataDir: "../../x",
          }),
          { status: 403, code: "DiskAccessDenied" },
        );
        for await (const entry of Deno.readDir(dir)) assertEquals(entry.name, "d1");
      });
      await t.step("arguments missing or malformed: 400", async () => {
        assertEquals((await call("readAll", { drive, volume: SYSTEM_VOLUME })).status, 400);
        for (const offset of ["-1", "abc", "1e3", "99999999999999999"]) {
          assertEquals(
            (await call("readFileStream", { drive, volume: "b", path: "k", offset, length: "1" }))
              .status,
            400,
          );
        }
      });
      await t.step("a small call's body over the bound is refused, unread", async () => {
        const auth = await new InternodeAuth(ROOT, "127.0.0.1:1").authorization();
        const url = `${peer.url}/flashstor/internode/v1/storage/writeAll?drive=${
          encodeURIComponent(drive)
        }&volume=${SYSTEM_VOLUME}&path=big`;
        // Declared too large: refused from the header. Streamed too large: cut at the bound.
        const conn = await Deno.connect({
          hostname: "127.0.0.1",
          port: Number(peer.node.split(":")[1]),
        });
        const target = url.slice(peer.url.length);
        await conn.write(enc.encode(
          `PUT ${target} HTTP/1.1\r\nhost: x\r\nauthorization: ${auth}\r\ncontent-length: 1000000000\r\n\r\n`,
        ));
        const answer = new Uint8Array(4096);
        const n = await conn.read(answer);
        conn.close();
        assert(new TextDecoder().decode(answer.subarray(0, n ?? 0)).startsWith("HTTP/1.1 400"));
        let sent = 0;
        const body = new ReadableStream<Uint8Array>({
          pull: (c) => {
            if (sent >= 80 << 20) return c.close();
            sent += 1 << 20;
            c.enqueue(new Uint8Array(1 << 20));
          },
        });
        const response = await fetch(url, {
          method: "PUT",
          body,
          headers: { authorization: auth },
          duplex: "half",
        } as RequestInit).catch(() => undefined);
        if (response) {
          assertEquals(response.status, 400);
          await response.body?.cancel();
        }
        await assertRejects(
          () => XlStorage.open(drive).then((d) => d.statFile(SYSTEM_VOLUME, "big")),
          FileNotFound,
        );
      });
      await t.step("a shard write cut or malformed drops its file", async () => {
        const frames = (...parts: Uint8Array[]) =>
          new ReadableStream<Uint8Array>({
            start(c) {
              for (const p of parts) c.enqueue(p);
              c.close();
            },
          });
        const open = (path: string, body: ReadableStream<Uint8Array>) =>
          peer.client.call("storage", "createFile", {
            query: { drive, volume: SYSTEM_VOLUME, path },
            body,
          }).then((r) => r.text());
        const data = frame(Frame.DATA, enc.encode("partial"));
        // Ends without END: the peer went away.
        assert((await open(`${TMP_DIR}/cut/part.1`, frames(data))).includes("without close"));
        // A frame claiming more than it holds.
        const lying = frame(Frame.DATA, enc.encode("abc"));
        new DataView(lying.buffer).setUint32(1, 1000);
        assert((await open(`${TMP_DIR}/lie/part.1`, frames(lying))).includes("cut"));
        // A kind that does not exist, a walk frame in a write.
        assert(
          (await open(`${TMP_DIR}/odd/part.1`, frames(data, new Uint8Array([99, 0, 0, 0, 0]))))
            .length > 0,
        );
        const local = await XlStorage.open(drive);
        for (const name of ["cut", "lie", "odd"]) {
          await assertRejects(
            () => local.statFile(SYSTEM_VOLUME, `${TMP_DIR}/${name}/part.1`),
            FileNotFound,
          );
        }
      });
      await t.step("no token, S3 credentials or other root credentials: 403", async () => {
        const target = `${peer.url}/flashstor/internode/v1/storage/listVolumes?drive=${
          encodeURIComponent(drive)
        }`;
        for (
          const authorization of [undefined, "AWS4-HMAC-SHA256 Credential=x/y", "Bearer x.y.z"]
        ) {
          const response = await fetch(target, { headers: authorization ? { authorization } : {} });
          assertEquals(response.status, 403);
          assertEquals((await response.json()).code, "InternodeAccessDenied");
        }
        const other = new PeerClient(
          peer.url,
          peer.node,
          new InternodeAuth({ accessKey: "x", secretKey: "y" }, "n"),
        );
        try {
          await assertRejects(
            () => other.call("storage", "listVolumes", { query: { drive } }),
            PeerCallError,
          );
          const remote = openRemoteDrive(peer.endpoint(drive), other, quiet);
          await assertRejects(() => remote.connect(), DiskNotFound);
        } finally {
          other.close();
        }
      });
    } finally {
      await peer.close();
    }
  });
});

/** A TCP relay in front of a peer that can be frozen: connections stay open, nothing moves. */
function startRelay(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let frozen: PromiseWithResolvers<void> | undefined;
  const conns = new Set<Deno.Conn>();
  let accepted = 0;
  const pump = async (from: Deno.Conn, to: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buffer);
        if (n === null) break;
        while (frozen) await frozen.promise;
        for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
      }
    } catch {
      // Either side closed.
    }
    for (const c of [from, to]) {
      try {
        c.close();
      } catch { /* closed */ }
      conns.delete(c);
    }
  };
  const serving = (async () => {
    for await (const client of listener) {
      accepted++;
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(client).add(upstream);
      pump(client, upstream);
      pump(upstream, client);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    freeze: () => frozen ??= Promise.withResolvers<void>(),
    thaw: () => {
      frozen?.resolve();
      frozen = undefined;
    },
    /** Drops every connection (a peer restarting). */
    drop: () => {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      conns.clear();
    },
    close: async () => {
      frozen?.resolve();
      frozen = undefined;
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

Deno.test("peer storage: a hung peer costs one deadline and takes its drive offline; connections are reused", async (t) => {
  await withDir(async (dir) => {
    const peer = startStoragePeer();
    const local = await DriveHandle.of(await XlStorage.open(dir), quiet);
    peer.serve(dir, local);
    const relay = startRelay(Number(peer.node.split(":")[1]));
    const node = `127.0.0.1:${relay.port}`;
    const client = new PeerClient(`http://${node}`, node, new InternodeAuth(ROOT, "127.0.0.1:1"));
    const endpoint = { endpoint: `http://${node}${dir}`, path: dir, node, local: false };
    const timeoutMs = 500;
    const open = async () => {
      const handle = openRemoteDrive(endpoint, client, { timeoutMs, ...quiet });
      await handle.connect();
      return handle;
    };
    try {
      await t.step(
        "small calls share keep-alive connections; a dropped one is replaced",
        async () => {
          const remote = await open();
          await remote.makeVolume("b");
          await remote.writeAll("b", "k/xl.meta", enc.encode("meta"));
          for (let i = 0; i < 100; i++) await remote.readAll("b", "k/xl.meta");
          assert(relay.accepted <= 3, `${relay.accepted} connections for 102 sequential calls`);
          relay.drop();
          assertEquals(new TextDecoder().decode(await remote.readAll("b", "k/xl.meta")), "meta");
        },
      );
      const writer = await (await open()).createFile(SYSTEM_VOLUME, `${TMP_DIR}/w/part.1`);
      await writer.write(chunkOf(0, 1024));
      await local.writeAll("b", "big", new Uint8Array(32 << 20));
      const reader = (await (await open()).readFileStream("b", "big", 0, 32 << 20)).getReader();
      await reader.read();
      const handles = await Promise.all([open(), open(), open(), open()]);
      relay.freeze();
      await t.step("every kind of call to the frozen peer fails with DiskTimeout", async () => {
        const [small, stream, walk, write] = handles;
        await assertRejects(() => small.readAll("b", "k/xl.meta"), DiskTimeout);
        await assertRejects(() => stream.readFileStream("b", "k/xl.meta", 0, 4), DiskTimeout);
        await assertRejects(async () => {
          for await (const _ of walk.walkDir("b", {})) { /* nothing */ }
        }, DiskTimeout);
        await assertRejects(
          () => write.createFile(SYSTEM_VOLUME, `${TMP_DIR}/x/part.1`),
          DiskTimeout,
        );
        for (const h of handles) assertEquals(h.state, "offline");
        // Offline: answered at once, without asking the peer.
        await assertRejects(() => small.statFile("b", "k/xl.meta"), DiskNotFound);
      });
      await t.step("streams already open time out at their next chunk", async () => {
        // What the sockets buffered still flows; the first chunk that does not come times out.
        await assertRejects(async () => {
          for (let i = 0; i < 64; i++) await writer.write(chunkOf(i, 1 << 20));
        }, DiskTimeout);
        await writer.abort();
        await assertRejects(async () => {
          for (let i = 0; i < 10_000; i++) if ((await reader.read()).done) return;
        }, DiskTimeout);
      });
      await t.step("opening against the frozen peer fails within the deadline", async () => {
        await assertRejects(() => open(), DiskNotFound);
      });
      relay.thaw();
      await t.step("thawed: the peer answers again (the monitor's probe)", async () => {
        const [small] = handles;
        assertEquals(
          new TextDecoder().decode(await small.probe((d) => d.readAll("b", "k/xl.meta"))),
          "meta",
        );
      });
    } finally {
      client.close();
      await relay.close();
      await peer.close();
    }
  });
});

Deno.test("peer storage: a dead peer is DiskNotFound, and failed opens back off", async () => {
  await withDir(async (dir) => {
    const { faulty, peer } = await faultyPeer(dir);
    try {
      faulty.inject({ kind: "error", errno: "EIO" }, ["diskInfo"]);
      const handle = openRemoteDrive(peer.endpoint(dir), peer.client, quiet);
      await assertRejects(() => handle.connect(), DiskNotFound);
      const asked = faulty.calls.get("diskInfo");
      // Right away again: refused here, the peer is not asked.
      await assertRejects(() => handle.connect(), DiskNotFound);
      assertEquals(faulty.calls.get("diskInfo"), asked);
      faulty.heal();
      const until = Date.now() + 10_000;
      while (!handle.opened && Date.now() < until) {
        await handle.connect().catch(() => sleep(100));
      }
      assert(handle.opened);
      assertEquals(await handle.probe((d) => d.listVolumes()), []);
      await peer.close();
      await assertRejects(() => handle.probe((d) => d.listVolumes()), DiskNotFound);
    } finally {
      await peer.close().catch(() => {});
    }
  });
});

Deno.test("peer storage: a large shard streams under idle deadlines, never cut, in bounded memory", async () => {
  const chunk = 2 << 20;
  const chunks = FULL ? 128 : 16;
  const timeoutMs = 1_500;
  // Paced so that the stream lasts longer than the deadline however fast the machine is.
  const pause = Math.ceil((2 * timeoutMs) / chunks);
  await withDir(async (dir) => {
    const peer = startStoragePeer();
    peer.serve(dir, await DriveHandle.of(await XlStorage.open(dir), quiet));
    try {
      const remote = await peer.open(dir, timeoutMs);
      const path = `${TMP_DIR}/large/part.1`;
      const rss = Deno.memoryUsage().rss;
      let peak = rss;
      const sent = createHash("sha256");
      const writer = await remote.createFile(SYSTEM_VOLUME, path);
      for (let i = 0; i < chunks; i++) {
        const data = chunkOf(i, chunk);
        sent.update(data);
        await writer.write(data);
        await sleep(pause);
        peak = Math.max(peak, Deno.memoryUsage().rss);
      }
      await writer.close();
      assertEquals((await remote.statFile(SYSTEM_VOLUME, path)).size, chunk * chunks);
      const got = createHash("sha256");
      let n = 0;
      for await (
        const piece of await remote.readFileStream(SYSTEM_VOLUME, path, 0, chunk * chunks)
      ) {
        got.update(piece);
        if (++n % 8 === 0) await sleep(pause);
        peak = Math.max(peak, Deno.memoryUsage().rss);
      }
      assertEquals(got.digest("hex"), sent.digest("hex"));
      const grew = (peak - rss) / (1 << 20);
      console.log(`${(chunk * chunks) >> 20} MiB each way, rss grew ${grew.toFixed(0)} MiB`);
      // Both ends live in this process: a shard held whole would show twice over.
      if (FULL) assert(grew < (chunk * chunks) / 2 / (1 << 20), `rss grew ${grew} MiB`);
    } finally {
      await peer.close();
    }
  });
});

Deno.test("peer storage: a walk of many objects streams, and stopping early ends it", async () => {
  await withDir(async (dir) => {
    const peer = startStoragePeer();
    const xl = await XlStorage.open(dir);
    peer.serve(dir, await DriveHandle.of(xl, quiet));
    try {
      const remote = await peer.open(dir);
      await remote.makeVolume("b");
      const names = Array.from({ length: 500 }, (_, i) => `k/${String(i).padStart(4, "0")}`);
      await Promise.all(names.map((n) => xl.writeAll("b", `${n}/xl.meta`, enc.encode(n))));
      const walked: string[] = [];
      for await (const e of remote.walkDir("b", {})) {
        assertEquals(new TextDecoder().decode(e.metadata), e.name);
        walked.push(e.name);
      }
      assertEquals(walked, names);
      let taken = 0;
      for await (const _ of remote.walkDir("b", { withMetadata: false })) {
        if (++taken === 10) break;
      }
      // The walk ended on both sides: the drive still answers at once.
      assertEquals((await remote.listDir("b", "k")).length, 500);
    } finally {
      await peer.close();
    }
  });
});

Deno.test({
  name: "peer storage: an https peer (small calls, shard write and read, walk) over TLS",
  ignore: !await hasOpenssl(),
  fn: async () => {
    await withDir(async (dir) => {
      const tls = await selfSignedCert(join(dir, "cert.pem"), join(dir, "key.pem"), "peer");
      const drive = join(dir, "d1");
      const peer = startStoragePeer({ tls });
      peer.serve(drive, await DriveHandle.of(await XlStorage.open(drive), quiet));
      try {
        const remote = await peer.open(drive);
        await remote.makeVolume("b");
        await remote.writeAll("b", "k/xl.meta", enc.encode("meta"));
        assertEquals(new TextDecoder().decode(await remote.readAll("b", "k/xl.meta")), "meta");
        const writer = await remote.createFile("b", "k/dd/part.1");
        for (let i = 0; i < 4; i++) await writer.write(chunkOf(i, 1 << 20));
        await writer.close();
        const sent = createHash("sha256");
        for (let i = 0; i < 4; i++) sent.update(chunkOf(i, 1 << 20));
        const got = createHash("sha256");
        for await (const piece of await remote.readFileStream("b", "k/dd/part.1", 0, 4 << 20)) {
          got.update(piece);
        }
        assertEquals(got.digest("hex"), sent.digest("hex"));
        const names = [];
        for await (const e of remote.walkDir("b", {})) names.push(e.name);
        assertEquals(names, ["k"]);
      } finally {
        await peer.close();
      }
    });
  },
});

Deno.test("peer storage: a shard stream that pauses between stripes (a slow client upload) is not cut by the front door's minimum body rate", async () => {
  await withDir(async (dir) => {
    // A 0.5 s rate window: 200 B in 2 s would be far below the 1 KiB/s a client must keep.
    const peer = startStoragePeer({ bodyRateWindowMs: 500 });
    peer.serve(dir, await DriveHandle.of(await XlStorage.open(dir), quiet));
    try {
      const remote = await peer.open(dir);
      const writer = await remote.createFile(SYSTEM_VOLUME, `${TMP_DIR}/paused/part.1`);
      await writer.write(new Uint8Array(100));
      await sleep(2_000);
      await writer.write(new Uint8Array(100));
      await writer.close();
      assertEquals((await remote.statFile(SYSTEM_VOLUME, `${TMP_DIR}/paused/part.1`)).size, 200);
    } finally {
      await peer.close();
    }
  });
});
