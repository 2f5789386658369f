/**
 * format.json: the identity of a drive within a deployment (in the spirit of MinIO's). Every
 * drive holds the whole layout, so the drives agree on it by quorum at start, and a drive
 * found at another position than the one it was formatted for is detected.
 */
import { type StorageAPI, SYSTEM_VOLUME } from "./api.ts";
import type { DriveHandle } from "./drive-handle.ts";
import {
  DiskNotFound,
  FileCorrupt,
  FileNotFound,
  UnformattedDisk,
  VolumeNotFound,
} from "./errors.ts";

/** File name of the format inside SYSTEM_VOLUME. */
export const FORMAT_FILE = "format.json";

export interface Format {
  version: 1;
  format: "xl";
  /** Deployment id. */
  id: string;
  xl: {
    /** This drive's id. */
    this: string;
    /** Drive ids of every erasure set, in order. */
    sets: string[][];
    distributionAlgo: "CRC32";
  };
}

export interface Layout {
  setCount: number;
  setDriveCount: number;
}

export interface FormatResult {
  deploymentId: string;
  /** The deployment's format (this drive's id is the first drive's). */
  reference: Format;
  /** Drive handles in format order, each expecting its own identity. */
  sets: DriveHandle[][];
  /**
   * Flat positions of drives of an existing deployment formatted at this start (found empty,
   * or without format.json and quarantined): they are healing and need a full heal.
   */
  formatted: number[];
}

/** Parses and validates format.json; FileCorrupt when it is not a valid format. */
export function parseFormat(bytes: Uint8Array): Format {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new FileCorrupt(`${FORMAT_FILE}: ${(err as Error).message}`);
  }
  const problem = formatProblem(value);
  if (problem) throw new FileCorrupt(`${FORMAT_FILE}: ${problem}`);
  return value as Format;
}

function formatProblem(v: unknown): string | undefined {
  if (!isRecord(v)) return "not an object";
  if (v.version !== 1) return `unsupported version ${JSON.stringify(v.version)}`;
  if (v.format !== "xl") return `unsupported format ${JSON.stringify(v.format)}`;
  if (!isId(v.id)) return "missing deployment id";
  const xl = v.xl;
  if (!isRecord(xl)) return "missing xl section";
  if (!isId(xl.this)) return "missing drive id";
  if (xl.distributionAlgo !== "CRC32") {
    return `unsupported distribution ${JSON.stringify(xl.distributionAlgo)}`;
  }
  const sets = xl.sets;
  if (!Array.isArray(sets) || sets.length === 0) return "missing sets";
  const width = Array.isArray(sets[0]) ? sets[0].length : 0;
  if (width === 0) return "empty set";
  if (!sets.every((s) => Array.isArray(s) && s.length === width && s.every(isId))) {
    return "sets must be equal-sized lists of drive ids";
  }
  const ids = sets.flat() as string[];
  if (new Set(ids).size !== ids.length) return "duplicate drive ids";
  if (!ids.includes(xl.this)) return "this drive's id is not in its sets";
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isId(v: unknown): v is string {
  return typeof v === "string" && v.length > 0;
}

export function serializeFormat(format: Format): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(format, null, 2) + "\n");
}

/** A new deployment: fresh ids for the deployment and every drive. */
export function newFormat(layout: Layout): Format {
  const sets = Array.from(
    { length: layout.setCount },
    () => Array.from({ length: layout.setDriveCount }, () => crypto.randomUUID()),
  );
  return {
    version: 1,
    format: "xl",
    id: crypto.randomUUID(),
    xl: { this: sets[0][0], sets, distributionAlgo: "CRC32" },
  };
}

/** The format a drive at `index` (flat position in set order) must hold. */
export function formatForDrive(reference: Format, index: number): Format {
  const width = reference.xl.sets[0].length;
  const id = reference.xl.sets[Math.floor(index / width)][index % width];
  return { ...reference, xl: { ...reference.xl, this: id } };
}

/** Flat position of drive `id` in the layout, or -1. */
export function drivePosition(format: Format, id: string): number {
  return format.xl.sets.flat().indexOf(id);
}

/** Throws unless `format` describes `layout`. */
export function checkLayout(format: Format, layout: Layout): void {
  const sets = format.xl.sets;
  if (sets.length !== layout.setCount || sets[0].length !== layout.setDriveCount) {
    throw new UnformattedDisk(
      `the drives are formatted as ${sets.length} set(s) of ${sets[0].length} drives, ` +
        `but the server was started with ${layout.setCount} set(s) of ${layout.setDriveCount}`,
    );
  }
}

