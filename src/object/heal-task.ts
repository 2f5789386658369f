/**
 * Heal tasks: heals that walk a namespace in the background and report their progress
 * (HealProgress). Two kinds: an administrator's heal of everything, a bucket or a prefix
 * (shallow or deep), and the rebuild of one drive (replaced, or formatted into its old slot),
 * which walks its whole set, keeps its position in HEALING_FILE on that drive so that a
 * restart resumes it (MinIO's .healing.bin), and sets the drive online when done. Each task
 * logs one line when it starts and one when it ends, with its counts.
 */
import { META_FILE, SYSTEM_VOLUME } from "../storage/api.ts";
import { type ErasureSet, makeBucketOn } from "./erasure-set.ts";
import { TooManyHeals } from "./errors.ts";
import { healObject } from "./heal.ts";
import type { HealProgress, HealRequest, HealResult } from "./layer.ts";
import { encodeObjectName } from "./names.ts";
import { setScopes, walkBucket, walkSet } from "./namespace-walk.ts";
import { isMissing, readMetas } from "./quorum.ts";
import { decodeXlMeta, versionKey } from "../storage/xl-meta.ts";

/** The drive heal's position, in the system volume of the drive being healed. */
export const HEALING_FILE = "healing.json";

/** Finished tasks kept for healStatus / healTasks (the oldest go first). */
const FINISHED_KEPT = 50;
/** Administrator heals running at once; more are refused (TooManyHeals). */
const RUNNING_LIMIT = 4;
/** Objects a task heals at once (small objects cost round trips more than bandwidth). */
const HEAL_CONCURRENCY = 4;
/** Objects done out of order kept before waiting for the oldest (bounds the resume window). */
const HEAL_WINDOW = 64;
/** A drive heal that could not heal every object runs again this much later. */
const DRIVE_RETRY_MS = 60_000;
/** How often a drive heal saves its position. */
const SAVE_INTERVAL_MS = 1_000;

/** What a drive heal records on its drive: its progress and the last object done. */
export interface HealingRecord {
  id: string;
  started: string;
  bucket: string;
  object: string;
  objectsScanned: number;
  objectsHealed: number;
  objectsFailed: number;
  bytesHealed: number;
}

/** A drive heal's saved record, or undefined when it is not one (torn, foreign). */
export function parseHealingRecord(raw: Uint8Array): HealingRecord | undefined {
  let value: Partial<Record<keyof HealingRecord, unknown>>;
  try {
    value = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    return undefined;
  }
  const strings = ["id", "started", "bucket", "object"] as const;
  const counts = ["objectsScanned", "objectsHealed", "objectsFailed", "bytesHealed"] as const;
  const valid = typeof value === "object" && value !== null &&
    strings.every((k) => typeof value[k] === "string") &&
    counts.every((k) => Number.isSafeInteger(value[k]) && (value[k] as number) >= 0);
  return valid ? value as HealingRecord : undefined;
}

/** Every heal since the start, background queue included: for the metrics. */
export interface HealTotals {
  healed: number;
  failed: number;
  /** Checked and found whole. */
  clean: number;
  bytes: number;
}

/** True when every drive of the set holds the same versions of the object, or none does. */
export async function healedEverywhere(
  set: ErasureSet,
  bucket: string,
  object: string,
): Promise<boolean> {
  const outcomes = await readMetas(set.drives, bucket, encodeObjectName(object));
  const lists = new Set<string>();
  for (const o of outcomes) {
    if (!o.ok && !isMissing(o.error)) return false;
    lists.add(o.ok ? o.value.versions.map(versionKey).join("\n") : "");
  }
  return lists.size === 1;
}

export interface HealTasksOptions {
  /** Bytes of every object when known (the scanner's usage): a drive heal's bytesTotal. */
  bytesIn?: () => number | undefined;
  /** Whether the deployment has one set, so that a drive heal walks all of it. */
  oneSet?: boolean;
  log?: (line: string) => void;
}

interface Task {
  progress: HealProgress;
  done: Promise<void>;
  abort: AbortController;
}

export class HealTasks {
  readonly #tasks = new Map<string, Task>();
  /** Drive heals to run again (some objects failed). */
  readonly #retries = new Set<ReturnType<typeof setTimeout>>();
  readonly totals: HealTotals = { healed: 0, failed: 0, clean: 0, bytes: 0 };

  constructor(private readonly options: HealTasksOptions = {}) {}

