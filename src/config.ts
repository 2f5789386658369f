/**
 * `flashstor server [flags] DRIVES...` plus FLASHSTOR_* environment → one validated Config.
 * Everything the server reads from outside is parsed here, so the rest of the code takes
 * typed values and never looks at argv or the environment.
 */

import { nodeCount, resolveDrives, type SetLayout, setLayout } from "./cluster/endpoints.ts";
import { DEFAULT_RESERVE, type ReservePolicy } from "./storage/space-reserve.ts";
import type { ScannerSettings } from "./object/scanner.ts";
import { DEFAULT_DRIVE_TIMEOUT_MS } from "./storage/drive-handle.ts";
import { DEFAULT_PROBE_INTERVAL_MS } from "./storage/drive-monitor.ts";
import type { ObjectOwnership } from "./bucket/metadata-store.ts";
import { fromBase64 } from "./bytes.ts";

/** As MinIO's dsync: a lock not refreshed for this long is dropped by the lock servers. */
export const DEFAULT_LOCK_EXPIRY_MS = 30_000;
export const DEFAULT_ROOT_USER = "flashstoradmin";
export const DEFAULT_ROOT_PASSWORD = "flashstoradmin";

export type HttpEngine = "flashstor" | "deno";

export interface Config {
  hostname: string;
  port: number;
  drives: string[];
  layout: SetLayout;
  rootUser: string;
  rootPassword: string;
  /** True when the root credentials are the published defaults (warned about at start). */
  defaultCredentials: boolean;
  /** The region GetBucketLocation and x-amz-bucket-region report (us-east-1 by default). */
  region: string;
  /** FLASHSTOR_REGION: the one region requests may be signed for; unset accepts any, as MinIO. */
  signingRegion?: string;
  /** Accept Signature Version 2 (FLASHSTOR_SIGV2=off refuses it, as AWS for new buckets). */
  sigv2: boolean;
  /** Domains for virtual-host-style requests (`bucket.<domain>`). */
  domains: string[];
  certsDir: string;
  /** JSON audit lines go to this file; "-" means stdout; undefined disables the audit log. */
  auditLog?: string;
  metricsPublic: boolean;
  /**
   * Bearer token for /flashstor/v1/metrics: FLASHSTOR_METRICS_TOKEN, else the one kept on the
   * drives (observe/metrics-token.ts, filled in at start). Never a credential.
   */
  metricsToken?: string;
  httpEngine: HttpEngine;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** Uploads slower than this (bytes/s, averaged over 10 s windows) are cut off. */
  minBodyRate: number;
  shutdownTimeoutMs: number;
  /** Free space each drive keeps back from object data. */
  driveReserve: ReservePolicy;
  /** Deadline of each drive call and of each chunk of a drive stream (ms). */
  driveTimeoutMs: number;
  /** How often offline drives are probed to bring them back (ms). */
  driveProbeIntervalMs: number;
  /** A cluster's distributed lock whose holder stops refreshing it is dropped after this (ms). */
  lockExpiryMs: number;
  /** The background scanner: heal, deep scan, garbage, upload expiry, usage. */
  scanner: ScannerSettings;
  /** A lifecycle rule's "day" (ms): 86400 s, shortened for tests as Ceph's rgw_lc_debug_interval. */
  lifecycleDayMs: number;
  runUser?: string;
  runGroup?: string;
  /** The Object Ownership new buckets get (ObjectWriter: none stored, ACLs work). */
  objectOwnership: ObjectOwnership;
  /** New buckets get a public access block with its four switches on. */
  blockPublicAccess: boolean;
  /**
   * FLASHSTOR_KMS_SECRET_KEY: the root key of the built-in key service (SSE-S3, SSE-KMS, sealed
   * IAM secrets). Absent: no key service; SSE-S3 and SSE-KMS are refused, all else is served.
   */
  kmsSecretKey?: KmsSecretKey;
  /**
   * SSE-C over plain HTTP: refused (as AWS does) unless "loopback", which allows it from
   * 127.0.0.0/8 and ::1 clients (tests, a TLS proxy on the same host).
   */
  sseCOverHttp: "refuse" | "loopback";
  /** New buckets get a default encryption configuration with SSE-S3 (MinIO's default: none). */
  defaultBucketEncryption: boolean;
}

