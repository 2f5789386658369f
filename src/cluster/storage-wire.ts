/**
 * What peer storage sends over the wire, shared by the client (src/storage/rest-storage.ts) and
 * the server (storage-server.ts): the storage errors as names that come back as the same
 * classes, and the frames of the streamed calls — a shard write (data frames, then close or
 * abort) and a walk (entries, then end or an error met midway). A frame is a kind byte, a
 * 32-bit big-endian payload length and the payload, so either end knows where a stream ended
 * cleanly and where it was cut, in bounded memory.
 */
import {
  DiskAccessDenied,
  DiskFull,
  DiskNotFound,
  DiskTimeout,
  DriveInUse,
  FileCorrupt,
  FileNotFound,
  NotADirectory,
  StorageError,
  UnformattedDisk,
  VolumeExists,
  VolumeNotEmpty,
  VolumeNotFound,
} from "../storage/errors.ts";
import { CorruptMeta } from "../storage/xl-meta.ts";
import type { WireError } from "./internode.ts";

export const Frame = {
  /** A piece of a shard file. */
  DATA: 1,
  /** The write is complete (client: fsync it; server: it is) or the walk ended. */
  END: 2,
  /** Drop the partial file. */
  ABORT: 3,
  /** A walk entry with its metadata: u32 name length, name (UTF-8), metadata. */
  ENTRY: 4,
  /** A walk entry, name only. */
  NAME: 5,
  /** The call failed: a JSON WireError. */
  ERROR: 6,
  /** The shard file is created: write on. */
  OPEN: 7,
} as const;
export type FrameKind = typeof Frame[keyof typeof Frame];

const HEADER = 5;
/** Largest frame either side accepts: a shard block, a walk entry with its xl.meta. */
export const MAX_FRAME = 64 * 1024 * 1024;
/** Largest body of a small call (writeAll, renameData's metadata). */
export const MAX_SMALL_BODY = 64 * 1024 * 1024;

/** One frame as bytes; `payload` is copied (callers reuse their buffers once a write resolves). */
export function frame(kind: FrameKind, payload?: Uint8Array): Uint8Array {
  const size = payload?.byteLength ?? 0;
  const out = new Uint8Array(HEADER + size);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, size);
  if (payload) out.set(payload, HEADER);
  return out;
}

/** A frame's head alone, for a payload sent after it (without copying it). */
export function frameHead(kind: FrameKind, size: number): Uint8Array {
  const out = new Uint8Array(HEADER);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, size);
  return out;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

export function errorFrame(err: unknown): Uint8Array {
  return frame(Frame.ERROR, utf8.encode(JSON.stringify(wireError(err))));
}

/** A walk entry's frame. */
export function entryFrame(name: string, metadata?: Uint8Array): Uint8Array {
  const encoded = utf8.encode(name);
  const out = new Uint8Array(HEADER + 4 + encoded.byteLength + (metadata?.byteLength ?? 0));
  const view = new DataView(out.buffer);
  out[0] = metadata ? Frame.ENTRY : Frame.NAME;
  view.setUint32(1, out.byteLength - HEADER);
  view.setUint32(HEADER, encoded.byteLength);
  out.set(encoded, HEADER + 4);
  if (metadata) out.set(metadata, HEADER + 4 + encoded.byteLength);
  return out;
}

/** The walk entry in an ENTRY or NAME frame's payload. */
export function parseEntry(
  kind: FrameKind,
  payload: Uint8Array,
): { name: string; metadata?: Uint8Array } {
  if (payload.byteLength < 4) throw new WireFormatError("walk entry too short");
  const length = new DataView(payload.buffer, payload.byteOffset).getUint32(0);
  if (4 + length > payload.byteLength) throw new WireFormatError("walk entry name cut");
  const name = strictUtf8.decode(payload.subarray(4, 4 + length));
  return kind === Frame.ENTRY ? { name, metadata: payload.slice(4 + length) } : { name };
}

