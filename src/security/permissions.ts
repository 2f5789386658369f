/**
 * Revoking the Deno permissions a running server no longer needs, once startup is done
 * (libraries dlopened, environment read, certificates loaded, privileges dropped).
 *
 * Platform facts this relies on (Deno 2.9): a revoked permission returns to "prompt", so the
 * process must run with --no-prompt for it to mean "denied"; symbols of an already opened
 * library keep working after `ffi` is revoked; revoking read of a path also drops any grant on
 * its ancestors and is a no-op under an unscoped --allow-read.
 */

export type RevocableName = "run" | "env" | "sys" | "ffi";

export const REVOCABLE: readonly RevocableName[] = ["run", "env", "sys", "ffi"];

export interface RevokeOptions {
  /** Whole permissions to revoke; all of REVOCABLE by default. */
  names?: readonly RevocableName[];
  /** Directory whose read grant goes once the certificates are loaded. */
  certsDir?: string;
  /** Paths that must stay readable (drives, config); checked after the certs dir is revoked. */
  keepRead?: readonly string[];
}

export interface RevokeReport {
  /** Permissions granted before and no longer granted now, e.g. "env", "read:/etc/certs". */
  revoked: string[];
  /** Permissions that were not granted in the first place. */
  notGranted: string[];
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
  return "path" in descriptor && descriptor.path !== undefined
    ? `${descriptor.name}:${descriptor.path}`
    : descriptor.name;
}

const granted = (descriptor: Deno.PermissionDescriptor): boolean =>
  Deno.permissions.querySync(descriptor).state === "granted";

/**
 * Revokes `names` and read of `certsDir`; reports what changed. Throws PermissionRevokeError
 * when a `keepRead` path that was readable lost its grant (its grant also covered the certs dir).
 */
export function revokeUnneeded(options: RevokeOptions = {}): RevokeReport {
  const report: RevokeReport = { revoked: [], notGranted: [], notRevocable: [] };
  const keep = (options.keepRead ?? []).filter((path) => granted({ name: "read", path }));
  const descriptors: Deno.PermissionDescriptor[] = (options.names ?? REVOCABLE).map((name) => ({
    name,
  }));
  if (options.certsDir !== undefined) {
    descriptors.push({ name: "read", path: options.certsDir });
  }
  for (const descriptor of descriptors) {
    if (!granted(descriptor)) {
      report.notGranted.push(label(descriptor));
      continue;
    }
    Deno.permissions.revokeSync(descriptor);
    if (granted(descriptor)) {
      report.notRevocable.push({
        permission: label(descriptor),
        reason: descriptor.name === "read"
          ? "read is granted without a path list (--allow-read); scope it to revoke this"
          : "still granted after revoke",
      });
    } else {
      report.revoked.push(label(descriptor));
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
