/**
 * xl.meta: the metadata file of one object on one drive.
 *
 * Layout: magic "FSXL", u32 format version, u32 JSON header length, JSON header, then per
 * version its u32 shard index on this drive and its inline data, then u32 CRC32 of everything
 * before it (all integers little endian). The header lists every version of the object, delete
 * markers included, newest first (see sortVersions). It holds nothing drive-specific, so every
 * drive of a set has the same header bytes and a read of all drives parses it once (see
 * parseHeader). Inline data is this drive's framed shard of a small object, so a small GET
 * reads one file per drive.
 *
 * Parsing is strict: any deviation throws CorruptMeta, and callers treat the drive as lacking
 * the object (it gets healed). Decoded inline data is a view of the bytes given to decode;
 * the rest of a decoded version is frozen, as it may be shared with other decodes.
 */
import { FileNotFound } from "./errors.ts";
import { crc32 } from "../../ffi/isal.ts";

const MAGIC = [0x46, 0x53, 0x58, 0x4c]; // "FSXL"
const FORMAT_VERSION = 2;
const PREFIX = 12;
const TRAILER = 4;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/** The only bitrot scheme: every shard block framed with its CRC-64/XZ (see src/erasure/bitrot.ts). */
export const BITROT_ALGORITHM = "crc64xz-framed";

export class CorruptMeta extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorruptMeta";
  }
}

export interface ErasureLayout {
  dataShards: number;
  parityShards: number;
  blockSize: number;
  /** 1-based shard index held by this drive. */
  index: number;
  /** distribution[drive] = 1-based shard index of each drive of the set. */
  distribution: number[];
}

export interface PartMeta {
  number: number;
  size: number;
  etag: string;
  /** Bytes before any transformation (compression, encryption); equals size for now. */
  actualSize: number;
}

export interface ChecksumInfo {
  part: number;
  algorithm: string;
}

export interface ObjectVersion {
  /** A UUID, or "null" for the version written while versioning was off or suspended. */
  versionId: string;
  size: number;
  /** Milliseconds since the epoch: Last-Modified, which metadata changes keep. */
  modTime: number;
  /**
   * When the metadata last changed (ms, increasing per version; absent: never). It joins
   * versionKey, so that drives holding the version before and after a change are told apart.
   */
  metadataModTime?: number;
  /** A delete marker: no data (size 0, no parts, dataDir ""). */
  deleteMarker?: true;
  etag: string;
  metadata: Record<string, string>;
  erasure: ErasureLayout;
  /** Directory of the part files; unused (but not "") when data is inline; "" for a marker. */
  dataDir: string;
  parts: PartMeta[];
  checksums: ChecksumInfo[];
  /** This drive's framed shard when the object is stored inline. */
  inline?: Uint8Array;
}

export interface XlMeta {
  versions: ObjectVersion[];
}

type HeaderVersion = Omit<ObjectVersion, "inline" | "erasure"> & {
  erasure: Omit<ErasureLayout, "index">;
  inlineLength: number;
};

export function encodeXlMeta(meta: XlMeta): Uint8Array {
  const header: HeaderVersion[] = meta.versions.map(({ inline, erasure, ...v }) => {
    const { index: _, ...shared } = erasure;
    return { ...v, erasure: shared, inlineLength: inline?.byteLength ?? -1 };
  });
  const json = utf8.encode(JSON.stringify({ versions: header }));
  const driveSection = meta.versions.reduce((n, v) => n + 4 + (v.inline?.byteLength ?? 0), 0);
  const out = new Uint8Array(PREFIX + json.byteLength + driveSection + TRAILER);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, json.byteLength, true);
  out.set(json, PREFIX);
  let at = PREFIX + json.byteLength;
  for (const v of meta.versions) {
    view.setUint32(at, v.erasure.index, true);
    at += 4;
    if (v.inline) {
      out.set(v.inline, at);
      at += v.inline.byteLength;
    }
  }
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

