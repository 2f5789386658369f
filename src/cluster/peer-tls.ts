/**
 * Whom a node trusts on its peers' https endpoints: its own certificate (the nodes of a
 * deployment commonly share one, or have theirs signed by one CA) and every PEM certificate in
 * `certs-dir/CAs`, MinIO's folder of trusted CAs. Read at start, before the certs dir's read
 * permission is revoked.
 */
import { join } from "node:path";

export const CA_DIR = "CAs";
const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

export async function peerTrust(certsDir: string, ownCert: string): Promise<string[]> {
  const trusted = [ownCert];
  const dir = join(certsDir, CA_DIR);
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.isFile).map((e) => e.name);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) {
      return trusted;
    }
    throw err;
  }
  for (const name of names.sort()) {
    const text = await Deno.readTextFile(join(dir, name));
    if (text.includes(PEM_CERTIFICATE)) trusted.push(text);
  }
  return trusted;
}