/**
 * The deployment's format cannot be settled yet, but may be soon: a cluster's peers are still
 * starting (their drives unreachable, no quorum on the format) or the node that formats a new
 * deployment has not done it yet. A cluster node retries; a single node stops.
 */
export class FormatPending extends UnformattedDisk {}

/** Which drives this node may format, in a cluster. */
export interface FormatOptions {
  /**
   * Per drive (format order): held by this node. A peer's drive is never quarantined nor
   * formatted into an existing deployment (its own node does that); unformatted or foreign, it
   * is offline here. Default: every drive is local.
   */
  local?: readonly boolean[];
  /**
   * Who formats a new deployment: undefined for this node (a single node, a cluster's first
   * node, which then needs every drive reachable); else its name, and this node waits for it.
   */
  formatter?: string;
}

/** What a drive holds at start. */
export type FormatState =
  | { kind: "offline"; reason: string }
  | { kind: "unformatted" }
  | { kind: "formatted"; format: Format };

/**
 * Reads a drive's format. Unreachable (DiskNotFound, an offline handle) → offline. A corrupt
 * format is refused rather than overwritten: the drive may hold data of some deployment.
 */
export async function readFormat(drive: StorageAPI): Promise<FormatState> {
  try {
    return {
      kind: "formatted",
      format: parseFormat(await drive.readAll(SYSTEM_VOLUME, FORMAT_FILE)),
    };
  } catch (err) {
    if (err instanceof FileNotFound || err instanceof VolumeNotFound) {
      return { kind: "unformatted" };
    }
    if (err instanceof DiskNotFound) return { kind: "offline", reason: err.message };
    if (err instanceof FileCorrupt) {
      throw new UnformattedDisk(`drive ${drive.endpoint}: ${err.message}; fix or remove it`);
    }
    throw err;
  }
}

/**
 * Loads the deployment's format from `drives` (in command-line order) or, when none is
 * formatted, creates a new deployment. Formatted drives must agree by at least half of all
 * drives; drives without format.json of an existing deployment are formatted with the id
 * expected at their position (what they held, if anything, is quarantined first) and set
 * healing. A new deployment refuses drives that hold data. Refuses drives of another
 * deployment and drives found at another position. Every handle then expects its identity.
 */
export async function loadOrInitFormat(
  drives: DriveHandle[],
  layout: Layout,
  options: FormatOptions = {},
): Promise<FormatResult> {
  const total = layout.setCount * layout.setDriveCount;
  if (!(layout.setCount > 0 && layout.setDriveCount > 0) || drives.length !== total) {
    throw new RangeError(
      `${drives.length} drives do not make ${layout.setCount} set(s) of ${layout.setDriveCount}`,
    );
  }
  const local = (i: number) => options.local?.[i] ?? true;
  const states = await Promise.all(
    drives.map((drive, i) => local(i) ? readFormat(drive) : readPeerFormat(drive)),
  );
  const formatted = states.flatMap((s) => (s.kind === "formatted" ? [s.format] : []));

  let reference: Format;
  const existing = formatted.length > 0;
  if (!existing) {
    if (options.formatter !== undefined) {
      throw new FormatPending(
        `no drive is formatted yet: waiting for node ${options.formatter} to format the new ` +
          `deployment`,
      );
    }
    const offline = states.filter((s) => s.kind === "offline").length;
    if (offline > 0) {
      throw new DiskNotFound(
        `cannot format a new deployment while ${offline} of ${total} drives are unreachable`,
      );
    }
    // Every drive is checked before any is formatted: a refusal must leave no drive formatted
    // (a half-formatted new deployment would, at the next start, quarantine the drive refused).
    for (const [i, drive] of drives.entries()) if (!local(i)) answered(drive);
    await Promise.all(drives.map(ensureEmpty));
    reference = newFormat(layout);
  } else {
    reference = agreedFormat(formatted, total);
    checkLayout(reference, layout);
  }

  const fresh: number[] = [];
  await Promise.all(drives.map(async (drive, i) => {
    const state = states[i];
    const expected = formatForDrive(reference, i);
    drive.expect({ deploymentId: reference.id, driveId: expected.xl.this });
    if (state.kind === "offline") return drive.setState("offline", state.reason);
    if (state.kind === "formatted") {
      if (local(i)) return checkDrive(drive, state.format, expected, i);
      try {
        checkDrive(drive, state.format, expected, i);
        answered(drive);
      } catch (err) {
        drive.setState("offline", (err as Error).message);
      }
      return;
    }
    if (existing && !local(i)) {
      return drive.setState("offline", `no ${FORMAT_FILE} yet: its own node formats it`);
    }
    if (existing) await quarantine(drive, slotName(reference, i));
    await drive.writeAll(SYSTEM_VOLUME, FORMAT_FILE, serializeFormat(expected));
    if (existing) {
      drive.setState("healing", `formatted into ${slotName(reference, i)}`);
      fresh.push(i);
    }
  }));

  return {
    deploymentId: reference.id,
    reference,
    sets: Array.from(
      { length: layout.setCount },
      (_, s) => drives.slice(s * layout.setDriveCount, (s + 1) * layout.setDriveCount),
    ),
    formatted: fresh.sort((a, b) => a - b),
  };
}

