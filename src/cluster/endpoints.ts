/**
 * Drive arguments → the deployment's erasure-set layout, as MinIO does it: ellipsis patterns
 * (`/mnt/d{1...8}`) expand to drive lists; every set has the same size, 2–16 drives, the
 * largest size that divides the drive count.
 */

export class EndpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointError";
  }
}

import type { Topology } from "./topology.ts";

const ELLIPSIS = /\{(\d+)\.\.\.(\d+)\}/;

/** Expands every `{a...b}` in a pattern (left to right, zero-padding kept), e.g. d{01...03}. */
export function expandEllipsis(pattern: string): string[] {
  const match = ELLIPSIS.exec(pattern);
  if (!match) return [pattern];
  const [whole, fromText, toText] = match;
  const from = Number(fromText);
  const to = Number(toText);
  if (from > to) throw new EndpointError(`invalid range ${whole} in ${pattern}`);
  if (to - from >= 4096) throw new EndpointError(`range ${whole} in ${pattern} is too large`);
  const width = fromText.startsWith("0") ? fromText.length : 0;
  const head = pattern.slice(0, match.index);
  const tail = pattern.slice(match.index + whole.length);
  const expanded: string[] = [];
  for (let i = from; i <= to; i++) {
    for (const rest of expandEllipsis(tail)) {
      expanded.push(head + String(i).padStart(width, "0") + rest);
    }
  }
  return expanded;
}

export interface SetLayout {
  setCount: number;
  setDriveCount: number;
  parity: number;
}

/** Default parity by set size, as MinIO: 2–3 → 1, 4–5 → 2, 6–7 → 3, ≥ 8 → 4; 1 drive → 0. */
export function defaultParity(setDriveCount: number): number {
  if (setDriveCount === 1) return 0;
  if (setDriveCount <= 3) return 1;
  if (setDriveCount <= 5) return 2;
  if (setDriveCount <= 7) return 3;
  return 4;
}

/** Chooses equal sets of 2–16 drives (the largest size dividing the count); 1 drive runs alone. */
export function setLayout(driveCount: number, parity?: number): SetLayout {
  if (driveCount < 1) throw new EndpointError("at least one drive is required");
  let setDriveCount = driveCount === 1 ? 1 : 0;
  for (let size = 16; size >= 2 && setDriveCount === 0; size--) {
    if (driveCount % size === 0) setDriveCount = size;
  }
  if (setDriveCount === 0) {
    throw new EndpointError(
      `${driveCount} drives cannot be split into equal erasure sets of 2 to 16 drives`,
    );
  }
  const chosenParity = parity ?? defaultParity(setDriveCount);
  const maxParity = Math.floor(setDriveCount / 2);
  if (!Number.isInteger(chosenParity) || chosenParity < 0 || chosenParity > maxParity) {
    throw new EndpointError(
      `parity ${chosenParity} is invalid for sets of ${setDriveCount} drives (0 to ${maxParity})`,
    );
  }
  if (chosenParity === 0 && setDriveCount > 1) {
    throw new EndpointError("parity 0 is only allowed on a single drive");
  }
  return { setCount: driveCount / setDriveCount, setDriveCount, parity: chosenParity };
}

/** Expands every drive argument and rejects duplicates and remote endpoints (not yet served). */
export function resolveDrives(args: string[]): string[] {
  const drives = args.flatMap(expandEllipsis);
  const seen = new Set<string>();
  for (const drive of drives) {
    if (/^https?:\/\//.test(drive)) {
      throw new EndpointError(`remote drive ${drive}: cluster endpoints are not supported yet`);
    }
    if (seen.has(drive)) throw new EndpointError(`drive ${drive} is listed twice`);
    seen.add(drive);
  }
  return drives;
}

/** Where this node listens, to find its own drives among the endpoints. */
export interface ListenAddress {
  hostname: string;
  port: number;
  /** Served over TLS: drive URLs must then be https. */
  tls: boolean;
}

/**
 * The deployment's drives (expanded drive arguments) in format order, with this node's marked.
 * Local paths: a single-node deployment. URLs: a cluster.
 * OWNER: topology and bootstrap helper (see /work/notes/issue14-contract.md).
 */
export function resolveTopology(
  drives: string[],
  listen: ListenAddress,
  layout: SetLayout,
): Promise<Topology> {
  void listen;
  const self = { node: "", url: "", local: true };
  return Promise.resolve({
    drives: drives.map((path) => ({ endpoint: path, path, node: "", local: true })),
    nodes: [self],
    self,
    distributed: false,
    layout,
  });
}
