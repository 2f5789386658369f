/**
 * Revoking the Deno permissions a running server no longer needs, once startup is done
 * (libraries dlopened, environment read, certificates loaded, privileges dropped).
 *
 * Platform facts this relies on (Deno 2.9): a revoked permission returns to "prompt", so the
 * process must run with --no-prompt for it to mean "denied"; symbols of an already opened
 * library keep working after `ffi` is revoked; revoking read of a path also drops any grant on
 * its ancestors and is a no-op under an unscoped --allow-read; likewise revoking one `sys` kind
 * is a no-op under an unscoped --allow-sys. The drives' free space (node:fs statfs) needs the
 * `statfs` sys kind for the server's whole life, so `sys` is revoked kind by kind around it.
 */

export type RevocableName = "run" | "env" | "sys" | "ffi";

export const REVOCABLE: readonly RevocableName[] = ["run", "env", "sys", "ffi"];

export type SysKind = NonNullable<Deno.SysPermissionDescriptor["kind"]>;

export const SYS_KINDS: readonly SysKind[] = [
  "loadavg",
  "hostname",
  "systemMemoryInfo",
  "networkInterfaces",
  "osRelease",
  "osUptime",
  "uid",
  "gid",
  "username",
  "cpus",
  "homedir",
  "statfs",
  "getPriority",
  "setPriority",
  "ca",
  "umask",
];

export interface RevokeOptions {
  /** Permissions to revoke; all of REVOCABLE by default. */
  names?: readonly RevocableName[];
  /** `sys` kinds left granted; ["statfs"] by default. Empty revokes `sys` as a whole. */
  keepSys?: readonly SysKind[];
  /** Directory whose read grant goes once the certificates are loaded. */
  certsDir?: string;
  /** Paths that must stay readable (drives, config); checked after the certs dir is revoked. */
  keepRead?: readonly string[];
}

export interface RevokeReport {
  /**
   * Permissions denied now, e.g. "env", "sys:hostname", "read:/etc/certs". Whether one was
   * granted before cannot always be told: a query of a whole permission ("env") answers
   * "prompt" when only some variables were granted, yet revoking it drops those grants.
   */
  denied: string[];
  /** Permissions still granted after revoking, with why. */
  notRevocable: { permission: string; reason: string }[];
}

/** Revoking cost the server a grant it needs; it cannot go on serving. */
export class PermissionRevokeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PermissionRevokeError";
  }
}

function label(descriptor: Deno.PermissionDescriptor): string {
  if ("path" in descriptor && descriptor.path !== undefined) {
    return `${descriptor.name}:${descriptor.path}`;
  }
  if ("kind" in descriptor && descriptor.kind !== undefined) {
    return `${descriptor.name}:${descriptor.kind}`;
  }
  return descriptor.name;
}

function reasonStillGranted(descriptor: Deno.PermissionDescriptor): string {
  if (descriptor.name === "read") {
    return `${descriptor.path ?? "read"} stays readable after start because reads are not ` +
      "scoped to paths (--allow-read); FLASHSTOR_DATA_PATHS scopes them (scripts/permissions.sh)";
  }
  if (descriptor.name === "sys") {
    return "sys is granted without a kind list (--allow-sys); scope it, e.g. --allow-sys=statfs";
  }
  return "still granted after revoke";
}

/** Whole descriptors for `names`; `sys` becomes one descriptor per kind not kept. */
function descriptorsFor(
  names: readonly RevocableName[],
  keepSys: readonly SysKind[],
): Deno.PermissionDescriptor[] {
  return names.flatMap((name): Deno.PermissionDescriptor[] => {
    if (name !== "sys" || keepSys.length === 0) return [{ name }];
    return SYS_KINDS.filter((kind) => !keepSys.includes(kind)).map((kind) => ({
      name: "sys",
      kind,
    }));
  });
}

const granted = (descriptor: Deno.PermissionDescriptor): boolean =>
  Deno.permissions.querySync(descriptor).state === "granted";

/**
 * Revokes `names` (sys: every kind but `keepSys`) and read of `certsDir`; reports the outcome. Throws PermissionRevokeError
 * when a `keepRead` path that was readable lost its grant (its grant also covered the certs dir).
 */
export function revokeUnneeded(options: RevokeOptions = {}): RevokeReport {
  const report: RevokeReport = { denied: [], notRevocable: [] };
  const keep = (options.keepRead ?? []).filter((path) => granted({ name: "read", path }));
  const keepSys = options.keepSys ?? ["statfs"];
  const descriptors = descriptorsFor(options.names ?? REVOCABLE, keepSys);
  if (options.certsDir !== undefined) {
    descriptors.push({ name: "read", path: options.certsDir });
  }
  for (const descriptor of descriptors) {
    Deno.permissions.revokeSync(descriptor);
    if (granted(descriptor)) {
      report.notRevocable.push({
        permission: label(descriptor),
        reason: reasonStillGranted(descriptor),
      });
    } else {
      report.denied.push(label(descriptor));
    }
  }
  const lost = keep.filter((path) => !granted({ name: "read", path }));
  if (lost.length > 0) {
    throw new PermissionRevokeError(
      `revoking read of ${options.certsDir} also revoked read of ${lost.join(", ")}: ` +
        "grant the certs dir as its own --allow-read entry, not through a parent directory",
    );
  }
  return report;
}