/** MinIO's MINIO_KMS_SECRET_KEY form: `NAME:BASE64`, the base64 of 32 random bytes. */
export interface KmsSecretKey {
  name: string;
  key: Uint8Array;
}

/** Parses FLASHSTOR_KMS_SECRET_KEY; the message never repeats the key. */
export function parseKmsSecretKey(value: string): KmsSecretKey {
  const cut = value.indexOf(":");
  const name = value.slice(0, cut);
  const form = "FLASHSTOR_KMS_SECRET_KEY is NAME:BASE64 of 32 random bytes " +
    "(e.g. my-key:$(head -c 32 /dev/urandom | base64))";
  if (cut <= 0 || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
    throw new ConfigError(`${form}: the name is missing or not [A-Za-z0-9_.-]`);
  }
  let key: Uint8Array;
  try {
    key = fromBase64(value.slice(cut + 1));
  } catch {
    throw new ConfigError(`${form}: the key is not base64`);
  }
  if (key.byteLength !== 32) {
    throw new ConfigError(`${form}: the key has ${key.byteLength} bytes`);
  }
  return { name, key };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

export const USAGE = `Usage: flashstor server [flags] DRIVES...

DRIVES are directories, with MinIO's ellipsis syntax: ./data/d{1...4}; or, for a cluster,
URLs naming every node's drives, the same on every node: http://node{1...4}:9000/mnt/d{1...4}
(each node finds its own by its --address)

Flags:
  --address HOST:PORT   listen address (default :9000)
  --parity N            parity shards per erasure set (default by set size)
  --domain NAME         domain for virtual-host-style requests (repeatable, comma list)
  --certs-dir DIR       TLS: public.crt + private.key (default ~/.flashstor/certs)
  --audit-log PATH      JSON audit log file, "-" for stdout
  --metrics-public      serve /flashstor/v1/metrics without a bearer token
  --http-engine NAME    flashstor (hardened HTTP/1.1, default) or deno (Deno.serve)
  --header-timeout S    seconds to receive request headers (default 10)
  --idle-timeout S      seconds a keep-alive connection may idle (default 30)
  --shutdown-timeout S  seconds to finish in-flight requests on SIGTERM (default 30)
  --drive-reserve SIZE  free space each drive keeps for metadata and deletes once object data
                        no longer fits: a percentage or bytes, e.g. 5% or 2GiB; 0 turns it off
                        (default 1%)
  --drive-timeout S     seconds a drive may take for one call, or for one chunk of a stream,
                        before it is taken offline (default 5)
  --drive-probe-interval S  seconds between probes of offline drives (default 5; also
                        FLASHSTOR_DRIVE_PROBE_INTERVAL)
  --lock-expiry S       a cluster drops a lock whose holder stopped refreshing it after S
                        seconds (default 30; also FLASHSTOR_LOCK_EXPIRY)
  --scanner-interval T  pause between background scanner cycles (default 5m; 0 turns it off)
  --scanner-deep-every N  one object in N per cycle gets every shard block verified, parity
                        included (default 16; 1 every object, 0 none)
  --garbage-age T       unreferenced data dirs and temp entries are removed once seen that
                        long (default 1h)
  --upload-expiry T     multipart uploads older than this are aborted (default 7d; 0 never)
  --lifecycle-day T     the length of a lifecycle rule's day (default 1d; shorter for tests;
                        also FLASHSTOR_LIFECYCLE_DAY)
  --object-ownership O  Object Ownership of new buckets: ObjectWriter (default),
                        BucketOwnerPreferred or BucketOwnerEnforced (ACLs disabled); also
                        FLASHSTOR_OBJECT_OWNERSHIP
  --block-public-access  new buckets get a public access block with all four switches on
                        (default off, so public ACLs and bucket policies work); also
                        FLASHSTOR_BLOCK_PUBLIC_ACCESS=on
  --default-encryption  new buckets get SSE-S3 as their default encryption (default off, as
                        MinIO; needs FLASHSTOR_KMS_SECRET_KEY); also
                        FLASHSTOR_DEFAULT_ENCRYPTION=on
  --sse-c-over-http loopback  accept SSE-C keys over plain HTTP from loopback clients (default:
                        refused without TLS, as AWS); also FLASHSTOR_SSE_C_OVER_HTTP
  -h, --help            this help

Durations T: seconds, or a number with s, m, h or d (90s, 5m, 1h, 7d).

Environment: FLASHSTOR_ROOT_USER, FLASHSTOR_ROOT_PASSWORD (the S3 root credentials),
FLASHSTOR_REGION (unset: any region is accepted), FLASHSTOR_SIGV2 (on, or off to refuse
Signature Version 2), FLASHSTOR_DOMAIN, FLASHSTOR_METRICS_TOKEN, FLASHSTOR_RUN_USER and
FLASHSTOR_RUN_GROUP (started as root: the user to run as; also spelled FLASHSTORE_RUN_*),
FLASHSTOR_KMS_SECRET_KEY (NAME:BASE64 of 32 bytes: the built-in key service's root key, for
SSE-S3 and SSE-KMS; never stored on the drives)`;

export function parseAddress(address: string): { hostname: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]*):(\d+)$/.exec(address);
  if (!match) throw new ConfigError(`--address must be HOST:PORT or :PORT, got "${address}"`);
  const port = Number(match[2]);
  if (port > 65535) throw new ConfigError(`port ${port} is out of range`);
  const host = match[1].replace(/^\[|\]$/g, "");
  return { hostname: host === "" ? "0.0.0.0" : host, port };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** `--drive-reserve`: "5%" or a size ("2GiB", "500MB", "1048576"); "0" turns it off. */
