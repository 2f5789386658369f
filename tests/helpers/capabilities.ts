/**
 * A test that needs what this machine lacks is declared with `ignore:` and the reason printed,
 * never run to an early return that reports ok. Capabilities are probed once per test file.
 */
import { hasOpenssl } from "./tls.ts";

export { mountsUnavailable } from "./mounts.ts";

/** `ignore:` of a test that needs what `missing` says is absent: printed when it is. */
export function ignoreWithout(test: string, missing: string | undefined): boolean {
  if (missing !== undefined) console.log(`ignored: ${test}: ${missing}`);
  return missing !== undefined;
}

/** Why TLS tests cannot make certificates here; undefined when they can. */
export async function opensslUnavailable(): Promise<string | undefined> {
  return await hasOpenssl() ? undefined : "openssl is not installed, no certificate can be made";
}
