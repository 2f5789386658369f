/**
 * The drive monitor: every second it re-reads the format.json of each available drive (a drive
 * wiped or swapped under a running server goes offline before it is written again), and every
 * few seconds it probes the offline ones. A drive that answers with its own format.json comes
 * back online; one that answers without format.json (wiped, or replaced by an empty disk) has
 * what it holds quarantined, is formatted into its old slot, set healing, and handed to
 * `onDriveFormatted` for a full heal. A drive of another deployment stays offline, and so does
 * a peer's drive without format.json: its own node formats it (never two nodes at once).
 */
import { DiskNotFound, FileNotFound } from "./errors.ts";
import type { DriveHandle } from "./drive-handle.ts";
import {
  type Format,
  FORMAT_FILE,
  formatForDrive,
  quarantine,
  readFormat,
  serializeFormat,
  slotName,
} from "./format.ts";
import { SYSTEM_VOLUME } from "./api.ts";

/** Offline drives are probed this often unless told otherwise (FLASHSTOR_DRIVE_PROBE_INTERVAL). */
export const DEFAULT_PROBE_INTERVAL_MS = 5_000;
/** Available drives' identity is re-read this often. */
export const IDENTITY_INTERVAL_MS = 1_000;

export interface DriveMonitorOptions {
  probeIntervalMs?: number;
  identityIntervalMs?: number;
  /** A drive was formatted into its slot (set and drive index, 0-based): heal all of it. */
  onDriveFormatted: (setIndex: number, driveIndex: number) => void;
  /** Per drive (format order): held by this node, which may format it. Default: all. */
  local?: readonly boolean[];
}

export class DriveMonitor {
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #running = new Set<Promise<void>>();
  #closed = false;

  constructor(
    readonly sets: DriveHandle[][],
    readonly reference: Format,
    readonly options: DriveMonitorOptions,
  ) {}

  start(): void {
    this.#every(this.options.identityIntervalMs ?? IDENTITY_INTERVAL_MS, () => this.checkOnline());
    this.#every(
      this.options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
      () => this.probeOffline(),
    );
  }

  /** Stops the timers and waits for the round in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    await Promise.all(this.#running);
  }

  /** Re-reads the identity of every available drive; a missing or foreign one goes offline. */
  async checkOnline(): Promise<void> {
    await Promise.all(
      this.#drives().filter(({ drive }) => drive.available).map(({ drive }) => drive.verify(false)),
    );
  }

  /**
   * Probes every offline drive once, and checks that every available one still takes a write
   * (a read-only remount answers reads and refuses every write).
   */
  async probeOffline(): Promise<void> {
    await Promise.all(
      this.#drives().map((slot) =>
        slot.drive.available ? slot.drive.verify(true) : this.#probe(slot)
      ),
    );
  }

  #drives(): { drive: DriveHandle; set: number; index: number }[] {
    return this.sets.flatMap((drives, set) =>
      drives.map((drive, index) => ({ drive, set, index }))
    );
  }

  /** Runs `round` every `ms`, one at a time, tracked so that close() can wait for it. */
  #every(ms: number, round: () => Promise<void>): void {
    let busy = false;
    this.#timers.push(setInterval(() => {
      if (busy || this.#closed) return;
      busy = true;
      const run = round().catch(() => {}).finally(() => {
        busy = false;
        this.#running.delete(run);
      });
      this.#running.add(run);
    }, ms));
  }

  async #probe(slot: { drive: DriveHandle; set: number; index: number }): Promise<void> {
    const { drive, set, index } = slot;
    const flat = set * this.sets[0].length + index;
    try {
      if (!drive.opened) await drive.connect();
      const state = await drive.probe((d) => readFormat(d));
      if (state.kind === "offline") throw new DiskNotFound(state.reason);
      if (state.kind === "formatted") {
        // verify() compares the identity and takes the drive offline again when it differs.
        // A heal it had not finished resumes from its own record (Pools listens for this).
        if (await drive.verify(true)) drive.setState("online");
        return;
      }
      if (this.options.local?.[flat] === false) {
        drive.setState("offline", `no ${FORMAT_FILE} yet: its own node formats it`);
        return;
      }
      // No format.json: the drive answers (its root is there), it was wiped or replaced.
      await drive.probe((d) => d.listVolumes());
      await drive.connect();
      const where = slotName(this.reference, flat);
      await quarantine(drive, where);
      const format = formatForDrive(this.reference, flat);
      await drive.probe((d) => d.writeAll(SYSTEM_VOLUME, FORMAT_FILE, serializeFormat(format)));
      if (!await drive.verify(true)) return;
      drive.setState("healing", `found without ${FORMAT_FILE}, formatted into ${where}`);
      this.options.onDriveFormatted(set, index);
    } catch (err) {
      const reason = err instanceof FileNotFound
        ? "unreachable"
        : err instanceof Error
        ? err.message
        : String(err);
      drive.setState("offline", reason);
    }
  }
}