  list(): HealProgress[] {
    return [...this.#tasks.values()].map((t) => ({ ...t.progress }));
  }

  status(id: string): HealProgress | undefined {
    const task = this.#tasks.get(id);
    return task && { ...task.progress };
  }

  /** Heals what `request` names on every set; the same request running already is returned. */
  startRequest(sets: readonly ErasureSet[], request: HealRequest): HealProgress {
    const running = [...this.#tasks.values()].filter((t) =>
      t.progress.kind === "request" && t.progress.state === "running"
    );
    const same = running.find((t) =>
      JSON.stringify(t.progress.request) === JSON.stringify(request)
    );
    if (same) return { ...same.progress };
    if (running.length >= RUNNING_LIMIT) {
      throw new TooManyHeals(`${RUNNING_LIMIT} heals are running already`);
    }
    const what = request.bucket
      ? `bucket ${request.bucket}${request.prefix ? ` prefix ${request.prefix}` : ""}`
      : "every bucket";
    return this.#start({ kind: "request", request }, `heal of ${what}`, async (task) => {
      const { signal } = task.abort;
      const scope = async function* () {
        for (const set of sets) {
          const scopes = request.bucket
            ? [{ bucket: request.bucket, prefix: request.prefix ?? "" }]
            : await setScopes(set);
          for (const { bucket, prefix } of scopes) {
            for await (const o of walkBucket(set, bucket, { prefix, signal })) {
              yield { set, bucket, name: o.name };
            }
          }
        }
      };
      this.#countTotal(task, scope());
      await healAll(
        scope(),
        ({ set, bucket, name }) =>
          this.#healOne(
            task.progress,
            set,
            bucket,
            name,
            request.deep,
            (r) => r.healedDrives.length > 0,
          ),
      );
    });
  }

  /**
   * Rebuilds drive `driveIndex` of `set`: every object of every bucket, resumed after `from`
   * when a previous run recorded one. The same drive's heal running already is returned.
   */
  startDrive(set: ErasureSet, driveIndex: number, slot: string, from?: HealingRecord) {
    const drive = set.drives[driveIndex];
    const same = [...this.#tasks.values()].find((t) =>
      t.progress.drive === drive.endpoint && t.progress.state === "running"
    );
    if (same) return { ...same.progress };
    drive.setState("healing", from ? "resuming its heal" : "full heal started");
    const title = `heal of drive ${drive.endpoint} (${slot})` +
      (from ? `, resumed after ${from.bucket}/${from.object}` : "");
    const bytesTotal = this.options.oneSet ? this.options.bytesIn?.() : undefined;
    const what = { kind: "drive" as const, drive: drive.endpoint, bytesTotal };
    return this.#start(what, title, async (task) => {
      const progress = task.progress;
      const record: HealingRecord = from ?? {
        id: progress.id,
        started: progress.started.toISOString(),
        bucket: "",
        object: "",
        ...counts(progress),
      };
      Object.assign(progress, counts(record));
      const failedBefore = progress.objectsFailed;
      const save = () =>
        drive.writeAll(
          SYSTEM_VOLUME,
          HEALING_FILE,
          new TextEncoder().encode(JSON.stringify({ ...record, ...counts(progress) })),
        );
      await save();
      const scopes = await setScopes(set);
      const { signal } = task.abort;
      this.#countTotal(
        task,
        walkSet(set, { signal }),
        record.objectsScanned,
        { bucket: record.bucket, object: record.object },
      );
      let saved = Date.now();
      for (const { bucket, prefix } of scopes) {
        if (bucket < record.bucket) continue;
        await makeBucketOn(drive, bucket);
        const startAfter = bucket === record.bucket ? record.object : "";
        const walk = walkBucket(set, bucket, { prefix, startAfter, signal });
        await healAll(walk, (o) => {
          if (!drive.available) throw new Error(`drive ${drive.endpoint} went offline`);
          return this.#healOne(
            progress,
            set,
            bucket,
            o.name,
            false,
            (r) => r.healedDrives.includes(drive.endpoint),
          );
        }, async (o) => {
          record.bucket = bucket;
          record.object = o.name;
          if (Date.now() - saved < SAVE_INTERVAL_MS) return;
          await save();
          saved = Date.now();
        });
      }
      const failed = progress.objectsFailed - failedBefore;
      if (failed > 0) {
        // The drive still lacks objects (too few other drives could serve them): it stays
        // healing, and the whole walk runs again later (or at the next start).
        Object.assign(record, { bucket: "", object: "" });
        await save();
        const timer = setTimeout(() => {
          this.#retries.delete(timer);
          this.startDrive(set, driveIndex, slot);
        }, DRIVE_RETRY_MS);
        this.#retries.add(timer);
        throw new Error(
          `${failed} objects could not be healed; healing the drive again in ` +
            `${DRIVE_RETRY_MS / 1000} s`,
        );
      }
      await drive.delete(SYSTEM_VOLUME, HEALING_FILE);
      drive.setState("online", "healed");
    });
  }

  /**
   * Heals one object the heal queue holds (deep: a read may have found rot); throws, for the
   * queue to retry it later, unless every drive of its set now holds it.
   */
  async healQueued(set: ErasureSet, bucket: string, object: string): Promise<void> {
    const progress = { objectsScanned: 0, objectsHealed: 0, objectsFailed: 0, bytesHealed: 0 };
    await this.#healOne(progress, set, bucket, object, true, (r) => r.healedDrives.length > 0);
    if (progress.objectsFailed > 0 || !(await healedEverywhere(set, bucket, object))) {
      throw new Error(`${bucket}/${object}: not on every drive yet`);
    }
  }

  /** Stops every running task between two objects (a drive heal keeps its position). */
  async close(): Promise<void> {
    for (const timer of this.#retries) clearTimeout(timer);
    this.#retries.clear();
    for (const task of this.#tasks.values()) task.abort.abort();
    await Promise.all([...this.#tasks.values()].map((t) => t.done));
  }

  #start(
    what: Pick<HealProgress, "kind" | "request" | "drive" | "bytesTotal">,
    title: string,
    run: (task: Task) => Promise<void>,
  ): HealProgress {
    const progress: HealProgress = {
      id: crypto.randomUUID(),
      ...what,
      state: "running",
      started: new Date(),
      objectsScanned: 0,
      objectsHealed: 0,
      objectsFailed: 0,
      bytesHealed: 0,
    };
    const task: Task = { progress, abort: new AbortController(), done: Promise.resolve() };
    const log = this.options.log ?? console.log;
    log(`flashstor: ${title} started (${progress.id})`);
    task.done = run(task).then(
      () => {
        progress.state = "done";
      },
      (err: unknown) => {
        progress.state = "failed";
        progress.error = err instanceof Error ? err.message : String(err);
      },
    ).then(() => {
      progress.finished = new Date();
      const seconds = (progress.finished.getTime() - progress.started.getTime()) / 1000;
      log(
        `flashstor: ${title} ${progress.state === "done" ? "finished" : "stopped"}` +
          `${progress.error ? ` (${progress.error})` : ""}: ${progress.objectsScanned} objects ` +
          `scanned, ${progress.objectsHealed} healed (${progress.bytesHealed} bytes), ` +
          `${progress.objectsFailed} failed in ${seconds.toFixed(1)} s`,
      );
      this.#prune();
    });
    this.#tasks.set(progress.id, task);
    return { ...progress };
  }

  /** Counts the objects a task will walk, for its total; a failed count leaves none. */
  #countTotal(
    task: Task,
    walk: AsyncIterable<{ bucket: string; name: string }>,
    already = 0,
    after?: { bucket: string; object: string },
  ): void {
    (async () => {
      let total = already;
      for await (const o of walk) {
        if (
          !after || o.bucket > after.bucket || (o.bucket === after.bucket && o.name > after.object)
        ) {
          total++;
        }
      }
      task.progress.objectsTotal = total;
    })().catch(() => {});
  }

  async #healOne(
    progress: Counts,
    set: ErasureSet,
    bucket: string,
    name: string,
    deep: boolean,
    healed: (result: HealResult) => boolean,
  ): Promise<void> {
    progress.objectsScanned++;
    try {
      const result = await healObject(set, bucket, name, { deep });
      if (!healed(result)) {
        this.totals.clean++;
        return;
      }
      // The size of every version in the metadata just written (none for purged remnants).
      const drive = set.drives.find((d) => d.endpoint === result.healedDrives[0]);
      const size = await drive?.readAll(bucket, `${encodeObjectName(name)}/${META_FILE}`)
        .then((raw) => decodeXlMeta(raw).versions.reduce((n, v) => n + v.size, 0), () => 0) ?? 0;
      progress.objectsHealed++;
      progress.bytesHealed += size;
      this.totals.healed++;
      this.totals.bytes += size;
    } catch {
      progress.objectsFailed++;
      this.totals.failed++;
    }
  }

  #prune(): void {
    const finished = [...this.#tasks.values()].filter((t) => t.progress.state !== "running");
    for (const t of finished.slice(0, Math.max(0, finished.length - FINISHED_KEPT))) {
      this.#tasks.delete(t.progress.id);
    }
  }
}

