/**
 * The request target exactly as the client sent it. S3 keys may contain "..", "%2e%2e" or
 * "//", which `new URL()` / `new Request()` would normalise away, so routing and SigV4 must
 * never re-derive the path from a parsed URL.
 */

const targets = new WeakMap<Request, string>();

/** Records the raw target of a request built by a front door that had to normalise its URL. */
export function setRawTarget(request: Request, target: string): void {
  targets.set(request, target);
}

/** Raw path plus "?query" of a request; Deno.serve keeps it in `request.url` unmodified. */
export function rawTarget(request: Request): string {
  const recorded = targets.get(request);
  if (recorded !== undefined) return recorded;
  const url = request.url;
  const schemeEnd = url.indexOf("://");
  const pathStart = schemeEnd < 0 ? 0 : url.indexOf("/", schemeEnd + 3);
  return pathStart < 0 ? "/" : url.slice(pathStart);
}