/** The error an ERROR frame carries, as its class. */
export function parseErrorFrame(payload: Uint8Array): Error {
  let wire: WireError;
  try {
    wire = JSON.parse(strictUtf8.decode(payload)) as WireError;
  } catch {
    return new WireFormatError("malformed error frame");
  }
  return storageErrorOf(wire);
}

/** A peer sent bytes that do not follow this format. */
export class WireFormatError extends DiskNotFound {}

/**
 * Reads frames from a byte stream. `next` resolves to the next frame, or undefined where the
 * stream ended between frames; a stream cut inside a frame, or a frame longer than `max`,
 * throws WireFormatError. Payloads are views into the stream's chunks where they fit in one.
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(max = MAX_FRAME): Promise<{ kind: FrameKind; payload: Uint8Array } | undefined> {
    if (!await this.#fill(HEADER)) return undefined;
    const head = this.#take(HEADER);
    const kind = head[0] as FrameKind;
    const size = new DataView(head.buffer, head.byteOffset).getUint32(1);
    if (kind < Frame.DATA || kind > Frame.OPEN) throw new WireFormatError(`frame kind ${kind}`);
    if (size > max) throw new WireFormatError(`frame of ${size} bytes, at most ${max}`);
    if (!await this.#fill(size)) throw new WireFormatError("stream cut inside a frame");
    return { kind, payload: this.#take(size) };
  }

  /** Cancels the underlying stream (the other end sees the connection go). */
  cancel(reason?: unknown): Promise<void> {
    this.#chunks = [];
    this.#buffered = 0;
    return this.reader.cancel(reason).catch(() => {});
  }

  /** Buffers `n` bytes; false when the stream ends first (an error if some were there). */
  async #fill(n: number): Promise<boolean> {
    while (this.#buffered < n) {
      const { done, value } = await this.reader.read();
      if (done) {
        if (this.#buffered > 0) throw new WireFormatError("stream cut inside a frame");
        return n === 0;
      }
      if (value.byteLength === 0) continue;
      this.#chunks.push(value);
      this.#buffered += value.byteLength;
    }
    return true;
  }

  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (n === 0) return new Uint8Array(0);
    if (first.byteLength >= n) {
      out = first.subarray(0, n);
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        const chunk = this.#chunks[0];
        const part = Math.min(chunk.byteLength, n - at);
        out.set(chunk.subarray(0, part), at);
        at += part;
        if (part === chunk.byteLength) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(part);
      }
    }
    this.#buffered -= n;
    return out;
  }
}

/** The classes a peer's error comes back as, by name. */
const ERRORS: Record<string, new (message: string) => Error> = {
  StorageError,
  DiskNotFound,
  DiskTimeout,
  UnformattedDisk,
  VolumeNotFound,
  VolumeExists,
  VolumeNotEmpty,
  FileNotFound,
  FileCorrupt,
  DiskAccessDenied,
  DiskFull,
  DriveInUse,
  NotADirectory,
  CorruptMeta,
  RangeError,
  WireFormatError,
};

/** HTTP status of an error answer (informative: the client goes by the code). */
export function statusOf(err: unknown): number {
  if (err instanceof FileNotFound || err instanceof VolumeNotFound) return 404;
  if (err instanceof DiskTimeout) return 504;
  if (err instanceof DiskNotFound || err instanceof DriveInUse) return 503;
  if (err instanceof VolumeExists || err instanceof VolumeNotEmpty) return 409;
  if (err instanceof DiskFull) return 507;
  if (err instanceof DiskAccessDenied) return 403;
  if (err instanceof CorruptMeta || err instanceof RangeError) return 400;
  return 500;
}

export function wireError(err: unknown): WireError {
  if (err instanceof Error) {
    return { code: err.name in ERRORS ? err.name : "StorageError", message: err.message };
  }
  return { code: "StorageError", message: String(err) };
}

/** A peer's error answer as the class the drive would have thrown. */
export function storageErrorOf(wire: WireError): Error {
  const message = typeof wire.message === "string" ? wire.message : "";
  const known = Object.hasOwn(ERRORS, wire.code) ? ERRORS[wire.code] : undefined;
  return known ? new known(message) : new StorageError(`${wire.code}: ${message}`);
}
