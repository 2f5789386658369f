/**
 * Small JSON records kept in the system volume of every drive of a set (multipart upload and
 * part records, completed uploads): written to the drives chosen, read back by quorum.
 */
import { type StorageAPI, SYSTEM_VOLUME } from "../storage/api.ts";
import { FileNotFound, VolumeNotFound } from "../storage/errors.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { fanOut, type Outcome } from "./quorum.ts";

const utf8 = new TextEncoder();

/**
 * Reads a record from every drive: the value a read quorum agrees on (if any), which drives
 * hold it, and how many drives lack the record altogether.
 */
export async function readRecord<T>(
  set: ErasureSet,
  path: string,
): Promise<{ value?: T; holders: boolean[]; missing: number }> {
  const outcomes = await fanOut(set.drives, (d) => d.readAll(SYSTEM_VOLUME, path));
  const texts = outcomes.map((o) => (o.ok ? new TextDecoder().decode(o.value) : undefined));
  const counts = new Map<string, number>();
  for (const t of texts) if (t !== undefined) counts.set(t, (counts.get(t) ?? 0) + 1);
  const missing = outcomes.filter((o) => !o.ok && isAbsent(o.error)).length;
  const best = [...counts].sort((a, b) => b[1] - a[1])[0];
  if (!best || best[1] < set.readQuorum) return { holders: texts.map(() => false), missing };
  try {
    return { value: JSON.parse(best[0]) as T, holders: texts.map((t) => t === best[0]), missing };
  } catch {
    return { holders: texts.map(() => false), missing };
  }
}

export function isAbsent(err: Error): boolean {
  return err instanceof FileNotFound || err instanceof VolumeNotFound;
}

/** Writes a record to the drives marked in `on` (all by default). */
export async function writeRecord(
  set: ErasureSet,
  path: string,
  value: unknown,
  on: boolean[] = set.drives.map(() => true),
): Promise<Outcome<void>[]> {
  const bytes = utf8.encode(JSON.stringify(value));
  return await fanOut(set.drives, (d, i) => {
    if (!on[i]) return Promise.reject(new FileNotFound("drive left out"));
    return d.writeAll(SYSTEM_VOLUME, path, bytes);
  });
}

/** The names in a system-volume directory (subdirectories end with "/"); none when absent. */
export async function listOrNone(drive: StorageAPI, path: string): Promise<string[]> {
  try {
    return await drive.listDir(SYSTEM_VOLUME, path);
  } catch (err) {
    if (err instanceof Error && isAbsent(err)) return [];
    throw err;
  }
}
