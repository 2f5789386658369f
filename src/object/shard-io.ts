/**
 * Object bytes ↔ the shard files of a set's drives: writing an incoming stream as erasure-coded
 * shards (to files or, for small objects, to memory for inline storage), and reading a byte
 * range back across the object's parts.
 */
import { BLOCK_SIZE, CHECKSUM_SIZE, ErasureCodec } from "../erasure/codec.ts";
import { sealFrame } from "../erasure/bitrot.ts";
import {
  decodeStream,
  encodeStream,
  MemoryShard,
  type ShardSink,
  type ShardSource,
} from "../erasure/stream.ts";
import type { FileWriter, StorageAPI } from "../storage/api.ts";
import { IncompleteBody, InsufficientWriteQuorum } from "./errors.ts";
import type { Drives, QuorumVersion } from "./quorum.ts";
import type { ObjectVersion } from "../storage/xl-meta.ts";

/**
 * Erasure-codes `body` into `volume/path` on every available drive (drive i gets shard
 * distribution[i]), or on those `only` picks; files are complete (fsynced) when this
 * resolves. Returns which drives hold their shard. A drive that fails is left out; fewer than `writeQuorum` left throws
 * InsufficientWriteQuorum after dropping every file written.
 */
export async function writeShardFiles(
  codec: ErasureCodec,
  drives: Drives,
  distribution: number[],
  volume: string,
  path: string,
  body: ReadableStream<Uint8Array>,
  writeQuorum: number,
  only?: readonly boolean[],
): Promise<boolean[]> {
  const writers = await Promise.all(
    drives.map((d, i) =>
      d.available && (only?.[i] ?? true)
        ? d.createFile(volume, path).catch(() => undefined)
        : undefined
    ),
  );
  const sinks: (ShardSink | undefined)[] = new Array(codec.totalShards).fill(undefined);
  writers.forEach((w, i) => {
    if (w) sinks[distribution[i] - 1] = w;
  });
  const abortAll = () => Promise.all(writers.map((w) => w?.abort()));
  let failed: number[];
  try {
    ({ failed } = await encodeStream(codec, body, sinks, writeQuorum));
  } catch (err) {
    await abortAll();
    throw err;
  }
  const written = await Promise.all(writers.map(async (w, i) => {
    if (!w) return false;
    if (failed.includes(distribution[i] - 1)) {
      await w.abort();
      return false;
    }
    return await (w as FileWriter).close().then(() => true, () => w.abort().then(() => false));
  }));
  if (written.filter(Boolean).length < writeQuorum) {
    await abortAll();
    throw new InsufficientWriteQuorum(
      `${volume}/${path}: ${
        written.filter(Boolean).length
      } shard files written, ${writeQuorum} needed`,
    );
  }
  return written;
}

/**
 * Erasure-codes a small body of exactly `size` bytes into memory: one framed shard per shard index, laid out as encodeStream writes
 * them. Sized to the body: encodeStream's frame sets are sized for 1 MiB stripes.
 */
export async function encodeInline(
  codec: ErasureCodec,
  body: ReadableStream<Uint8Array>,
  size: number,
): Promise<Uint8Array[]> {
  const data = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of body) {
    if (filled + chunk.byteLength > size) {
      throw new IncompleteBody(`body longer than ${size} bytes`);
    }
    data.set(chunk, filled);
    filled += chunk.byteLength;
  }
  if (filled !== size) throw new IncompleteBody(`body of ${filled} bytes, ${size} expected`);
  const shards = Array.from(
    { length: codec.totalShards },
    () => new Uint8Array(codec.shardFileSize(size)),
  );
  let at = 0;
  for (let offset = 0; offset < size; offset += BLOCK_SIZE) {
    const blocks = codec.encodeStripe(data.subarray(offset, Math.min(size, offset + BLOCK_SIZE)));
    blocks.forEach((block, i) => {
      const frame = shards[i].subarray(at, at + CHECKSUM_SIZE + block.byteLength);
      frame.set(block, CHECKSUM_SIZE);
      sealFrame(frame);
    });
    at += CHECKSUM_SIZE + blocks[0].byteLength;
  }
  return shards;
}

/**
 * The shard sources of part `partNumber` of an object (by shard index), from the drives that
 * hold the agreed version: their inline shard or their part file.
 */
export function partSources(
  codec: ErasureCodec,
  drives: readonly StorageAPI[],
  holders: (ObjectVersion | undefined)[],
  bucket: string,
  path: string,
  partNumber: number,
): (ShardSource | undefined)[] {
  const sources: (ShardSource | undefined)[] = new Array(codec.totalShards).fill(undefined);
  holders.forEach((v, i) => {
    const drive = drives[i];
    if (!v) return;
    sources[v.erasure.index - 1] = v.inline ? MemoryShard.of(v.inline) : {
      open: (offset, length, chunkSize) =>
        drive.readFileStream(bucket, `${path}/${v.dataDir}/part.${partNumber}`, offset, length, {
          chunkSize,
        }),
    };
  });
  return sources;
}

export interface ReadOptions {
  start: number;
  length: number;
  onShardError: () => void;
  /** Runs once, when the stream ends, fails or is cancelled (releases the read lock). */
  onEnd: () => void;
}

/** Bytes [start, start+length) of the agreed version, part after part. */
export function readObject(
  drives: Drives,
  q: QuorumVersion,
  bucket: string,
  path: string,
  options: ReadOptions,
): ReadableStream<Uint8Array> {
  const { version } = q;
  const { start, length, onShardError, onEnd } = options;
  const codec = new ErasureCodec(version.erasure.dataShards, version.erasure.parityShards);
  const segments: { number: number; size: number; offset: number; length: number }[] = [];
  let partStart = 0;
  for (const part of version.parts) {
    const from = Math.max(start, partStart);
    const to = Math.min(start + length, partStart + part.size);
    if (from < to) {
      segments.push({
        number: part.number,
        size: part.size,
        offset: from - partStart,
        length: to - from,
      });
    }
    partStart += part.size;
  }
  let next = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          if (!reader) {
            const s = segments[next++];
            if (!s) {
              onEnd();
              controller.close();
              return;
            }
            const sources = partSources(codec, drives, q.holders, bucket, path, s.number);
            reader = decodeStream(codec, s.size, s.offset, s.length, sources, onShardError)
              .getReader();
          }
          const chunk = await reader!.read();
          if (!chunk.done) return controller.enqueue(chunk.value);
          reader = undefined;
        }
      } catch (err) {
        onEnd();
        throw err;
      }
    },
    async cancel(reason) {
      onEnd();
      await reader?.cancel(reason);
    },
  });
}
