/**
 * Where the heal queue (mrf.ts) survives a restart: segments of queued object names in the
 * system volume of every drive of the set holding the objects. A segment is written once,
 * atomically (writeAll), and removed when every object in it is healed or given up: an
 * append-only log made of files. Any one drive that takes a segment is enough, since the queue
 * matters most while drives are failing; at start the union of every drive's segments is read.
 */
import { SYSTEM_VOLUME } from "../storage/api.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { fanOut } from "./quorum.ts";
import { listOrNone, writeRecord } from "./system-records.ts";

/** Directory of the system volume holding the segments. */
export const JOURNAL_DIR = "mrf";

export interface QueuedObject {
  bucket: string;
  object: string;
}

interface Segment {
  objects: [string, string][];
}

export class HealJournal {
  constructor(
    private readonly sets: readonly ErasureSet[],
    /** Index of the set holding an object. */
    private readonly setOf: (object: string) => number,
  ) {}

  /** Writes `objects` as a new segment; its name, or undefined when no drive took it. */
  async append(objects: readonly QueuedObject[]): Promise<string | undefined> {
    const name = `${Date.now().toString(36)}-${crypto.randomUUID()}.json`;
    const bySet = new Map<number, [string, string][]>();
    for (const { bucket, object } of objects) {
      const set = this.setOf(object);
      bySet.set(set, [...(bySet.get(set) ?? []), [bucket, object]]);
    }
    const written = await Promise.all(
      [...bySet].map(async ([set, entries]) => {
        const segment: Segment = { objects: entries };
        const outcomes = await writeRecord(this.sets[set], `${JOURNAL_DIR}/${name}`, segment);
        return outcomes.some((o) => o.ok);
      }),
    );
    return written.includes(true) ? name : undefined;
  }

  /** Removes a segment from every drive (absent is fine). */
  async remove(segment: string): Promise<void> {
    await Promise.all(
      this.sets.map((set) =>
        fanOut(set.drives, (d) => d.delete(SYSTEM_VOLUME, `${JOURNAL_DIR}/${segment}`))
      ),
    );
  }

  /** Every segment on any drive, and the objects they hold (deduplicated, oldest first). */
  async load(): Promise<{ segments: string[]; objects: QueuedObject[] }> {
    const segments = new Set<string>();
    const seen = new Map<string, QueuedObject>();
    for (const set of this.sets) {
      const listed = await fanOut(set.drives, (d) => listOrNone(d, JOURNAL_DIR));
      const names = [
        ...new Set(listed.flatMap((o) => (o.ok ? o.value : []))),
      ].filter((n) => n.endsWith(".json")).sort();
      for (const name of names) {
        segments.add(name);
        for (const [bucket, object] of await readSegment(set, name)) {
          seen.set(`${bucket}/${object}`, { bucket, object });
        }
      }
    }
    return { segments: [...segments], objects: [...seen.values()] };
  }
}

/** The entries of a segment from the first drive that holds a valid copy; none if no drive does. */
async function readSegment(set: ErasureSet, name: string): Promise<[string, string][]> {
  for (const drive of set.drives) {
    try {
      const raw = await drive.readAll(SYSTEM_VOLUME, `${JOURNAL_DIR}/${name}`);
      const value = JSON.parse(new TextDecoder().decode(raw)) as Partial<Segment>;
      if (!Array.isArray(value.objects)) continue;
      return value.objects.filter((e): e is [string, string] =>
        Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string"
      );
    } catch {
      // Absent on this drive or torn: another drive may hold it.
    }
  }
  return [];
}
