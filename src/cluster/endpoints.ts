/**
 * Drive arguments → the deployment's erasure-set layout, as MinIO does it: ellipsis patterns
 * (`/mnt/d{1...8}`) expand to drive lists; every set has the same size, 2–16 drives, the
 * largest size that divides the drive count.
 */
import { lookup } from "node:dns/promises";
import type { Topology } from "./topology.ts";

export class EndpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EndpointError";
  }
}

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

/**
 * Chooses equal sets of 2–16 drives (the largest size dividing the count); 1 drive runs alone.
 * On several nodes, as MinIO, a size that spreads evenly over them comes first: a multiple of
 * the node count, or a divisor of it (so a lost node costs every set the same few shards).
 */
export function setLayout(driveCount: number, parity?: number, nodeCount = 1): SetLayout {
  if (driveCount < 1) throw new EndpointError("at least one drive is required");
  const even = (size: number) => size % nodeCount === 0 || nodeCount % size === 0;
  const sizes = Array.from({ length: 15 }, (_, i) => 16 - i).filter((s) => driveCount % s === 0);
  const setDriveCount = driveCount === 1 ? 1 : (sizes.find(even) ?? sizes[0] ?? 0);
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

const URL_DRIVE = /^https?:\/\//i;

/**
 * Expands every drive argument. They are all local paths (one node) or all http(s) URLs (a
 * cluster); the same drive twice is refused.
 */
export function resolveDrives(args: string[]): string[] {
  const drives = args.flatMap(expandEllipsis);
  const urls = drives.filter((d) => URL_DRIVE.test(d)).length;
  if (urls > 0 && urls < drives.length) {
    throw new EndpointError(
      "drives must be all local paths (one node) or all http(s):// URLs (a cluster), not a mix",
    );
  }
  const seen = new Set<string>();
  for (const drive of drives) {
    const key = urls > 0 ? driveUrl(drive).key : drive;
    if (seen.has(key)) throw new EndpointError(`drive ${drive} is listed twice`);
    seen.add(key);
  }
  return drives;
}

/** How many nodes the drives name (1 for local paths). */
export function nodeCount(drives: string[]): number {
  if (!drives.some((d) => URL_DRIVE.test(d))) return 1;
  return new Set(drives.map((d) => driveUrl(d).node)).size;
}

interface DriveUrl {
  scheme: "http" | "https";
  /** host:port (IPv6 hosts in brackets), the port always written. */
  node: string;
  hostname: string;
  port: number;
  path: string;
  /** Identity of the drive: node + path without a trailing slash. */
  key: string;
}

/** Parses one drive URL: http(s)://host[:port]/absolute/path, nothing else. */
function driveUrl(drive: string): DriveUrl {
  let url: URL;
  try {
    url = new URL(drive);
  } catch {
    throw new EndpointError(`drive ${drive} is not a valid URL`);
  }
  const scheme = url.protocol === "https:" ? "https" : "http";
  if (url.username || url.password || url.search || url.hash) {
    throw new EndpointError(`drive ${drive}: only scheme, host, port and path are allowed`);
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname).replace(/\/+$/, "");
  } catch {
    throw new EndpointError(`drive ${drive}: malformed path`);
  }
  if (path === "") throw new EndpointError(`drive ${drive} names no path (the root is refused)`);
  const port = url.port ? Number(url.port) : scheme === "https" ? 443 : 80;
  const node = `${url.hostname}:${port}`;
  return { scheme, node, hostname: url.hostname, port, path, key: `${node}${path}` };
}

/** Where this node listens, to find its own drives among the endpoints. */
export interface ListenAddress {
  hostname: string;
  port: number;
  /** Served over TLS: drive URLs must then be https. */
  tls: boolean;
}

const WILDCARD = new Set(["0.0.0.0", "::", ""]);

