/**
 * The free space a drive keeps back from object data, so that metadata writes (upload records,
 * rollbacks, format) and deletes still work once data no longer fits, and the file system is
 * never filled to the last block (where ext4/XFS slow down and fragment).
 *
 * Default: 1 % of the drive, as MinIO (diskFillFraction = 0.99). On any real drive that is
 * hundreds of MiB, room for a million metadata writes of a few hundred bytes (a delete needs
 * none); a fixed floor is left to the operator (--drive-reserve), since one large enough to
 * matter would swallow a small test drive whole.
 */
import { statfs } from "node:fs/promises";
import { DiskFull } from "./errors.ts";

export interface ReservePolicy {
  /** Fraction of the drive's size kept free (0.01 = 1 %). */
  fraction: number;
  /** Bytes kept free at least. The reserve is the larger of the two; both 0 turn it off. */
  bytes: number;
}

export const DEFAULT_RESERVE: ReservePolicy = { fraction: 0.01, bytes: 0 };

/** How long one statfs stands for the drive's free space (less what we wrote since). */
const STATFS_MAX_AGE_MS = 1000;

export class SpaceReserve {
  #free = 0;
  #reserve = 0;
  #checkedAt = -Infinity;
  #statfs?: Promise<void>;

  constructor(readonly root: string, readonly policy: ReservePolicy) {}

  /**
   * Counts `bytes` of object data about to be written; throws DiskFull when they would eat
   * into the reserve. Refusals look again first, so space freed by deletes is seen at once.
   */
  async claim(bytes: number): Promise<void> {
    if (this.policy.fraction <= 0 && this.policy.bytes <= 0) return;
    if (performance.now() - this.#checkedAt > STATFS_MAX_AGE_MS) await this.#measure();
    if (this.#free - bytes < this.#reserve) {
      await this.#measure();
      if (this.#free - bytes < this.#reserve) {
        throw new DiskFull(
          `${this.root}: ${this.#free} bytes free, ${this.#reserve} kept in reserve`,
        );
      }
    }
    this.#free -= bytes;
  }

  /** One statfs shared by every caller waiting for it. */
  #measure(): Promise<void> {
    this.#statfs ??= statfs(this.root).then((fs) => {
      this.#free = fs.bavail * fs.bsize;
      this.#reserve = Math.max(this.policy.fraction * fs.blocks * fs.bsize, this.policy.bytes);
      this.#checkedAt = performance.now();
    }).finally(() => this.#statfs = undefined);
    return this.#statfs;
  }
}
