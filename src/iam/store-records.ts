/**
 * What the IAM store keeps, one JSON record per entity in the config store
 * (`iam/users/<name>.json`, `iam/groups/…`, `iam/roles/…`, `iam/policies/…`, `iam/account.json`),
 * so that every change writes exactly one record and is atomic. Names are unique regardless of
 * case (as in IAM): records are filed under the lower-cased name and keep the name as created.
 * Group membership lives in the group's record, attachments in the attached-to entity's, so a
 * policy's attachment count and a user's groups are derived in memory.
 */

import type { SealedSecret } from "../kms/envelope.ts";

export type EntityKind = "user" | "group" | "role" | "policy";

export interface AccountRecord {
  /** 12 digits, the account of every ARN. */
  accountId: string;
  /** 64 hex digits: the account as S3 owner and ACL grantee. */
  canonicalUserId: string;
  created: string;
}

export interface EntityRecord {
  name: string;
  /** "/" or "/division/…/": part of the ARN. */
  path: string;
  /** AIDA…, AGPA…, AROA…, ANPA…: the stable id (aws:userid for users). */
  id: string;
  /** ISO 8601. */
  created: string;
}

/** Users, groups and roles carry policies: inline by name (the JSON as put) and attached ARNs. */
export interface PolicyHolder extends EntityRecord {
  inline: Record<string, string>;
  attached: string[];
}

/**
 * An access key as held in memory. Stored, its secret is `sealed` by the key service when the
 * server has one (the default key, bound to the access key id), and in plain otherwise.
 */
export interface AccessKeyRecord {
  id: string;
  /** "" while `sealed` is set: the secret is unusable. */
  secret: string;
  /**
   * In memory only for a secret this server could not open (no key service, or another one):
   * kept to be written back as it was; such a key never authenticates.
   */
  sealed?: SealedSecret;
  status: "Active" | "Inactive";
  created: string;
}

/** A type, not an interface: it renders as XML fields as it is. */
export type Tag = { Key: string; Value: string };

export interface UserRecord extends PolicyHolder {
  keys: AccessKeyRecord[];
  tags?: Tag[];
}

export interface GroupRecord extends PolicyHolder {
  /** Member users' names, as created. */
  members: string[];
}

export interface RoleRecord extends PolicyHolder {
  /** The AssumeRolePolicyDocument as put. */
  trustPolicy: string;
  /** Seconds, 3600–43200. */
  maxSessionDuration: number;
  description?: string;
  tags?: Tag[];
}

export interface PolicyVersionRecord {
  /** "v1", "v2", … */
  id: string;
  document: string;
  created: string;
}

export interface ManagedPolicyRecord extends EntityRecord {
  description?: string;
  defaultVersion: string;
  versions: PolicyVersionRecord[];
  /** The number of the next version id. */
  nextVersion: number;
  updated: string;
}

export interface RecordOf {
  user: UserRecord;
  group: GroupRecord;
  role: RoleRecord;
  policy: ManagedPolicyRecord;
}

/** The config-store directory of each kind. */
export const RECORD_DIRS: Record<EntityKind, string> = {
  user: "iam/users/",
  group: "iam/groups/",
  role: "iam/roles/",
  policy: "iam/policies/",
};

export const ACCOUNT_RECORD = "iam/account.json";

/** The config-store path of an entity's record. */
export function recordPath(kind: EntityKind, name: string): string {
  return `${RECORD_DIRS[kind]}${name.toLowerCase()}.json`;
}

/** `arn:aws:iam::<account>:<kind><path><name>` */
export function entityArn(accountId: string, kind: EntityKind, record: EntityRecord): string {
  return `arn:aws:iam::${accountId}:${kind}${record.path}${record.name}`;
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** An IAM-style id: the prefix and random base-32 characters (AKIA + 16 is an access key id). */
export function newId(prefix: string, length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  return prefix + Array.from(bytes, (b) => ID_ALPHABET[b & 31]).join("");
}

const SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** A 40-character secret access key, as AWS issues them. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(40));
  return Array.from(bytes, (b) => SECRET_ALPHABET[b & 63]).join("");
}

export const ID_PREFIX: Record<EntityKind, string> = {
  user: "AIDA",
  group: "AGPA",
  role: "AROA",
  policy: "ANPA",
};
