/**
 * Dropping root after startup: resolve the run user/group, hand the drives to them, switch ids
 * for good and forbid regaining privileges through exec (PR_SET_NO_NEW_PRIVS).
 *
 * Order of a drop: setgroups([gid]) → setgid(gid) → setuid(uid). Groups and gid first, because
 * once the uid is no longer 0 the process may not change them any more.
 */

import * as libc from "../../ffi/libc.ts";

export interface RunIdentity {
  uid: number;
  gid: number;
  /** Names as found in /etc/passwd and /etc/group; the numeric id when not listed. */
  user: string;
  group: string;
}

export interface DropReport extends RunIdentity {
  /** Effective uid before the drop. */
  previousUid: number;
  /** Supplementary groups after the drop, read back. */
  groups: number[];
  noNewPrivs: boolean;
}

export type DropStep =
  | "resolve"
  | "chown"
  | "not-root"
  | "setgroups"
  | "setgid"
  | "setuid"
  | "verify"
  | "no-new-privs";

/** Any failure of a drop. The process must not go on serving as root after it. */
export class PrivilegeDropError extends Error {
  constructor(readonly step: DropStep, message: string, options?: ErrorOptions) {
    super(`privilege drop failed at ${step}: ${message}`, options);
    this.name = "PrivilegeDropError";
  }
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

interface GroupEntry {
  name: string;
  gid: number;
}

/** Entries of an /etc/passwd text (name:password:uid:gid:gecos:home:shell). */
export function parsePasswd(text: string): PasswdEntry[] {
  return rows(text, 7).map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) }));
}

/** Entries of an /etc/group text (name:password:gid:members). */
export function parseGroup(text: string): GroupEntry[] {
  return rows(text, 4).map((f) => ({ name: f[0], gid: Number(f[2]) }));
}

function rows(text: string, fields: number): string[][] {
  return text.split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => line.split(":"))
    .filter((f) => f.length >= fields && isId(f[2]));
}

function isId(value: string | undefined): value is string {
  return value !== undefined && /^\d+$/.test(value) && Number(value) <= 0xfffffffe;
}

export interface IdentityFiles {
  passwd: string;
  group: string;
}

/**
 * Resolves a user (name or numeric uid) and an optional group (name or numeric gid); without a
 * group the user's primary group from /etc/passwd is used. `files` holds the texts of
 * /etc/passwd and /etc/group (read from disk when omitted).
 */
export function resolveIdentity(
  spec: { user: string; group?: string },
  files: IdentityFiles = readIdentityFiles(),
): RunIdentity {
  const users = parsePasswd(files.passwd);
  const groups = parseGroup(files.group);
  const entry = isId(spec.user)
    ? users.find((u) => u.uid === Number(spec.user))
    : users.find((u) => u.name === spec.user);
  if (!entry && !isId(spec.user)) {
    throw new PrivilegeDropError("resolve", `unknown user ${JSON.stringify(spec.user)}`);
  }
  const uid = entry?.uid ?? Number(spec.user);
  let gid: number;
  if (spec.group === undefined || spec.group === "") {
    if (!entry) {
      throw new PrivilegeDropError("resolve", `uid ${uid} is not in /etc/passwd: give a group`);
    }
    gid = entry.gid;
  } else if (isId(spec.group)) {
    gid = Number(spec.group);
  } else {
    const group = groups.find((g) => g.name === spec.group);
    if (!group) throw new PrivilegeDropError("resolve", `unknown group ${spec.group}`);
    gid = group.gid;
  }
  return {
    uid,
    gid,
    user: entry?.name ?? String(uid),
    group: groups.find((g) => g.gid === gid)?.name ?? String(gid),
  };
}

function readIdentityFiles(): IdentityFiles {
  try {
    return {
      passwd: Deno.readTextFileSync("/etc/passwd"),
      group: Deno.readTextFileSync("/etc/group"),
    };
  } catch (err) {
    throw new PrivilegeDropError("resolve", `cannot read /etc/passwd or /etc/group: ${err}`, {
      cause: err,
    });
  }
}

function step<T>(name: DropStep, action: () => T): T {
  try {
    return action();
  } catch (err) {
    throw new PrivilegeDropError(name, err instanceof Error ? err.message : String(err), {
      cause: err,
    });
  }
}

/**
 * Switches the whole process to `identity` (or the resolved `{ user, group }`) and sets
 * PR_SET_NO_NEW_PRIVS, then verifies by reading the ids back and by checking that uid 0 and
 * gid 0 can no longer be taken. Must run as root; throws PrivilegeDropError on any failure,
 * after which the caller has to exit rather than keep serving.
 */
