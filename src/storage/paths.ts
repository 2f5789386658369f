/**
 * Validation of volume names and object paths (nothing may escape the drive or the volume),
 * and the byte order of S3 keys.
 */
import { DiskAccessDenied } from "./errors.ts";

/** Throws unless `volume` is a single, ordinary path segment. */
export function checkVolume(volume: string): void {
  if (!isSegment(volume)) {
    throw new DiskAccessDenied(`invalid volume name ${JSON.stringify(volume)}`);
  }
}

/**
 * Throws unless `path` is a relative path of ordinary segments ("a/b/c"); "" (the volume
 * itself) only when `allowEmpty`.
 */
export function checkPath(path: string, allowEmpty = false): void {
  if (path === "" && allowEmpty) return;
  if (!isPath(path)) throw new DiskAccessDenied(`invalid path ${JSON.stringify(path)}`);
}

/** True for a relative path of ordinary segments: no "", ".", ".." segments, no NUL. */
export function isPath(path: string): boolean {
  return path.split("/").every(isSegment);
}

function isSegment(s: string): boolean {
  return s !== "" && s !== "." && s !== ".." && !s.includes("/") && !s.includes("\0");
}

/**
 * Compares two strings in UTF-8 byte order (= code point order), which S3 uses for keys.
 * Plain `<` compares UTF-16 code units, which puts U+E000..U+FFFF after astral characters.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Reorders UTF-16 code units so that surrogates (astral code points) sort last. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}

/** Any UTF-16 unit from the surrogates up: where code unit order and code point order part. */
const ABOVE_BMP_ORDER = /[\uD800-\uFFFF]/;

/**
 * Sorts keys in place in UTF-8 byte order. Without units from U+D800 up (the usual case) the
 * built-in comparator-less sort gives that order and is several times faster than
 * compareKeys, which matters for directories of thousands of keys listed page after page.
 */
export function sortKeys(keys: string[]): string[] {
  return keys.some((k) => ABOVE_BMP_ORDER.test(k)) ? keys.sort(compareKeys) : keys.sort();
}