/** The addresses a host name resolves to as the system resolves it (/etc/hosts too). */
async function addressesOf(host: string): Promise<string[]> {
  try {
    const found = await lookup(host.replace(/^\[|\]$/g, ""), { all: true });
    return found.map((a) => a.address);
  } catch {
    return [];
  }
}

/** Whether `address` is one of this machine's: only those can be bound. */
function isLocalAddress(address: string): boolean {
  try {
    Deno.listen({ hostname: address, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether drives on `host`:`port` are this node's: the port is the one it listens on and the
 * host resolves to the address it listens on (listening on every address: to any local one).
 */
async function isSelf(host: string, port: number, listen: ListenAddress): Promise<boolean> {
  if (port !== listen.port) return false;
  const addresses = await addressesOf(host);
  if (WILDCARD.has(listen.hostname)) return addresses.some(isLocalAddress);
  const listening = await addressesOf(listen.hostname);
  return addresses.some((a) => listening.includes(a));
}

/**
 * The deployment's drives (expanded drive arguments) in format order, with this node's marked.
 * Local paths: a single-node deployment. URLs: a cluster, every node given the same list; this
 * node's drives are those at its listen address; every node must hold as many drives. Format
 * order interleaves the nodes (drive 1 of every node, then drive 2, …), so that consecutive
 * drives, and so every erasure set, spread evenly across them.
 */
export async function resolveTopology(
  drives: string[],
  listen: ListenAddress,
  layout: SetLayout,
): Promise<Topology> {
  if (!drives.some((d) => URL_DRIVE.test(d))) {
    const self = { node: "", url: "", local: true };
    return {
      drives: drives.map((path) => ({ endpoint: path, path, node: "", local: true })),
      nodes: [self],
      self,
      distributed: false,
      layout,
    };
  }
  const parsed = drives.map((endpoint) => ({ endpoint, ...driveUrl(endpoint) }));
  const wanted = listen.tls ? "https" : "http";
  const wrong = parsed.find((d) => d.scheme !== wanted);
  if (wrong) {
    throw new EndpointError(
      `drive ${wrong.endpoint}: this server ${listen.tls ? "uses" : "does not use"} TLS, so ` +
        `every drive URL must be ${wanted}://`,
    );
  }
  const byNode = new Map<string, typeof parsed>();
  for (const d of parsed) byNode.set(d.node, [...byNode.get(d.node) ?? [], d]);
  const nodes = await Promise.all([...byNode.values()].map(async (held) => {
    const { node, hostname, port } = held[0];
    return { node, url: `${wanted}://${node}`, local: await isSelf(hostname, port, listen) };
  }));
  const own = nodes.filter((n) => n.local);
  if (own.length === 0) {
    throw new EndpointError(
      `none of the drives is on this node (listening on ${listen.hostname}:${listen.port}); ` +
        `nodes named: ${nodes.map((n) => n.node).join(", ")}. Start each node with --address ` +
        `matching its host:port in the drive URLs`,
    );
  }
  if (own.length > 1) {
    throw new EndpointError(
      `this node is named twice (${own.map((n) => n.node).join(", ")}): name it one way`,
    );
  }
  const perNode = byNode.get(nodes[0].node)!.length;
  const uneven = nodes.find((n) => byNode.get(n.node)!.length !== perNode);
  if (uneven) {
    throw new EndpointError(
      `every node must hold the same number of drives: ${nodes[0].node} has ${perNode}, ` +
        `${uneven.node} has ${byNode.get(uneven.node)!.length}`,
    );
  }
  const ordered = Array.from(
    { length: perNode },
    (_, j) => nodes.map((n) => byNode.get(n.node)![j]),
  ).flat();
  return {
    drives: ordered.map((d) => ({
      endpoint: d.endpoint,
      path: d.path,
      node: d.node,
      local: d.node === own[0].node,
    })),
    nodes,
    self: own[0],
    distributed: nodes.length > 1,
    layout,
  };
}
