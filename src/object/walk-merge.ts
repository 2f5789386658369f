/**
 * A k-way merge of the walks of one bucket on the drives of a set: each step gives the next
 * name any drive holds, with the entry of every drive that holds it. Memory is one entry per
 * drive. A drive whose walk fails is left out from then on (`alive` counts the others), so
 * one bad drive never stops a listing or a scan that the rest can serve.
 */
import type { WalkEntry } from "../storage/api.ts";
import { compareKeys } from "../storage/paths.ts";
import type { DriveWalk } from "./drive-walk.ts";

export interface MergedEntry {
  name: string;
  /** Per drive of the set: its entry for `name`, or undefined when its walk does not show it. */
  entries: (WalkEntry | undefined)[];
}

export class MergedWalk {
  readonly #walks: (DriveWalk | undefined)[];
  readonly #heads: (WalkEntry | undefined)[];
  readonly #pending: boolean[];

  /** `walks[i]` walks drive i of the set; undefined for a drive that cannot be walked. */
  constructor(walks: (DriveWalk | undefined)[]) {
    this.#walks = walks;
    this.#heads = walks.map(() => undefined);
    this.#pending = walks.map((w) => w !== undefined);
  }

  /** Drives whose walk has not failed. */
  get alive(): number {
    return this.#walks.filter(Boolean).length;
  }

  /** Whether drive i's walk is still going (false once it failed or for a missing drive). */
  walking(i: number): boolean {
    return this.#walks[i] !== undefined;
  }

  /** The next name in key order, or undefined once every walk is done. */
  async next(): Promise<MergedEntry | undefined> {
    await Promise.all(this.#pending.map((p, i) => (p ? this.#advance(i) : undefined)));
    let name: string | undefined;
    for (const h of this.#heads) {
      if (h && (name === undefined || compareKeys(h.name, name) < 0)) name = h.name;
    }
    if (name === undefined) return undefined;
    const entries = this.#heads.map((h, i) => {
      if (h?.name !== name) return undefined;
      this.#pending[i] = true;
      return h;
    });
    return { name, entries };
  }

  /** Skips every walk to the names after `after`. */
  async seek(after: string): Promise<void> {
    await Promise.all(this.#walks.map(async (w, i) => {
      if (!w) return;
      await w.seek(after);
      const h = this.#heads[i];
      if (h && compareKeys(h.name, after) <= 0) this.#pending[i] = true;
    }));
  }

  async close(): Promise<void> {
    await Promise.all(this.#walks.map((w) => w?.close().catch(() => {})));
  }

  async #advance(i: number): Promise<void> {
    this.#pending[i] = false;
    try {
      this.#heads[i] = await this.#walks[i]!.next();
    } catch {
      await this.#walks[i]?.close().catch(() => {});
      this.#walks[i] = undefined;
      this.#heads[i] = undefined;
    }
  }
}
