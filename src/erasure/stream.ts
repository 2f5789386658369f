/**
 * Object data ↔ shard files: stream → 1 MiB stripes → k+m bitrot-framed shard blocks, and back.
 * The public face of the erasure layer's streaming side; the pieces live beside it.
 */

export { encodeStream } from "./encode.ts";
export { decodeStream, type ShardErrorHandler } from "./decode.ts";
export { MemoryShard, type ShardSink, type ShardSource } from "./shard.ts";
