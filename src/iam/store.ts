/**
 * The IAM store: the account (its id and canonical user id, made once), users with their access
 * keys, groups, roles and managed policies, held in memory and kept in the config store (one
 * record per entity, see store-records.ts). Every change is written, atomically, before it is
 * applied in memory and acknowledged, and bumps the epoch: what invalidates cached authorization
 * decisions. In a cluster a change is announced to the peers (they reload the record) before it
 * is acknowledged, and a node that may have missed announcements reloads everything. Secrets are
 * never logged.
 */
import { rootPrincipal } from "../auth/credentials.ts";
import type { ConfigStore } from "../object/layer.ts";
import type { PolicyDocument, PolicyKind } from "./policy/document.ts";
import { BUILTIN_POLICIES } from "./policy/builtin.ts";
import { parsePolicy } from "./policy/parse.ts";
import type { Principal } from "./principal.ts";
import {
  ACCOUNT_RECORD,
  type AccountRecord,
  entityArn,
  type EntityKind,
  type EntityRecord,
  type GroupRecord,
  type PolicyHolder,
  RECORD_DIRS,
  type RecordOf,
  recordPath,
  type UserRecord,
} from "./store-records.ts";

/** The ARN prefix of the built-in policies (readonly, readwrite, writeonly), AWS-managed style. */
export const BUILTIN_POLICY_PREFIX = "arn:aws:iam::aws:policy/";

export interface RootCredentials {
  accessKey: string;
  secretKey: string;
}

export interface RoleInfo {
  arn: string;
  roleId: string;
  name: string;
  trustPolicy: PolicyDocument;
  maxSessionSeconds: number;
}

type Tables = { [K in EntityKind]: Map<string, RecordOf[K]> };

/** Told of every change's records (kind and names) before the change is acknowledged. */
export type IamAnnouncer = (kind: EntityKind, names: readonly string[]) => Promise<void>;

const utf8 = new TextEncoder();
/** Records read at once when loading (a drive may be slow, or a peer's). */
const LOAD_BATCH = 32;

function emptyTables(): Tables {
  return { user: new Map(), group: new Map(), role: new Map(), policy: new Map() };
}

export class IamStore {
  #tables = emptyTables();
  /** Access key id → lower-cased user name. */
  #keys = new Map<string, string>();
  /** Parsed documents by kind and text, and identity policies by principal ARN: both cleared
   *  on every change. */
  readonly #parsed = new Map<string, PolicyDocument | undefined>();
  readonly #identity = new Map<string, PolicyDocument[]>();
  readonly #listeners = new Set<() => void>();
  #epoch = 0;
  /** Changes and reloads run one at a time, in order. */
  #queue: Promise<unknown> = Promise.resolve();
  #announce?: IamAnnouncer;

  private constructor(
    private readonly config: ConfigStore,
    private readonly root: RootCredentials,
    private readonly account: AccountRecord,
  ) {}

  /**
   * Reads every record (made once: the account). Damaged records get healed by the reads.
   * `accountSeed` (the deployment id) makes a new account's ids derived from it, so that the
   * nodes of a cluster, starting together on fresh drives, all make the same account.
   */
  static async load(
    config: ConfigStore,
    root: RootCredentials,
    accountSeed?: string,
  ): Promise<IamStore> {
    const raw = await config.readConfig(ACCOUNT_RECORD);
    let account: AccountRecord;
    if (raw) account = JSON.parse(new TextDecoder().decode(raw));
    else {
      account = await newAccount(accountSeed);
      await config.writeConfig(ACCOUNT_RECORD, utf8.encode(JSON.stringify(account)));
    }
    const store = new IamStore(config, root, account);
    store.#tables = await store.#readAll();
    store.#keys = keysOf(store.#tables.user);
    return store;
  }

