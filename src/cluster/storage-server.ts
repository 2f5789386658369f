/**
 * The server side of peer storage: serves this node's drives to its peers (internode service
 * "storage"). Only the drives of this node are reachable, by the path the command line names
 * (`drive=<path>`); every call goes through the drive's handle, so a drive offline here is
 * offline for the peers too, and the local deadlines hold. Names are validated here as the
 * drive validates them, small bodies are bounded, shard writes and walks are streamed frames
 * (storage-wire.ts) and shard reads a plain byte stream. A stream the peer abandons (its
 * connection closes) ends here too; small calls are bounded by the drive's own deadlines.
 */
import { concatBytes } from "../bytes.ts";
import { errorResponse, type InternodeCall, type InternodeRouter } from "./internode.ts";
import type { DriveHandle } from "../storage/drive-handle.ts";
import { checkPath, checkVolume } from "../storage/paths.ts";
import { DiskNotFound } from "../storage/errors.ts";
import {
  entryFrame,
  errorFrame,
  Frame,
  frame,
  FrameReader,
  MAX_SMALL_BODY,
  statusOf,
  wireError,
} from "./storage-wire.ts";

/** A client mistake in a call's arguments: 400, never reaches the drive. */
class BadArgument extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BadRequest";
  }
}

type Method = (drive: DriveHandle, call: Args) => Promise<Response>;

/** The call's arguments, read and checked on use. */
class Args {
  constructor(readonly call: InternodeCall) {}

  string(name: string): string {
    const value = this.call.query.get(name);
    if (value === null) throw new BadArgument(`missing argument ${name}`);
    return value;
  }

  optional(name: string): string | undefined {
    return this.call.query.get(name) ?? undefined;
  }

  volume(name = "volume"): string {
    const value = this.string(name);
    checkVolume(value);
    return value;
  }

  /** A path inside a volume; "" only where the drive takes it (`allowEmpty`). */
  path(name = "path", allowEmpty = false): string {
    const value = this.string(name);
    checkPath(value, allowEmpty);
    return value;
  }

  optionalPath(name: string): string | undefined {
    return this.optional(name) === undefined ? undefined : this.path(name);
  }

  flag(name: string): boolean {
    return this.call.query.get(name) === "1";
  }

  count(name: string): number {
    const value = this.string(name);
    const n = /^\d{1,16}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n)) throw new BadArgument(`${name} must be a byte count`);
    return n;
  }

  /** The whole request body, refused beyond MAX_SMALL_BODY without reading it all. */
  async body(): Promise<Uint8Array> {
    const { request } = this.call;
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > MAX_SMALL_BODY) throw new BadArgument(`body over ${MAX_SMALL_BODY} bytes`);
    if (!request.body) return new Uint8Array(0);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of request.body) {
      size += chunk.byteLength;
      if (size > MAX_SMALL_BODY) throw new BadArgument(`body over ${MAX_SMALL_BODY} bytes`);
      chunks.push(chunk);
    }
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }
}

const ok = () => new Response(null, { status: 204 });
/** A walk's entries are sent in batches of about this many bytes, gathered for at most… */
const WALK_BATCH_BYTES = 64 * 1024;
/** …this long. */
const WALK_BATCH_MS = 20;
/** The first frame of a streamed answer (sent as two chunks, see createFile). */
const OPEN = frame(Frame.OPEN);

const METHODS: Record<string, Method> = {
  diskInfo: async (d) => Response.json(await d.diskInfo()),
  makeVolume: async (d, a) => (await d.makeVolume(a.volume()), ok()),
  listVolumes: async (d) => Response.json(await d.listVolumes()),
  statVolume: async (d, a) => Response.json(await d.statVolume(a.volume())),
  deleteVolume: async (d, a) => (
    await d.deleteVolume(a.volume(), a.flag("force")), ok()
  ),
  listDir: async (d, a) => Response.json(await d.listDir(a.volume(), a.path("path", true))),
  walkDir: walk,
  readAll: async (d, a) => new Response(await d.readAll(a.volume(), a.path()) as BodyInit),
  writeAll: async (d, a) => {
    const [volume, path] = [a.volume(), a.path()];
    await d.writeAll(volume, path, await a.body());
    return ok();
  },
  createFile,
  readFileStream: async (d, a) => {
    const stream = await d.readFileStream(
      a.volume(),
      a.path(),
      a.count("offset"),
      a.count("length"),
    );
    return new Response(stream);
  },
  statFile: async (d, a) => Response.json(await d.statFile(a.volume(), a.path())),
  renameData: async (d, a) => {
    const args = [
      a.volume("srcVolume"),
      a.path("srcPath", true),
      a.volume("dstVolume"),
      a.path("object"),
      a.path("dataDir", true),
    ] as const;
    const replaced = a.optionalPath("replacedDataDir");
    const old = await d.renameData(...args, await a.body(), replaced);
    return old ? new Response(old as BodyInit) : ok();
  },
  deleteObject: async (d, a) => (
    await d.deleteObject(a.volume(), a.path("object"), a.optionalPath("dataDir")), ok()
  ),
  deleteVersion: async (d, a) => (
    await d.deleteVersion(a.volume(), a.path("object"), a.string("versionId")), ok()
  ),
  delete: async (d, a) => (
    await d.delete(a.volume(), a.path(), a.flag("recursive")), ok()
  ),
};