export function dropPrivileges(target: RunIdentity | { user: string; group?: string }): DropReport {
  const identity = "uid" in target ? target : resolveIdentity(target);
  if (identity.uid === 0) {
    throw new PrivilegeDropError("resolve", `run user ${identity.user} is root`);
  }
  const previousUid = step("verify", () => libc.geteuid());
  if (previousUid !== 0) {
    throw new PrivilegeDropError("not-root", `running as uid ${previousUid}, not root`);
  }
  step("setgroups", () => libc.setgroups([identity.gid]));
  step("setgid", () => libc.setgid(identity.gid));
  step("setuid", () => libc.setuid(identity.uid));

  const groups = step("verify", () => {
    const u = libc.getresuid();
    const g = libc.getresgid();
    if ([u.real, u.effective, u.saved].some((id) => id !== identity.uid)) {
      throw new Error(`uids are ${u.real}/${u.effective}/${u.saved}, want ${identity.uid}`);
    }
    if ([g.real, g.effective, g.saved].some((id) => id !== identity.gid)) {
      throw new Error(`gids are ${g.real}/${g.effective}/${g.saved}, want ${identity.gid}`);
    }
    const groups = libc.getgroups();
    if (groups.some((id) => id !== identity.gid)) {
      throw new Error(`supplementary groups are ${groups.join(",")}`);
    }
    assertCannotRegain("setuid(0)", () => libc.setuid(0));
    if (identity.gid !== 0) assertCannotRegain("setgid(0)", () => libc.setgid(0));
    return groups;
  });

  forbidNewPrivileges();
  return { ...identity, previousUid, groups, noNewPrivs: true };
}

/**
 * PR_SET_NO_NEW_PRIVS for the whole process. The flag is per thread and Deno's worker threads
 * exist before main.ts runs, so it is set on this thread and then copied to all others by a
 * TSYNC seccomp filter that allows everything (the kernel syncs the flag along with it).
 */
function forbidNewPrivileges(): void {
  step("no-new-privs", () => {
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1);
    if (libc.prctl(libc.PR_GET_NO_NEW_PRIVS) !== 1) throw new Error("flag not set");
    libc.seccompAllowAllOnAllThreads();
  });
}

function assertCannotRegain(call: string, attempt: () => void): void {
  try {
    attempt();
  } catch (err) {
    if (err instanceof libc.LibcCallError) return;
    throw err;
  }
  throw new Error(`${call} succeeded after the drop`);
}

export interface ChownReport {
  changed: number;
  visited: number;
}

/**
 * Hands drive roots created as root to the run user, before the drop. Walks each root without
 * following symlinks and chowns every entry not owned by uid:gid. A directory that already has
 * the right owner is not descended into (unless `full`): everything the server writes after a
 * drop is owned by the run user, so such a subtree is assumed consistent, and a restart costs
 * one lstat per root instead of one per object. Symlinks and missing paths are left alone.
 */
export async function chownTree(
  paths: string[],
  uid: number,
  gid: number,
  options: { full?: boolean } = {},
): Promise<ChownReport> {
  const report: ChownReport = { changed: 0, visited: 0 };
  const pending = [...paths];
  while (pending.length > 0) {
    const path = pending.pop()!;
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (err) {
      // A drive that is not there is offline, not a reason to refuse to start.
      if (err instanceof Deno.errors.NotFound) continue;
      throw err;
    }
    report.visited++;
    if (info.isSymlink) continue;
    const owned = info.uid === uid && info.gid === gid;
    if (!owned) {
      await Deno.chown(path, uid, gid);
      report.changed++;
    }
    if (info.isDirectory && (!owned || options.full)) {
      for await (const entry of Deno.readDir(path)) pending.push(`${path}/${entry.name}`);
    }
  }
  return report;
}

export interface RunUserOptions {
  /** FLASHSTORE_RUN_USER; nothing happens without it. */
  user?: string;
  /** FLASHSTORE_RUN_GROUP; the user's primary group when unset. */
  group?: string;
  /** Drive roots to hand to the run user first (see chownTree). */
  drives: readonly string[];
}

/**
 * First half of the startup step, as root and before the listener starts: resolve the run
 * user and hand it the drives (chownTree). Without a run user: undefined, nothing to do.
 */
export async function prepareRunUser(options: RunUserOptions): Promise<RunIdentity | undefined> {
  if (!options.user) {
    if (options.group) throw new PrivilegeDropError("resolve", "a run group needs a run user");
    return undefined;
  }
  const identity = resolveIdentity({ user: options.user, group: options.group });
  if (step("verify", () => libc.geteuid()) === 0) {
    await chownTree([...options.drives], identity.uid, identity.gid).catch((err) => {
      throw new PrivilegeDropError("chown", String(err), { cause: err });
    });
  }
  return identity;
}

/**
 * Second half, synchronous so that it runs right after binding with no request served in
 * between: drop to the run user. Already running as exactly that user (e.g. a container's
 * USER): only PR_SET_NO_NEW_PRIVS. Throws PrivilegeDropError otherwise; the caller must then
 * exit non-zero rather than serve as root.
 */
export function becomeRunUser(identity: RunIdentity): DropReport {
  const euid = step("verify", () => libc.geteuid());
  if (euid !== 0 && euid === identity.uid && libc.getegid() === identity.gid) {
    forbidNewPrivileges();
    return {
      ...identity,
      previousUid: euid,
      groups: step("verify", () => libc.getgroups()),
      noNewPrivs: true,
    };
  }
  return dropPrivileges(identity);
}