/** "set 1, drive 2" for flat position `index` (1-based, as operators count). */
export function slotName(format: Format, index: number): string {
  const width = format.xl.sets[0].length;
  return `set ${Math.floor(index / width) + 1}, drive ${index % width + 1}`;
}

/**
 * Moves aside what a drive without format.json holds (it cannot be trusted as this
 * deployment's, and is never deleted), saying so in the log.
 */
export async function quarantine(drive: DriveHandle, slot: string): Promise<void> {
  const moved = await drive.probe((d) => d.quarantine());
  if (moved) {
    drive.log(
      `had no ${FORMAT_FILE} but held data: moved it to ${moved} (kept, never deleted); ` +
        `formatting the drive into ${slot} to heal it`,
    );
  }
}

/**
 * The format (deployment id + layout) held by at least half of all drives, as MinIO: a set
 * that lost its parity's worth of drives (half, when parity = data) must still start and heal
 * them. A tie between two formats is refused, since neither can be told to be the real one.
 */
function agreedFormat(formats: Format[], total: number): Format {
  const votes = new Map<string, { format: Format; count: number }>();
  for (const f of formats) {
    const key = JSON.stringify([f.id, f.xl.sets]);
    const vote = votes.get(key) ?? { format: f, count: 0 };
    vote.count++;
    votes.set(key, vote);
  }
  const [best, second] = [...votes.values()].sort((a, b) => b.count - a.count);
  if (best.count * 2 < total || best.count === second?.count) {
    throw new FormatPending(
      `no quorum on the format: at most ${best.count} of ${total} drives agree ` +
        `(${formats.length} formatted, ${votes.size} distinct format(s)); half must, uniquely`,
    );
  }
  return best.format;
}

/**
 * Reads a peer's drive's format: a corrupt one makes that drive offline here (its node refuses
 * it), never this node's start.
 */
async function readPeerFormat(drive: DriveHandle): Promise<FormatState> {
  try {
    if (!drive.opened) await drive.connect();
    return await drive.probe((d) => readFormat(d));
  } catch (err) {
    return { kind: "offline", reason: err instanceof Error ? err.message : String(err) };
  }
}

/** A peer's drive answered the format check: a handle left offline by a failed open is back. */
function answered(drive: DriveHandle): void {
  if (!drive.available) drive.setState("online", "its node answers");
}

/** Throws unless the formatted drive at position `index` is the one `expected` names. */
function checkDrive(drive: StorageAPI, found: Format, expected: Format, index: number): void {
  const where = (pos: number) => slotName(expected, pos);
  if (found.id !== expected.id) {
    throw new UnformattedDisk(
      `drive ${drive.endpoint} belongs to deployment ${found.id}, not to ${expected.id}; ` +
        `wipe it to reuse it here`,
    );
  }
  if (JSON.stringify(found.xl.sets) !== JSON.stringify(expected.xl.sets)) {
    throw new UnformattedDisk(
      `drive ${drive.endpoint} holds a different layout of this deployment`,
    );
  }
  if (found.xl.this !== expected.xl.this) {
    const pos = drivePosition(expected, found.xl.this);
    throw new UnformattedDisk(
      `drive ${drive.endpoint} was formatted as ${where(pos)} but is given as ${where(index)}: ` +
        `the drive order changed; restore the original order`,
    );
  }
}

/** A new deployment's drives may only be formatted when they hold no buckets. */
async function ensureEmpty(drive: StorageAPI): Promise<void> {
  const volumes = await drive.listVolumes();
  if (volumes.length > 0) {
    throw new UnformattedDisk(
      `drive ${drive.endpoint} has no ${FORMAT_FILE} but holds data ` +
        `(${volumes.map((v) => v.name).join(", ")}); refusing to format it for a new deployment`,
    );
  }
}