export function decodeXlMeta(bytes: Uint8Array): XlMeta {
  // A new object's xl.meta is written in place (renameData): a crash between its creation and
  // its one write leaves it empty, which means the object never was, not that it rotted.
  if (bytes.byteLength === 0) {
    throw new FileNotFound("xl.meta is empty: a write that never finished");
  }
  if (bytes.byteLength < PREFIX + TRAILER) throw new CorruptMeta("xl.meta too short");
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new CorruptMeta("xl.meta: bad magic");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(4, true) !== FORMAT_VERSION) throw new CorruptMeta("xl.meta: bad version");
  const end = bytes.byteLength - TRAILER;
  if (view.getUint32(end, true) !== crc32(bytes.subarray(0, end))) {
    throw new CorruptMeta("xl.meta: checksum mismatch");
  }
  const jsonLength = view.getUint32(8, true);
  if (PREFIX + jsonLength > end) throw new CorruptMeta("xl.meta: header overruns file");
  let at = PREFIX + jsonLength;
  const versions = parseHeader(bytes.subarray(PREFIX, at)).map(({ inlineLength, ...v }) => {
    if (at + 4 > end) throw new CorruptMeta("xl.meta: shard index overruns file");
    const index = view.getUint32(at, true);
    at += 4;
    if (index < 1 || index > v.erasure.distribution.length) {
      throw new CorruptMeta("xl.meta: shard index out of range");
    }
    const version: ObjectVersion = { ...v, erasure: { ...v.erasure, index } };
    if (inlineLength < 0) return version;
    if (at + inlineLength > end) throw new CorruptMeta("xl.meta: inline data overruns file");
    // A view, not a copy: the file's bytes belong to this decode (GET and HEAD read every
    // drive's xl.meta, inline shard included).
    version.inline = bytes.subarray(at, at + inlineLength);
    at += inlineLength;
    return version;
  });
  if (at !== end) throw new CorruptMeta("xl.meta: trailing bytes");
  return { versions };
}

/** An existing xl.meta's contents; undefined when absent, torn or corrupt (it gets healed). */
export function decodeIfValid(raw: Uint8Array | undefined): XlMeta | undefined {
  if (raw === undefined) return undefined;
  try {
    return decodeXlMeta(raw);
  } catch {
    return undefined;
  }
}

/**
 * The versions of a header. Every drive holds the same header bytes and a GET's or HEAD's reads
 * of its drives are decoded one after another, so the header just parsed is most often the
 * next one too: a byte comparison with it skips decoding, parsing and checking. Its result is
 * frozen because decodes share it.
 */
function parseHeader(bytes: Uint8Array): readonly HeaderVersion[] {
  if (lastHeader && equalBytes(lastHeader.bytes, bytes)) return lastHeader.versions;
  let header: unknown;
  try {
    header = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    throw new CorruptMeta("xl.meta: header is not UTF-8 JSON");
  }
  if (!isRecord(header) || !Array.isArray(header.versions) || header.versions.length === 0) {
    throw new CorruptMeta("xl.meta: no versions");
  }
  const versions = deepFreeze(header.versions.map(checkVersion));
  if (new Set(versions.map((v) => v.versionId)).size !== versions.length) {
    throw new CorruptMeta("xl.meta: a version id twice");
  }
  lastHeader = { bytes: bytes.slice(), versions };
  return versions;
}

let lastHeader: { bytes: Uint8Array; versions: readonly HeaderVersion[] } | undefined;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** The version a GET without versionId sees (it may be a delete marker). */
export function latestVersion(meta: XlMeta): ObjectVersion {
  return meta.versions[0];
}

/** Versions with the same key hold the same object (compared across drives for quorum). */
export function versionKey(v: ObjectVersion): string {
  return `${v.versionId}|${v.modTime}|${v.metadataModTime ?? 0}|${v.etag}|${v.dataDir}|${v.size}`;
}

/**
 * Newest first: by modTime, ties by versionId (descending), then by everything else that tells
 * versions apart (two writes of a null version in one millisecond), so every drive and every
 * reader orders the same versions the same way.
 */
export function compareVersions(a: ObjectVersion, b: ObjectVersion): number {
  if (a.modTime !== b.modTime) return b.modTime - a.modTime;
  if (a.versionId !== b.versionId) return a.versionId < b.versionId ? 1 : -1;
  // One version's metadata changed (tags, retention) on some drives only: the change is newer.
  const [ma, mb] = [a.metadataModTime ?? 0, b.metadataModTime ?? 0];
  if (ma !== mb) return mb - ma;
  const [ka, kb] = [versionKey(a), versionKey(b)];
  return ka < kb ? 1 : ka > kb ? -1 : 0;
}

