/** A bucket's object-lock configuration and the retention it gives new versions. */

export type RetentionMode = "GOVERNANCE" | "COMPLIANCE";

/** How long a new version is retained when its upload names no retention of its own. */
export interface DefaultRetention {
  mode: RetentionMode;
  /** Exactly one of days and years. */
  days?: number;
  years?: number;
}

export interface ObjectLockConfiguration {
  /** Always true: once enabled, object lock stays on the bucket for good. */
  enabled: true;
  defaultRetention?: DefaultRetention;
}

const DAY_MS = 24 * 3600 * 1000;

/** The end of a default retention for a version written at `now`. */
export function defaultRetainUntil(retention: DefaultRetention, now: Date): Date {
  const until = new Date(now.getTime() + (retention.days ?? 0) * DAY_MS);
  if (retention.years !== undefined) until.setUTCFullYear(until.getUTCFullYear() + retention.years);
  return until;
}