export function parseReserve(value: string): ReservePolicy {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(value);
  if (percent && Number(percent[1]) < 100) return { fraction: Number(percent[1]) / 100, bytes: 0 };
  const size = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value);
  const unit = size ? SIZE_UNITS[size[2].toLowerCase()] : undefined;
  if (!size || unit === undefined) {
    throw new ConfigError(
      `--drive-reserve takes a percentage below 100 or a size, e.g. 5% or 2GiB; got "${value}"`,
    );
  }
  return { fraction: 0, bytes: Math.round(Number(size[1]) * unit) };
}

/**
 * A variable with two accepted spellings (FLASHSTORE_* is the old one): either may be set;
 * both set to different values is refused rather than guessed.
 */
function envEither(
  env: (name: string) => string | undefined,
  name: string,
  oldName: string,
): string | undefined {
  const value = env(name) || undefined;
  const old = env(oldName) || undefined;
  if (value !== undefined && old !== undefined && value !== old) {
    throw new ConfigError(`${name}=${value} and ${oldName}=${old} differ: set only ${name}`);
  }
  return value ?? old;
}

const DURATION_UNITS: Record<string, number> = {
  "": 1000,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A duration flag: seconds, or a number with s, m, h or d; 0 allowed (turns a feature off). */
function duration(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(value);
  if (!match) {
    throw new ConfigError(`${flag} takes a duration such as 90s, 5m, 1h or 7d, got "${value}"`);
  }
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2]]);
}

function positiveDuration(flag: string, value: string): number {
  const ms = duration(flag, value);
  if (ms <= 0) throw new ConfigError(`${flag} takes a duration longer than 0`);
  return ms;
}

function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`${flag} takes a positive number`);
  return Math.round(n * 1000);
}

const OWNERSHIPS: readonly ObjectOwnership[] = [
  "ObjectWriter",
  "BucketOwnerPreferred",
  "BucketOwnerEnforced",
];

/** An on/off environment setting; unset is off. */
function onOff(name: string, value: string | undefined): boolean {
  if (value === undefined || value === "off") return false;
  if (value === "on") return true;
  throw new ConfigError(`${name} is on or off, got "${value}"`);
}