/**
 * A shard write: the drive's file is created before the answer starts (a refused create is an
 * error answer), and the answer's first frame, OPEN, tells the peer to write on; the request's
 * frames are then written as they come, and the answer ends with END once the file is closed
 * (fsynced) or aborted, or with the error. A request that ends without END or ABORT (the peer
 * went away) drops the file.
 */
async function createFile(d: DriveHandle, a: Args): Promise<Response> {
  const writer = await d.createFile(a.volume(), a.path());
  const body = a.call.request.body;
  const frames = body ? new FrameReader(body.getReader()) : undefined;
  const outcome = async (): Promise<Uint8Array> => {
    try {
      for (;;) {
        const next = await frames?.next();
        if (!next) throw new DiskNotFound("shard write ended without close");
        if (next.kind === Frame.DATA) await writer.write(next.payload);
        else if (next.kind === Frame.END) {
          await writer.close();
          return frame(Frame.END);
        } else if (next.kind === Frame.ABORT) {
          await writer.abort();
          return frame(Frame.END);
        } else throw new DiskNotFound(`unexpected frame ${next.kind} in a shard write`);
      }
    } catch (err) {
      await writer.abort();
      await frames?.cancel();
      return errorFrame(err);
    }
  };
  return new Response(
    new ReadableStream<Uint8Array>({
      async start(controller) {
        // In two chunks: the front door (src/http/response.ts) sizes a body of unknown length
        // by its first two chunks before it starts the answer, and the peer waits for OPEN.
        controller.enqueue(OPEN.subarray(0, 1));
        controller.enqueue(OPEN.subarray(1));
        controller.enqueue(await outcome());
        // The request's end (after END or ABORT) is read too, so that the connection can
        // carry the peer's next call (Deno.serve waits for it; the front door drains it).
        await frames?.next().catch(() => {});
        controller.close();
      },
    }),
  );
}

/**
 * A walk: the first entry (or the error, e.g. a missing volume) is had before the answer
 * starts with OPEN; then one frame per entry as the peer reads them, END at the end, or ERROR
 * for a failure midway. The peer cancelling the answer ends the walk here.
 */
async function walk(d: DriveHandle, a: Args): Promise<Response> {
  const iterator = d.walkDir(a.volume(), {
    prefix: a.optional("prefix"),
    startAfter: a.optional("startAfter"),
    withMetadata: !a.flag("namesOnly"),
  })[Symbol.asyncIterator]();
  let next = await iterator.next();
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        // As a shard write's: the answer starts at once, before a second entry is found.
        controller.enqueue(OPEN.subarray(0, 1));
        controller.enqueue(OPEN.subarray(1));
      },
      // Entries go out in batches (one socket write for many), each bounded in size and in
      // time, so a sparse walk still sends what it found within WALK_BATCH_MS.
      async pull(controller) {
        const batch: Uint8Array[] = [];
        let size = 0;
        const until = Date.now() + WALK_BATCH_MS;
        try {
          while (!next.done && size < WALK_BATCH_BYTES && (size === 0 || Date.now() < until)) {
            batch.push(entryFrame(next.value.name, next.value.metadata));
            size += batch[batch.length - 1].byteLength;
            next = await iterator.next();
          }
          if (next.done) batch.push(frame(Frame.END));
        } catch (err) {
          batch.push(errorFrame(err));
          next = { done: true, value: undefined };
        }
        controller.enqueue(concatBytes(batch));
        if (next.done) controller.close();
      },
      cancel: async () => {
        await iterator.return(undefined);
      },
    }),
  );
}

/** Serves `drives` (by path on this node) to the peers. */
export function serveDrives(router: InternodeRouter, drives: ReadonlyMap<string, DriveHandle>) {
  router.register("storage", async (call) => {
    const fail = async (status: number, code: string, message: string) => {
      await call.request.body?.cancel().catch(() => {});
      return errorResponse(status, code, message);
    };
    const method = Object.hasOwn(METHODS, call.method) ? METHODS[call.method] : undefined;
    if (!method) return await fail(404, "UnknownMethod", `no storage method "${call.method}"`);
    const path = call.query.get("drive");
    const drive = path === null ? undefined : drives.get(path);
    if (!drive) {
      return await fail(404, "DiskNotFound", `no drive ${JSON.stringify(path)} on this node`);
    }
    try {
      return await method(drive, new Args(call));
    } catch (err) {
      if (err instanceof BadArgument) return await fail(400, "BadRequest", err.message);
      const wire = wireError(err);
      return await fail(statusOf(err), wire.code, wire.message);
    }
  });
}
