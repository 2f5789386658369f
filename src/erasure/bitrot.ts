/**
 * Bitrot framing of shard blocks: frame = 8-byte little-endian CRC-64/XZ of the block, then the
 * block. Every block is verified before any of its bytes leave the decoder.
 */

import { crc64 } from "../../ffi/isal.ts";
import { FileCorrupt } from "../storage/errors.ts";
import { CHECKSUM_SIZE } from "./codec.ts";

function view(frame: Uint8Array): DataView {
  return new DataView(frame.buffer, frame.byteOffset, CHECKSUM_SIZE);
}

/** Writes the checksum of frame[8..] into frame[0..8). */
export function sealFrame(frame: Uint8Array): void {
  view(frame).setBigUint64(0, crc64(frame.subarray(CHECKSUM_SIZE)), true);
}

/** Returns the block of a frame after checking it; throws FileCorrupt on a mismatch. */
export function openFrame(frame: Uint8Array): Uint8Array {
  if (frame.byteLength < CHECKSUM_SIZE) throw new FileCorrupt("shard frame shorter than checksum");
  const block = frame.subarray(CHECKSUM_SIZE);
  if (view(frame).getBigUint64(0, true) !== crc64(block)) {
    throw new FileCorrupt("shard block checksum mismatch");
  }
  return block;
}
