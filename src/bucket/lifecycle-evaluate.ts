/**
 * What a bucket's lifecycle rules ask of one object, as pure functions of its versions, the
 * rules, the time and the length of a day (shortened for tests, as Ceph's
 * rgw_lc_debug_interval). Days count from a version's Last-Modified, or for a noncurrent one
 * from when it stopped being current (the next newer version's Last-Modified), and the result
 * is rounded up to the next midnight UTC as AWS does: with a shortened day, to the next
 * multiple of the day length.
 */

import type { MultipartUploadInfo, ObjectInfo } from "../object/layer.ts";
import { TAGGING } from "../object/object-lock.ts";
import type { LifecycleFilter, LifecycleRule } from "./lifecycle.ts";

/** What to do to one object: expire its current version, or remove one version for good. */
export type LifecycleAction =
  | { kind: "expire"; rule: string }
  | { kind: "removeVersion"; versionId: string; rule: string };

/** When something `days` days after `from` is due: the day boundary after the sum. */
export function dueTime(from: Date, days: number, dayMs: number): number {
  return (Math.floor(from.getTime() / dayMs) + days + 1) * dayMs;
}

function tagsOf(version: ObjectInfo): URLSearchParams {
  return new URLSearchParams(version.metadata[TAGGING] ?? "");
}

/** Whether the filter selects the version (a delete marker has neither tags nor size). */
export function matches(filter: LifecycleFilter, version: ObjectInfo): boolean {
  if (!version.name.startsWith(filter.prefix)) return false;
  if (version.deleteMarker) return filter.tags.length === 0;
  const tags = tagsOf(version);
  if (!filter.tags.every((t) => tags.getAll(t.key).includes(t.value))) return false;
  const { sizeGreaterThan: above, sizeLessThan: below } = filter;
  return (above === undefined || version.size > above) &&
    (below === undefined || version.size < below);
}

/** When the current version expires under `rule`; undefined: the rule does not expire it. */
function currentDue(rule: LifecycleRule, current: ObjectInfo, dayMs: number): number | undefined {
  const expiration = rule.expiration;
  if (!rule.enabled || expiration === undefined || !matches(rule.filter, current)) return;
  if (expiration.days !== undefined) return dueTime(current.modTime, expiration.days, dayMs);
  if (expiration.date !== undefined) return Date.parse(expiration.date);
}

/** The earliest expiry of a current version and the rule that sets it (x-amz-expiration). */
export function expiryOf(
  rules: readonly LifecycleRule[],
  current: ObjectInfo,
  dayMs: number,
): { due: Date; rule: string } | undefined {
  if (current.deleteMarker) return undefined;
  let best: { due: Date; rule: string } | undefined;
  for (const rule of rules) {
    const due = currentDue(rule, current, dayMs);
    if (due !== undefined && (best === undefined || due < best.due.getTime())) {
      best = { due: new Date(due), rule: rule.id };
    }
  }
  return best;
}

/**
 * A delete marker left alone (no noncurrent version) is removed by a rule that asks for it, or
 * by one expiring current versions once the marker is as old as its Days (AWS).
 */
function removesLoneMarker(rule: LifecycleRule, marker: ObjectInfo, now: number, dayMs: number) {
  const expiration = rule.expiration;
  if (!rule.enabled || expiration === undefined || !matches(rule.filter, marker)) return false;
  if (expiration.expiredObjectDeleteMarker) return true;
  return expiration.days !== undefined && dueTime(marker.modTime, expiration.days, dayMs) <= now;
}

/** Whether `rule` removes the noncurrent `version`, the `index`th newest of them (from 0). */
function removesNoncurrent(
  rule: LifecycleRule,
  version: ObjectInfo,
  index: number,
  noncurrentSince: Date,
  now: number,
  dayMs: number,
): boolean {
  const action = rule.noncurrentVersionExpiration;
  if (!rule.enabled || action === undefined || !matches(rule.filter, version)) return false;
  if (index < (action.newerNoncurrentVersions ?? 0)) return false;
  return dueTime(noncurrentSince, action.noncurrentDays, dayMs) <= now;
}

/** The actions due at `now` on one object, from its versions newest first. */
export function objectActions(
  rules: readonly LifecycleRule[],
  versions: readonly ObjectInfo[],
  now: number,
  dayMs: number,
): LifecycleAction[] {
  const [current] = versions;
  if (current === undefined) return [];
  const actions: LifecycleAction[] = [];
  if (!current.deleteMarker) {
    const expiry = expiryOf(rules, current, dayMs);
    if (expiry && expiry.due.getTime() <= now) actions.push({ kind: "expire", rule: expiry.rule });
  } else if (versions.length === 1) {
    const rule = rules.find((r) => removesLoneMarker(r, current, now, dayMs));
    if (rule) actions.push({ kind: "removeVersion", versionId: current.versionId, rule: rule.id });
  }
  for (let i = 1; i < versions.length; i++) {
    const version = versions[i];
    const since = versions[i - 1].modTime;
    const rule = rules.find((r) => removesNoncurrent(r, version, i - 1, since, now, dayMs));
    if (rule) actions.push({ kind: "removeVersion", versionId: version.versionId, rule: rule.id });
  }
  return actions;
}

/**
 * The rule that aborts the upload at `now`, if any. Only a prefix can select an upload: its tags
 * and size are not known until it completes, so rules filtering on size do not apply.
 */
export function abortingRule(
  rules: readonly LifecycleRule[],
  upload: MultipartUploadInfo,
  now: number,
  dayMs: number,
): string | undefined {
  return rules.find((rule) => {
    const days = rule.abortIncompleteUploadDays;
    const { prefix, sizeGreaterThan, sizeLessThan } = rule.filter;
    return rule.enabled && days !== undefined && upload.object.startsWith(prefix) &&
      sizeGreaterThan === undefined && sizeLessThan === undefined &&
      dueTime(upload.initiated, days, dayMs) <= now;
  })?.id;
}