  /** Every record, read afresh. */
  async #readAll(): Promise<Tables> {
    const tables = emptyTables();
    for (const kind of Object.keys(RECORD_DIRS) as EntityKind[]) {
      const table = tables[kind] as Map<string, RecordOf[typeof kind]>;
      const paths = await this.config.listConfig(RECORD_DIRS[kind]);
      for (let i = 0; i < paths.length; i += LOAD_BATCH) {
        const batch = paths.slice(i, i + LOAD_BATCH);
        for (const bytes of await Promise.all(batch.map((p) => this.config.readConfig(p)))) {
          if (!bytes) continue;
          const record = JSON.parse(new TextDecoder().decode(bytes)) as RecordOf[typeof kind];
          table.set(record.name.toLowerCase(), record);
        }
      }
    }
    return tables;
  }

  /** Tells `announcer` of every change from now on; the change waits for it. */
  announceWith(announcer: IamAnnouncer): void {
    this.#announce = announcer;
  }

  /**
   * Reads records again, after another node changed them: one entity's (`kind` and `name`), or
   * every record. In order with this node's changes; bumps the epoch like a change.
   */
  reload(kind?: EntityKind, name?: string): Promise<void> {
    const run = async () => {
      if (kind !== undefined && name !== undefined) {
        const bytes = await this.config.readConfig(recordPath(kind, name));
        const record = bytes && JSON.parse(new TextDecoder().decode(bytes)) as RecordOf[EntityKind];
        this.#set(kind, name, (record ?? null) as RecordOf[typeof kind] | null);
      } else {
        const tables = await this.#readAll();
        this.#tables = tables;
        this.#keys = keysOf(tables.user);
      }
      this.#changed();
    };
    const done = this.#queue.then(run, run);
    this.#queue = done.catch(() => {});
    return done;
  }

  get accountId(): string {
    return this.account.accountId;
  }

  get canonicalUserId(): string {
    return this.account.canonicalUserId;
  }

  /** Bumped by every change. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Root's key and active user keys; inactive and unknown keys are undefined. */
  credentialsFor(accessKey: string): { secretKey: string; principal: Principal } | undefined {
    if (accessKey === this.root.accessKey) {
      return {
        secretKey: this.root.secretKey,
        principal: rootPrincipal(this.accountId, accessKey),
      };
    }
    const owner = this.#keys.get(accessKey);
    const user = owner === undefined ? undefined : this.#tables.user.get(owner);
    const key = user?.keys.find((k) => k.id === accessKey);
    if (!user || key?.status !== "Active") return undefined;
    return { secretKey: key.secret, principal: this.userPrincipal(user, accessKey) };
  }

  userPrincipal(user: UserRecord, accessKey: string): Principal {
    return {
      kind: "user",
      accountId: this.accountId,
      arn: this.arn("user", user),
      userId: user.id,
      userName: user.name,
      accessKey,
      temporary: false,
    };
  }

  /** A user's inline, attached and groups' policies; a role session's role's; else none. */
  identityPolicies(principal: Principal): PolicyDocument[] {
    const key = `${principal.arn}\n${principal.userId}\n${principal.roleArn ?? ""}`;
    let policies = this.#identity.get(key);
    if (!policies) {
      policies = this.#identityPolicies(principal);
      this.#identity.set(key, policies);
    }
    return policies;
  }

  #identityPolicies(principal: Principal): PolicyDocument[] {
    if (principal.kind === "user" && principal.userName !== undefined) {
      const user = this.get("user", principal.userName);
      if (!user || user.id !== principal.userId) return [];
      return [user, ...this.groupsOf(user)].flatMap((holder) => this.#policiesOf(holder));
    }
    if (principal.kind === "assumed-role" && principal.roleArn !== undefined) {
      const role = this.#byArn("role", principal.roleArn);
      return role ? this.#policiesOf(role) : [];
    }
    return [];
  }

  role(roleArn: string): RoleInfo | undefined {
    const role = this.#byArn("role", roleArn);
    const trustPolicy = role && this.#parse(role.trustPolicy, "trust");
    if (!role || !trustPolicy) return undefined;
    return {
      arn: roleArn,
      roleId: role.id,
      name: role.name,
      trustPolicy,
      maxSessionSeconds: role.maxSessionDuration,
    };
  }

  /** The default version of an account policy, or a built-in policy (BUILTIN_POLICY_PREFIX). */
  managedPolicy(arn: string): PolicyDocument | undefined {
    if (arn.startsWith(BUILTIN_POLICY_PREFIX)) {
      return BUILTIN_POLICIES.get(arn.slice(BUILTIN_POLICY_PREFIX.length));
    }
    const policy = this.#byArn("policy", arn);
    const version = policy?.versions.find((v) => v.id === policy.defaultVersion);
    return version && this.#parse(version.document, "identity");
  }

  user(name: string): UserRecord | undefined {
    return this.get("user", name);
  }

  /** An entity by name, whatever its case. */
  get<K extends EntityKind>(kind: K, name: string): RecordOf[K] | undefined {
    return this.#tables[kind].get(name.toLowerCase()) as RecordOf[K] | undefined;
  }

  /** Every entity of a kind, by name. */
  list<K extends EntityKind>(kind: K): RecordOf[K][] {
    return ([...this.#tables[kind].values()] as RecordOf[K][])
      .sort((a, b) => a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1);
  }

  arn(kind: EntityKind, record: EntityRecord): string {
    return entityArn(this.accountId, kind, record);
  }

  /** The groups `user` is a member of. */
  groupsOf(user: UserRecord): GroupRecord[] {
    return [...this.#tables.group.values()].filter((g) => g.members.includes(user.id));
  }

  /** Users, groups and roles a managed policy (by ARN) is attached to. */
  attachmentCount(policyArn: string): number {
    const holders: PolicyHolder[] = [
      ...this.list("user"),
      ...this.list("group"),
      ...this.list("role"),
    ];
    return holders.filter((h) => h.attached.includes(policyArn)).length;
  }

  /** Whether some user holds this access key id. */
  hasKey(accessKey: string): boolean {
    return this.#keys.has(accessKey) || accessKey === this.root.accessKey;
  }

  /**
   * Changes one entity: `fn` gets the current record (undefined: none) and returns the new one,
   * or null to delete it; it may throw to refuse the change, which then changes nothing. The
   * record is written before memory changes; changes run one at a time.
   */
  change<K extends EntityKind>(
    kind: K,
    name: string,
    fn: (current: RecordOf[K] | undefined) => RecordOf[K] | null,
  ): Promise<RecordOf[K] | null> {
    const run = async (): Promise<[RecordOf[K] | null, string[]]> => {
      const next = fn(this.get(kind, name));
      const path = recordPath(kind, name);
      if (next !== null) {
        await this.config.writeConfig(
          recordPath(kind, next.name),
          utf8.encode(JSON.stringify(next)),
        );
      }
      // A rename writes the new record, then removes the old one.
      if (next === null || recordPath(kind, next.name) !== path) {
        await this.config.deleteConfig(path);
        this.#set(kind, name, null);
      }
      if (next !== null) this.#set(kind, next.name, next);
      this.#changed();
      return [next, next === null || next.name === name ? [name] : [name, next.name]];
    };
    const done = this.#queue.then(run, run);
    this.#queue = done.catch(() => {});
    // Announced outside the queue: a slow peer delays this change's answer, not the next change.
    return done.then(async ([next, names]) => {
      await this.#announce?.(kind, names);
      return next;
    });
  }

  #changed(): void {
    this.#epoch++;
    this.#parsed.clear();
    this.#identity.clear();
    for (const listener of this.#listeners) listener();
  }

  #set<K extends EntityKind>(kind: K, name: string, record: RecordOf[K] | null): void {
    const lower = name.toLowerCase();
    if (kind === "user") {
      for (const key of (this.#tables.user.get(lower)?.keys ?? [])) this.#keys.delete(key.id);
      for (const key of ((record as UserRecord | null)?.keys ?? [])) this.#keys.set(key.id, lower);
    }
    const table = this.#tables[kind] as Map<string, RecordOf[K]>;
    if (record === null) table.delete(lower);
    else table.set(lower, record);
  }

  /** An entity by its ARN (the name is its last segment; the path must match too). */
  #byArn<K extends EntityKind>(kind: K, arn: string): RecordOf[K] | undefined {
    const record = this.get(kind, arn.slice(arn.lastIndexOf("/") + 1));
    return record && this.arn(kind, record) === arn ? record : undefined;
  }

  #policiesOf(holder: PolicyHolder): PolicyDocument[] {
    const inline = Object.values(holder.inline).map((text) => this.#parse(text, "identity"));
    const attached = holder.attached.map((arn) => this.managedPolicy(arn));
    return [...inline, ...attached].filter((d): d is PolicyDocument => d !== undefined);
  }

  /** Stored documents parsed when they were put; one a later parser refuses grants nothing. */
  #parse(text: string, kind: PolicyKind): PolicyDocument | undefined {
    const key = `${kind}\n${text}`;
    if (!this.#parsed.has(key)) {
      let doc: PolicyDocument | undefined;
      try {
        doc = parsePolicy(text, kind);
      } catch (err) {
        console.error(`flashstor: a stored ${kind} policy no longer parses: ${err}`);
      }
      this.#parsed.set(key, doc);
    }
    return this.#parsed.get(key);
  }
}

function keysOf(users: Map<string, UserRecord>): Map<string, string> {
  const keys = new Map<string, string>();
  for (const [lower, user] of users) for (const key of user.keys) keys.set(key.id, lower);
  return keys;
}

/** A new account: random ids, or ones derived from `seed` (every node derives the same). */
async function newAccount(seed?: string): Promise<AccountRecord> {
  const bytes = seed === undefined ? crypto.getRandomValues(new Uint8Array(44)) : new Uint8Array([
    ...new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(`account\n${seed}`))),
    ...new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(`canonical\n${seed}`))),
  ]);
  return {
    accountId: Array.from(bytes.subarray(0, 12), (b) => b % 10).join(""),
    canonicalUserId: Array.from(
      bytes.subarray(bytes.length - 32),
      (b) => b.toString(16).padStart(2, "0"),
    ).join(""),
    created: new Date().toISOString(),
  };
}
