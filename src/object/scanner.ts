/**
 * The background scanner: a low-priority walk over every object of every bucket of every set,
 * cycle after cycle (intervalMs after the previous one ends). Per object it runs a shallow heal
 * (metadata, shard presence and size) and, for one object in `deepEvery` per cycle (chosen by a
 * hash of the name and the cycle, so every object gets its turn), a deep heal that reads every
 * shard, parity included; then it collects the object's unreferenced data directories and
 * counts it for the bucket's usage. After each set's objects: its stale temp entries, expired
 * multipart uploads and completed-upload records. Paced behind foreground requests (pacer.ts).
 *
 * The walk is the union of the drives' namespaces (namespace-walk.ts) and every step is per
 * object; lifecycle rules join it through a hook given the object's versions once it is healed.
 *
 * In a cluster every node runs a scanner but only one runs the cycles: the one holding the
 * leader lock, taken with a single try before a cycle and kept from then on (as MinIO's
 * scanner leader). Two nodes scanning at once would heal twice and, worse, apply lifecycle
 * twice (two expirations of a versioned object: two delete markers). The others skip their
 * cycles and serve the usage the leader saved; a leader that dies stops refreshing its lock,
 * which expires, and the next node to try takes over.
 */
import { crc32 } from "../../ffi/isal.ts";
import { SYSTEM_VOLUME } from "../storage/api.ts";
import { sweepCompletedUploads } from "./completed-uploads.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { BucketNotFound, LockTimeout, ObjectNotFound } from "./errors.ts";
import { GarbageCollector, type GarbageCounts, noGarbage, type ObjectUsage } from "./garbage.ts";
import { healObject } from "./heal.ts";
import type { BucketUsage, HealResult, ObjectInfo, ScannerStatus } from "./layer.ts";
import type { Locker, Release } from "./locker.ts";
import { type NamespaceObject, setScopes, walkBucket } from "./namespace-walk.ts";
import { Pacer, sleep } from "./pacer.ts";
import { readRecord, writeRecord } from "./system-records.ts";

/** What an operator sets (flags). */
export interface ScannerSettings {
  /** Pause before the first cycle and after each; 0: no background cycles. */
  intervalMs: number;
  /** One object in this many gets a deep heal per cycle; 1: all of them, 0: none. */
  deepEvery: number;
  /** Garbage must have been seen unreferenced (temp: unchanged) this long before removal. */
  garbageAgeMs: number;
  /** Multipart uploads older than this are aborted; 0: never. */
  uploadExpiryMs: number;
}

/** Lifecycle's part of the walk (implemented above the object layer, acting through it). */
export interface LifecycleHook {
  /** The step for each object of `bucket` this cycle (its versions, newest first), if any. */
  bucket(bucket: string): Promise<((versions: ObjectInfo[]) => Promise<void>) | undefined>;
  /** Once per cycle, after the walk: what is not per object (stale multipart uploads). */
  afterWalk(signal: AbortSignal): Promise<void>;
}

export interface ScannerOptions extends ScannerSettings {
  /** True while foreground requests are in flight: the scanner waits. */
  busy: () => boolean;
  /** Wait this multiple of each object's scan time (MinIO's default speed: 2). */
  sleepFactor?: number;
  log?: (line: string) => void;
  lifecycle?: LifecycleHook;
  /** A cluster's locks: cycles run only while this node holds SCANNER_LEADER_LOCK. */
  leader?: Locker;
}

/** The scanner's leader lock (no bucket name starts with the system volume's "."). */
export const SCANNER_LEADER_LOCK = `${SYSTEM_VOLUME}/scanner/leader`;

/** The last cycle's usage, in the system volume of the first set's drives, for the next start. */
const USAGE_RECORD = "config/bucket-usage.json";
/** MinIO's dynamic sleeper caps each wait at 1 s. */
const MAX_SLEEP_MS = 1000;
/**
 * Under load the scanner waits while requests are in flight, up to 10× what its last object
 * took (at most ~9 % of the time), at least 1 s: a server that is never idle still gets scanned.
 */
const BUSY_FACTOR = 10;
const MIN_BUSY_WAIT_MS = 1000;

/** What one cycle found and did. */
export interface CycleReport extends GarbageCounts {
  cycle: number;
  started: Date;
  durationMs: number;
  objects: number;
  /** Objects whose shards or metadata were rewritten (or remnants purged). */
  repaired: number;
  /** Objects found damaged that could not be healed now. */
  unhealable: number;
}

/** The status with what ScannerStatus does not name: temp entries removed. */
export interface ScannerTotals extends ScannerStatus {
  garbageTempEntries: number;
}