/**
 * `meta` (undefined: no object yet) with `added` in place of the versions of the same ids, the
 * others kept, newest first. What renameData does on a drive.
 */
export function mergeVersions(meta: XlMeta | undefined, added: ObjectVersion[]): XlMeta {
  const ids = new Set(added.map((v) => v.versionId));
  const kept = (meta?.versions ?? []).filter((v) => !ids.has(v.versionId));
  return { versions: [...kept, ...added].sort(compareVersions) };
}

/** `meta` without the version `versionId`; undefined when none is left. */
export function removeVersion(meta: XlMeta, versionId: string): XlMeta | undefined {
  const versions = meta.versions.filter((v) => v.versionId !== versionId);
  return versions.length > 0 ? { versions } : undefined;
}

/**
 * The data dirs of `before`'s versions that no version of `after` refers to (freed by a
 * replaced or removed version). Inline versions and markers have none on the drive.
 */
export function freedDataDirs(before: XlMeta, after: XlMeta | undefined): string[] {
  const kept = new Set(after?.versions.map((v) => v.dataDir) ?? []);
  const onDisk = before.versions.filter((v) => !v.inline && !v.deleteMarker);
  return [...new Set(onDisk.map((v) => v.dataDir))].filter((d) => !kept.has(d));
}

function checkVersion(raw: unknown): HeaderVersion {
  const ok = isRecord(raw) && typeof raw.versionId === "string" && raw.versionId !== "" &&
    isCount(raw.size) && isCount(raw.modTime) &&
    (raw.metadataModTime === undefined || isCount(raw.metadataModTime)) &&
    (raw.deleteMarker === undefined || raw.deleteMarker === true) &&
    typeof raw.etag === "string" && isStringMap(raw.metadata) && isErasure(raw.erasure) &&
    typeof raw.dataDir === "string" && (raw.dataDir === "") === (raw.deleteMarker === true) &&
    Array.isArray(raw.parts) && raw.parts.every(isPart) && Array.isArray(raw.checksums) &&
    raw.checksums.every(isChecksum) && Number.isSafeInteger(raw.inlineLength) &&
    (raw.inlineLength as number) >= -1;
  if (!ok) throw new CorruptMeta("xl.meta: malformed version");
  const v = raw as unknown as HeaderVersion;
  if (v.deleteMarker && (v.parts.length > 0 || v.inlineLength >= 0)) {
    throw new CorruptMeta("xl.meta: a delete marker with data");
  }
  const partsTotal = v.parts.reduce((n, p) => n + p.size, 0);
  if (partsTotal !== v.size) throw new CorruptMeta("xl.meta: parts do not add up to size");
  return v;
}

function isErasure(raw: unknown): raw is Omit<ErasureLayout, "index"> {
  if (!isRecord(raw)) return false;
  const { dataShards, parityShards, blockSize, distribution } = raw;
  if (!isCount(dataShards) || !isCount(parityShards) || !isCount(blockSize)) return false;
  const n = (dataShards as number) + (parityShards as number);
  return dataShards as number > 0 && Array.isArray(distribution) && distribution.length === n &&
    distribution.every((d) => Number.isInteger(d) && d >= 1 && d <= n) &&
    new Set(distribution).size === n;
}

function isPart(raw: unknown): raw is PartMeta {
  return isRecord(raw) && isCount(raw.number) && (raw.number as number) >= 1 &&
    isCount(raw.size) && typeof raw.etag === "string" && isCount(raw.actualSize);
}

function isChecksum(raw: unknown): raw is ChecksumInfo {
  return isRecord(raw) && isCount(raw.part) && raw.algorithm === BITROT_ALGORITHM;
}

function isStringMap(raw: unknown): raw is Record<string, string> {
  return isRecord(raw) && Object.values(raw).every((v) => typeof v === "string");
}

function isRecord(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === "object" && raw !== null && !Array.isArray(raw);
}

function isCount(raw: unknown): boolean {
  return Number.isSafeInteger(raw) && (raw as number) >= 0;
}