type Counts = Pick<
  HealProgress,
  "objectsScanned" | "objectsHealed" | "objectsFailed" | "bytesHealed"
>;

function counts(p: Counts): Counts {
  const { objectsScanned, objectsHealed, objectsFailed, bytesHealed } = p;
  return { objectsScanned, objectsHealed, objectsFailed, bytesHealed };
}

/**
 * Runs `heal` on every item, HEAL_CONCURRENCY at a time; `settled` is called in walk order for
 * each item once it and every item before it are done: a position a resume may start after.
 * `heal` throwing stops the walk (after the heals in flight).
 */
async function healAll<T>(
  items: AsyncIterable<T>,
  heal: (item: T) => Promise<void>,
  settled: (item: T) => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const window: { item: T; done: boolean; promise: Promise<void> }[] = [];
  const flush = async () => {
    while (window[0]?.done) await settled(window.shift()!.item);
  };
  try {
    for await (const item of items) {
      const slot = { item, done: false, promise: Promise.resolve() };
      slot.promise = heal(item).finally(() => {
        slot.done = true;
      });
      window.push(slot);
      for (;;) {
        await flush();
        const running = window.filter((w) => !w.done);
        if (running.length < HEAL_CONCURRENCY && window.length < HEAL_WINDOW) break;
        await (window.length >= HEAL_WINDOW
          ? window[0].promise
          : Promise.race(running.map((w) => w.promise)));
      }
    }
    for (const slot of window) await slot.promise;
    await flush();
  } finally {
    await Promise.allSettled(window.map((w) => w.promise));
  }
}