const utf8 = new TextEncoder();

export class Scanner {
  readonly #status: ScannerTotals = {
    running: false,
    cycles: 0,
    objectsDamaged: 0,
    garbageDataDirs: 0,
    garbageTempEntries: 0,
    garbageBytes: 0,
    uploadsExpired: 0,
  };
  #usage: BucketUsage[] = [];
  readonly #garbage: GarbageCollector;
  readonly #pacer: Pacer;
  readonly #log: (line: string) => void;
  readonly #stop = new AbortController();
  #loop?: Promise<void>;
  #running?: Promise<CycleReport>;
  /** This node's hold of the leader lock; `lost` aborts when the lock is lost. */
  #leading?: { release: Release; lost: AbortController };

  constructor(readonly sets: readonly ErasureSet[], readonly options: ScannerOptions) {
    this.#garbage = new GarbageCollector({
      safetyAgeMs: options.garbageAgeMs,
      uploadExpiryMs: options.uploadExpiryMs,
    });
    this.#pacer = new Pacer({
      factor: options.sleepFactor ?? 2,
      maxSleepMs: MAX_SLEEP_MS,
      busy: options.busy,
      busyFactor: BUSY_FACTOR,
      minBusyWaitMs: MIN_BUSY_WAIT_MS,
    });
    this.#log = options.log ?? ((line) => console.log(line));
  }

  /**
   * Starts the background cycles (none when intervalMs is 0). Usage counted before the last
   * stop is served until the first cycle counts it again; resolves once it is loaded.
   */
  async start(): Promise<void> {
    if (this.#status.cycles === 0) await this.#loadUsage();
    if (this.options.intervalMs > 0) this.#loop ??= this.#run();
  }

  status(): ScannerTotals {
    return { ...this.#status };
  }

  usage(): BucketUsage[] {
    return this.#usage.map((u) => ({ ...u }));
  }

  /** Runs a cycle now, or waits for the one running. */
  cycle(): Promise<CycleReport> {
    return this.#cycle(this.#stop.signal);
  }

  /** Stops between objects and waits for the scanner to finish. */
  async close(): Promise<void> {
    this.#stop.abort(new DOMException("scanner stopped", "AbortError"));
    await this.#loop;
    await this.#running?.catch(() => {});
    this.#leading?.release();
  }

  #cycle(signal: AbortSignal): Promise<CycleReport> {
    this.#running ??= this.#scan(signal).finally(() => this.#running = undefined);
    return this.#running;
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        await sleep(this.options.intervalMs, signal);
        const leading = await this.#lead();
        if (leading) await this.#cycle(leading);
        else await this.#loadUsage();
      } catch (err) {
        if (signal.aborted) return;
        this.#log(`flashstor: scanner: cycle failed: ${(err as Error).message}`);
      }
    }
  }

  /** The signal a cycle runs under when this node leads (or no cluster); none: follow. */
  async #lead(): Promise<AbortSignal | undefined> {
    const stop = this.#stop.signal;
    if (!this.options.leader) return stop;
    if (this.#leading?.lost.signal.aborted) this.#leading = undefined;
    if (!this.#leading) {
      const lost = new AbortController();
      try {
        const release = await this.options.leader.write(SCANNER_LEADER_LOCK, {
          timeoutMs: 0,
          signal: stop,
          onLost: (reason) => lost.abort(reason),
        });
        this.#leading = { release, lost };
      } catch (err) {
        if (err instanceof LockTimeout) return undefined;
        throw err;
      }
    }
    return AbortSignal.any([stop, this.#leading.lost.signal]);
  }

  /** The usage the last cycle saved (this node's before a restart, or the leader's). */
  async #loadUsage(): Promise<void> {
    const saved = await readRecord<BucketUsage[]>(this.sets[0], USAGE_RECORD)
      .catch(() => ({ value: undefined }));
    if (Array.isArray(saved.value)) {
      this.#usage = saved.value.map((u) => ({ ...u, updated: new Date(u.updated) }));
    }
  }

  async #scan(signal: AbortSignal): Promise<CycleReport> {
    const cycle = this.#status.cycles + 1;
    const started = new Date();
    const t0 = performance.now();
    const report: CycleReport = {
      ...noGarbage(),
      cycle,
      started,
      durationMs: 0,
      objects: 0,
      repaired: 0,
      unhealable: 0,
    };
    const usage = new Map<string, { objects: number; bytes: number }>();
    this.#status.running = true;
    this.#garbage.beginCycle();
    try {
      for (const set of this.sets) {
        for (const { bucket, prefix } of await setScopes(set)) {
          // Config records are healed and collected like objects, but are no bucket's usage.
          const counted = bucket === SYSTEM_VOLUME
            ? undefined
            : usage.get(bucket) ?? { objects: 0, bytes: 0 };
          if (counted) usage.set(bucket, counted);
          const lifecycle = bucket === SYSTEM_VOLUME
            ? undefined
            : await this.options.lifecycle?.bucket(bucket);
          for await (const object of walkBucket(set, bucket, { prefix, signal })) {
            const t = performance.now();
            const objectUsage = await this.#object(set, object, report, lifecycle);
            report.objects++;
            if (objectUsage && counted) {
              counted.objects += objectUsage.objects;
              counted.bytes += objectUsage.bytes;
            }
            await this.#pacer.after(t, signal);
          }
        }
        signal.throwIfAborted();
        await this.#garbage.tempArea(set, report);
        await this.#garbage.uploads(set, report);
        await sweepCompletedUploads(set);
      }
      await this.options.lifecycle?.afterWalk(signal);
      this.#garbage.endCycle();
    } finally {
      this.#status.running = false;
    }
    report.durationMs = performance.now() - t0;
    this.#record(report, usage);
    await writeRecord(this.sets[0], USAGE_RECORD, this.#usage).catch(() => {});
    return report;
  }

  /** Heals one object, applies lifecycle rules, collects it; its usage when a quorum agrees. */
  async #object(
    set: ErasureSet,
    object: NamespaceObject,
    report: CycleReport,
    lifecycle?: (versions: ObjectInfo[]) => Promise<void>,
  ): Promise<ObjectUsage | undefined> {
    const { bucket, name } = object;
    const deep = this.#deep(`${bucket}/${name}`, report.cycle);
    try {
      const result = await healObject(set, bucket, name, { deep });
      if (result.healedDrives.length > 0) {
        report.repaired++;
        this.#status.objectsDamaged++;
        this.#log(`flashstor: scanner: ${bucket}/${name}: ${describe(result)}`);
      }
    } catch (err) {
      // Absent on too few drives to purge yet, or a bucket that only a minority holds.
      if (!(err instanceof ObjectNotFound || err instanceof BucketNotFound)) {
        report.unhealable++;
        this.#status.objectsDamaged++;
        this.#log(`flashstor: scanner: ${bucket}/${name}: cannot heal: ${(err as Error).message}`);
      }
    }
    if (lifecycle) {
      await set.objectVersions(bucket, name).then(lifecycle).catch((err: Error) => {
        if (!(err instanceof ObjectNotFound)) {
          this.#log(`flashstor: scanner: ${bucket}/${name}: lifecycle: ${err.message}`);
        }
      });
    }
    return await this.#garbage.object(set, bucket, name, report).catch(() => undefined);
  }

  #deep(name: string, cycle: number): boolean {
    const every = this.options.deepEvery;
    return every > 0 && crc32(utf8.encode(`${cycle}\n${name}`)) % every === 0;
  }

  #record(report: CycleReport, usage: Map<string, { objects: number; bytes: number }>): void {
    const s = this.#status;
    s.cycles = report.cycle;
    s.lastCycle = {
      started: report.started,
      durationMs: report.durationMs,
      objects: report.objects,
    };
    s.garbageDataDirs += report.dataDirs;
    s.garbageTempEntries += report.tempEntries;
    s.garbageBytes += report.bytes;
    s.uploadsExpired += report.uploadsExpired;
    const updated = new Date();
    this.#usage = [...usage].sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([bucket, u]) => ({ bucket, objects: u.objects, bytes: u.bytes, updated }));
    this.#log(
      `flashstor: scanner: cycle ${report.cycle} done in ${
        (report.durationMs / 1000).toFixed(1)
      } s: ${report.objects} objects, ${report.repaired} repaired, ${report.unhealable} ` +
        `unhealable; garbage: ${report.dataDirs} data dirs, ${report.tempEntries} temp entries ` +
        `(${report.bytes} bytes), ${report.uploadsExpired} uploads expired`,
    );
  }
}

/** "1 shard rewritten on /d3 (bitrot)", or the drives remnants were purged from. */
function describe(result: HealResult): string {
  const drives = result.healedDrives;
  if (!result.reasons) return `dangling remnants removed from ${drives.join(", ")}`;
  const list = drives.map((d) => `${d} (${result.reasons![d]})`).join(", ");
  return `${drives.length} shard${drives.length === 1 ? "" : "s"} rewritten on ${list}`;
}
