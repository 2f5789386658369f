/**
 * The IAM store: the account (its id and canonical user id, made once), users with their access
 * keys, groups, roles and managed policies, held in memory and kept in the config store (one
 * record per entity, see store-records.ts). Every change is written, atomically, before it is
 * applied in memory and acknowledged, and bumps the epoch: what invalidates cached authorization
 * decisions. In a cluster a change is announced to the peers (they reload the record) before it
 * is acknowledged, and a node that may have missed announcements reloads everything. Secrets are
 * never logged.
 *
 * With a key service, access keys' secrets are stored sealed by it (bound to the access key id)
 * and opened on load; secrets a record still holds in plain (written before the key service)
 * are sealed in one pass at load. Without one, a sealed secret stays sealed: its key does not
 * authenticate (one log line per user) and is written back as it was.
 */
import { rootPrincipal } from "../auth/credentials.ts";
import { openSecret, sealSecret } from "../kms/envelope.ts";
import type { EncryptionContext, KeyService } from "../kms/key-service.ts";
import type { ConfigStore } from "../object/layer.ts";
import type { PolicyDocument, PolicyKind } from "./policy/document.ts";
import { BUILTIN_POLICIES } from "./policy/builtin.ts";
import { parsePolicy } from "./policy/parse.ts";
import type { Principal } from "./principal.ts";
import {
  type AccessKeyRecord,
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
    private readonly keyService?: KeyService,
  ) {}

  /**
   * Reads every record (made once: the account). Damaged records get healed by the reads.
   * `accountSeed` (the deployment id) makes a new account's ids derived from it, so that the
   * nodes of a cluster, starting together on fresh drives, all make the same account.
   * `keyService` seals the secrets of access keys.
   */
  static async load(
    config: ConfigStore,
    root: RootCredentials,
    accountSeed?: string,
    keyService?: KeyService,
  ): Promise<IamStore> {
    const raw = await config.readConfig(ACCOUNT_RECORD);
    let account: AccountRecord;
    if (raw) account = JSON.parse(new TextDecoder().decode(raw));
    else {
      account = await newAccount(accountSeed);
      await config.writeConfig(ACCOUNT_RECORD, utf8.encode(JSON.stringify(account)));
    }
    const store = new IamStore(config, root, account, keyService);
    const { tables, plainSecrets } = await store.#readAll();
    store.#tables = tables;
    store.#keys = keysOf(tables.user);
    if (keyService) await store.#sealPlainSecrets(plainSecrets);
    return store;
  }

  /** Every record, read afresh; and the users whose records hold secrets in plain. */
  async #readAll(): Promise<{ tables: Tables; plainSecrets: string[] }> {
    const tables = emptyTables();
    const plainSecrets: string[] = [];
    for (const kind of Object.keys(RECORD_DIRS) as EntityKind[]) {
      const table = tables[kind] as Map<string, RecordOf[typeof kind]>;
      const paths = await this.config.listConfig(RECORD_DIRS[kind]);
      for (let i = 0; i < paths.length; i += LOAD_BATCH) {
        const batch = paths.slice(i, i + LOAD_BATCH);
        const records = await Promise.all(batch.map(async (path) => {
          const bytes = await this.config.readConfig(path);
          if (!bytes) return undefined;
          const stored = parseRecord<typeof kind>(bytes);
          if (kind === "user" && hasPlainSecrets(stored as UserRecord)) {
            plainSecrets.push(stored.name);
          }
          return await this.#opened(kind, stored);
        }));
        for (const record of records) if (record) table.set(record.name.toLowerCase(), record);
      }
    }
    return { tables, plainSecrets };
  }

  /** A record as stored → as held: a user's sealed secrets opened where they can be. */
  async #opened<K extends EntityKind>(kind: K, record: RecordOf[K]): Promise<RecordOf[K]> {
    return kind === "user" ? await this.#openSecrets(record as UserRecord) as RecordOf[K] : record;
  }

  /** A record as held → as stored: a user's secrets sealed when there is a key service. */
  async #encode<K extends EntityKind>(kind: K, record: RecordOf[K]): Promise<Uint8Array> {
    if (kind !== "user") return utf8.encode(JSON.stringify(record));
    const user = record as UserRecord;
    const keys = await Promise.all(user.keys.map((key) => this.#storedKey(key)));
    return utf8.encode(JSON.stringify({ ...user, keys }));
  }

  async #storedKey(key: AccessKeyRecord): Promise<Partial<AccessKeyRecord>> {
    const { secret, sealed, ...rest } = key;
    if (sealed) return { ...rest, sealed };
    if (!this.keyService) return { ...rest, secret };
    return { ...rest, sealed: await sealSecret(this.keyService, secret, secretContext(key.id)) };
  }

  async #openSecrets(user: UserRecord): Promise<UserRecord> {
    if (!user.keys.some((key) => key.sealed)) return user;
    const unopened: string[] = [];
    let why = "FLASHSTOR_KMS_SECRET_KEY is not set";
    const keys = await Promise.all(user.keys.map(async (key) => {
      const { sealed, ...rest } = key;
      if (!sealed) return key;
      if (this.keyService) {
        try {
          return {
            ...rest,
            secret: await openSecret(this.keyService, sealed, secretContext(key.id)),
          };
        } catch (err) {
          why = err instanceof Error ? err.message : String(err);
        }
      }
      unopened.push(key.id);
      return { ...key, secret: "" };
    }));
    if (unopened.length > 0) {
      console.error(
        `flashstor: IAM user ${user.name}: the secret of access key ${unopened.join(", ")} is ` +
          `sealed by the key service and does not open (${why}): the key cannot authenticate`,
      );
    }
    return { ...user, keys };
  }

  /**
   * Writes the records of `names` again with their secrets sealed. Each is read afresh first, so
   * that a change another node made since this load is kept.
   */
  async #sealPlainSecrets(names: string[]): Promise<void> {
    let sealed = 0;
    for (const name of names) {
      const path = recordPath("user", name);
      const bytes = await this.config.readConfig(path);
      const stored = bytes && parseRecord<"user">(bytes);
      if (!stored || !hasPlainSecrets(stored)) continue;
      const user = await this.#opened("user", stored);
      await this.config.writeConfig(path, await this.#encode("user", user));
      this.#set("user", user.name, user);
      sealed++;
    }
    if (sealed > 0) {
      console.log(`flashstor: IAM: sealed the secrets of ${sealed} user(s) stored in plain`);
    }
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
        const record = bytes && await this.#opened(kind, parseRecord<typeof kind>(bytes));
        this.#set(kind, name, record || null);
      } else {
        const { tables } = await this.#readAll();
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
    if (!user || key?.status !== "Active" || key.sealed) return undefined;
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
        await this.config.writeConfig(recordPath(kind, next.name), await this.#encode(kind, next));
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

/** What a secret is sealed bound to: its access key id (a sealed secret moved to another key
 *  does not open). */
function secretContext(accessKeyId: string): EncryptionContext {
  return { "flashstor:iam-access-key": accessKeyId };
}

function parseRecord<K extends EntityKind>(bytes: Uint8Array): RecordOf[K] {
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** Whether a user's record, as stored, holds some secret in plain. */
function hasPlainSecrets(user: UserRecord): boolean {
  return user.keys.some((key) => !key.sealed);
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
