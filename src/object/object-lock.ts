/**
 * Object lock (WORM) as the object layer enforces it: a version's retention and legal hold
 * live in its metadata under these keys (the S3 layer validates what it stores), and no path
 * that removes or overwrites a version — DeleteObject(s), lifecycle, heal's purge — may take
 * one that they protect.
 */
import { ObjectLocked } from "./errors.ts";
import type { ObjectMetadata } from "./layer.ts";

/** "GOVERNANCE" | "COMPLIANCE". */
export const LOCK_MODE = "x-amz-object-lock-mode";
/** ISO 8601 date until which the mode holds. */
export const LOCK_RETAIN_UNTIL = "x-amz-object-lock-retain-until-date";
/** "ON" | "OFF". */
export const LOCK_LEGAL_HOLD = "x-amz-object-lock-legal-hold";
/** The version's tag set, URL-encoded as in x-amz-tagging (absent: no tags). */
export const TAGGING = "x-amz-tagging";

/** Throws ObjectLocked when the version's legal hold or an unexpired retention protects it. */
export function checkRemovable(
  metadata: ObjectMetadata,
  now: number,
  bypassGovernance = false,
): void {
  if (metadata[LOCK_LEGAL_HOLD] === "ON") {
    throw new ObjectLocked("the version is under a legal hold");
  }
  const mode = metadata[LOCK_MODE];
  const until = Date.parse(metadata[LOCK_RETAIN_UNTIL] ?? "");
  if (mode === undefined || !(until > now)) return;
  if (mode === "GOVERNANCE" && bypassGovernance) return;
  throw new ObjectLocked(
    `the version is retained in ${mode} mode until ${new Date(until).toISOString()}`,
  );
}