/** Parses the arguments after `server`. */
export function parseServerArgs(
  args: string[],
  env: (name: string) => string | undefined,
  home = "",
): Config {
  const drives: string[] = [];
  const domains = (env("FLASHSTOR_DOMAIN") ?? "").split(",").filter(Boolean);
  let address = ":9000";
  let parity: number | undefined;
  let certsDir = home ? `${home}/.flashstor/certs` : ".flashstor/certs";
  let auditLog: string | undefined;
  let metricsPublic = false;
  let httpEngine: HttpEngine = "flashstor";
  let headerTimeoutMs = 10_000;
  let idleTimeoutMs = 30_000;
  let shutdownTimeoutMs = 30_000;
  let driveReserve = DEFAULT_RESERVE;
  const scanner: ScannerSettings = {
    intervalMs: 5 * 60_000,
    deepEvery: 16,
    garbageAgeMs: 3_600_000,
    uploadExpiryMs: 7 * 86_400_000,
  };
  let driveTimeoutMs = DEFAULT_DRIVE_TIMEOUT_MS;
  const lockExpiryEnv = env("FLASHSTOR_LOCK_EXPIRY");
  let lockExpiryMs = lockExpiryEnv
    ? seconds("FLASHSTOR_LOCK_EXPIRY", lockExpiryEnv)
    : DEFAULT_LOCK_EXPIRY_MS;
  const lifecycleDay = env("FLASHSTOR_LIFECYCLE_DAY");
  let lifecycleDayMs = lifecycleDay
    ? positiveDuration("FLASHSTOR_LIFECYCLE_DAY", lifecycleDay)
    : DURATION_UNITS.d;
  let objectOwnership = env("FLASHSTOR_OBJECT_OWNERSHIP") ?? "ObjectWriter";
  let blockPublicAccess = onOff(
    "FLASHSTOR_BLOCK_PUBLIC_ACCESS",
    env("FLASHSTOR_BLOCK_PUBLIC_ACCESS"),
  );
  let defaultBucketEncryption = onOff(
    "FLASHSTOR_DEFAULT_ENCRYPTION",
    env("FLASHSTOR_DEFAULT_ENCRYPTION"),
  );
  let sseCOverHttp = env("FLASHSTOR_SSE_C_OVER_HTTP") ?? "refuse";
  const probeEnv = env("FLASHSTOR_DRIVE_PROBE_INTERVAL");
  let driveProbeIntervalMs = probeEnv
    ? seconds("FLASHSTOR_DRIVE_PROBE_INTERVAL", probeEnv)
    : DEFAULT_PROBE_INTERVAL_MS;

  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) {
      drives.push(arg);
      continue;
    }
    const [flag, inline] = arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new ConfigError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case "--address":
        address = value();
        break;
      case "--parity": {
        const v = value();
        parity = Number(v);
        if (!/^\d+$/.test(v)) throw new ConfigError("--parity takes a whole number");
        break;
      }
      case "--domain":
        domains.push(...value().split(",").filter(Boolean));
        break;
      case "--certs-dir":
        certsDir = value();
        break;
      case "--audit-log":
        auditLog = value();
        break;
      case "--metrics-public":
        metricsPublic = true;
        break;
      case "--http-engine": {
        const v = value();
        if (v !== "flashstor" && v !== "deno") {
          throw new ConfigError(`--http-engine is flashstor or deno, got "${v}"`);
        }
        httpEngine = v;
        break;
      }
      case "--header-timeout":
        headerTimeoutMs = seconds(flag, value());
        break;
      case "--idle-timeout":
        idleTimeoutMs = seconds(flag, value());
        break;
      case "--shutdown-timeout":
        shutdownTimeoutMs = seconds(flag, value());
        break;
      case "--drive-reserve":
        driveReserve = parseReserve(value());
        break;
      case "--drive-timeout":
        driveTimeoutMs = seconds(flag, value());
        break;
      case "--drive-probe-interval":
        driveProbeIntervalMs = seconds(flag, value());
        break;
      case "--lock-expiry":
        lockExpiryMs = seconds(flag, value());
        break;
      case "--scanner-interval":
        scanner.intervalMs = duration(flag, value());
        break;
      case "--scanner-deep-every": {
        const v = value();
        if (!/^\d+$/.test(v)) throw new ConfigError(`${flag} takes a whole number, got "${v}"`);
        scanner.deepEvery = Number(v);
        break;
      }
      case "--garbage-age":
        scanner.garbageAgeMs = duration(flag, value());
        break;
      case "--upload-expiry":
        scanner.uploadExpiryMs = duration(flag, value());
        break;
      case "--lifecycle-day":
        lifecycleDayMs = positiveDuration(flag, value());
        break;
      case "--object-ownership":
        objectOwnership = value();
        break;
      case "--block-public-access":
        blockPublicAccess = true;
        break;
      case "--default-encryption":
        defaultBucketEncryption = true;
        break;
      case "--sse-c-over-http":
        sseCOverHttp = value();
        break;
      default:
        throw new ConfigError(`unknown flag ${flag}\n\n${USAGE}`);
    }
  }
  if (drives.length === 0) throw new ConfigError(`no drives given\n\n${USAGE}`);

  const resolved = resolveDrives(drives);
  const rootUser = env("FLASHSTOR_ROOT_USER") ?? DEFAULT_ROOT_USER;
  const rootPassword = env("FLASHSTOR_ROOT_PASSWORD") ?? DEFAULT_ROOT_PASSWORD;
  if (rootUser.length < 3) throw new ConfigError("FLASHSTOR_ROOT_USER needs 3 characters or more");
  if (rootPassword.length < 8) {
    throw new ConfigError("FLASHSTOR_ROOT_PASSWORD needs 8 characters or more");
  }
  const sigv2 = onOff("FLASHSTOR_SIGV2", env("FLASHSTOR_SIGV2") ?? "on");
  if (!OWNERSHIPS.includes(objectOwnership as ObjectOwnership)) {
    throw new ConfigError(
      `--object-ownership is one of ${OWNERSHIPS.join(", ")}, got "${objectOwnership}"`,
    );
  }
  const signingRegion = env("FLASHSTOR_REGION") || undefined;
  if (sseCOverHttp !== "refuse" && sseCOverHttp !== "loopback") {
    throw new ConfigError(`--sse-c-over-http is refuse or loopback, got "${sseCOverHttp}"`);
  }
  const kmsKey = env("FLASHSTOR_KMS_SECRET_KEY");
  const kmsSecretKey = kmsKey ? parseKmsSecretKey(kmsKey) : undefined;
  if (defaultBucketEncryption && !kmsSecretKey) {
    throw new ConfigError("--default-encryption needs FLASHSTOR_KMS_SECRET_KEY (SSE-S3 keys)");
  }
  return {
    ...parseAddress(address),
    drives: resolved,
    layout: setLayout(resolved.length, parity, nodeCount(resolved)),
    rootUser,
    rootPassword,
    defaultCredentials: rootUser === DEFAULT_ROOT_USER && rootPassword === DEFAULT_ROOT_PASSWORD,
    region: signingRegion ?? "us-east-1",
    signingRegion,
    sigv2,
    domains,
    certsDir,
    auditLog,
    metricsPublic,
    metricsToken: env("FLASHSTOR_METRICS_TOKEN") || undefined,
    httpEngine,
    headerTimeoutMs,
    idleTimeoutMs,
    minBodyRate: 1024,
    shutdownTimeoutMs,
    driveReserve,
    driveTimeoutMs,
    driveProbeIntervalMs,
    lockExpiryMs,
    scanner,
    lifecycleDayMs,
    runUser: envEither(env, "FLASHSTOR_RUN_USER", "FLASHSTORE_RUN_USER"),
    runGroup: envEither(env, "FLASHSTOR_RUN_GROUP", "FLASHSTORE_RUN_GROUP"),
    objectOwnership: objectOwnership as ObjectOwnership,
    blockPublicAccess,
    kmsSecretKey,
    sseCOverHttp,
    defaultBucketEncryption,
  };
}
