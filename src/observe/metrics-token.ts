/**
 * The bearer token of /flashstor/v1/metrics. It is never a credential: whoever may scrape
 * metrics must not hold the keys to the data. FLASHSTOR_METRICS_TOKEN sets it; otherwise a
 * random one is made at first start and kept in the system volume of every drive (written
 * atomically through the storage API, readable by the server's user only), so that a restart,
 * a replaced drive and every node of a cluster reading the same drives use the same token.
 * The token itself is never logged (logs travel further than the drives): the start-up line
 * names the file to read it from.
 */

import { Buffer } from "node:buffer";
import { type StorageAPI, SYSTEM_VOLUME } from "../storage/api.ts";
import type { DriveHandle } from "../storage/drive-handle.ts";
import type { ConfigStore } from "../object/layer.ts";

/** Path of the token inside the system volume. */
export const METRICS_TOKEN_FILE = "config/metrics-token";

const TOKEN = /^[A-Za-z0-9_-]{32,256}$/;
/** The record that decides the first token (the drives' copies are what a start reads). */
const TOKEN_RECORD = "metrics-token";
const utf8 = new TextEncoder();

function newToken(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
}

async function readToken(drive: StorageAPI): Promise<string | undefined> {
  try {
    const text = new TextDecoder().decode(await drive.readAll(SYSTEM_VOLUME, METRICS_TOKEN_FILE));
    return TOKEN.test(text.trim()) ? text.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The value most drives hold (a lone drive that disagrees is rewritten), or undefined. */
function agreed(values: (string | undefined)[]): string | undefined {
  const counts = new Map<string, number>();
  for (const value of values) if (value) counts.set(value, (counts.get(value) ?? 0) + 1);
  let best: string | undefined;
  for (const [value, count] of counts) {
    if (best === undefined || count > counts.get(best)!) {
      best = value;
    }
  }
  return best;
}

/**
 * The configured token, or the one the drives keep (made and stored on first start). Drives
 * that miss it or disagree get it written; at least one drive must hold it. Says in the log
 * where the token comes from and how to read it.
 */
export async function loadMetricsToken(
  configured: string | undefined,
  drives: DriveHandle[],
  records: Pick<ConfigStore, "createConfig">,
): Promise<string> {
  if (configured) {
    console.log("flashstor: metrics bearer token: FLASHSTOR_METRICS_TOKEN");
    return configured;
  }
  const online = drives.filter((d) => d.available);
  const stored = await Promise.all(online.map(readToken));
  // The first start makes it once, under a lock: the nodes of a cluster start together.
  const token = agreed(stored) ??
    new TextDecoder().decode(await records.createConfig(TOKEN_RECORD, utf8.encode(newToken())));
  const bytes = utf8.encode(`${token}\n`);
  const written = await Promise.all(online.map(async (drive, i) => {
    if (stored[i] === token) return drive;
    return await drive.writeAll(SYSTEM_VOLUME, METRICS_TOKEN_FILE, bytes).then(
      () => drive,
      () => undefined,
    );
  }));
  // The file to read is named on one of this node's drives (a peer's is a URL).
  const holders = written.filter((d) => d !== undefined);
  const holder = holders.find((d) => !/^https?:/.test(d.endpoint)) ?? holders[0];
  if (!holder) throw new Error("no drive could store the metrics token");
  const path = `${holder.endpoint}/${SYSTEM_VOLUME}/${METRICS_TOKEN_FILE}`;
  console.log(`flashstor: metrics bearer token (kept on every drive, mode 0600): cat ${path}`);
  return token;
}
