/**
 * The built-in key service: named master keys kept in the config store, each version's 32
 * bytes sealed by the root key of FLASHSTOR_KMS_SECRET_KEY (which is never stored), so the
 * drives hold no usable key material. Each version is one record,
 * `kms/keys/<base64url of the id>/<version>.json` (ids may hold "/" and ":"), made with
 * createConfig: nodes creating or rotating a key at the same moment agree on one record per
 * version, and a version once written never changes — cached versions never go stale, only
 * which one is current can (another node rotated), which a node learns within REFRESH_MS.
 *
 * A data key is sealed by one master-key version (seal.ts), bound to the key id, the version
 * and the encryption context; its sealed form starts with that version, so rotation keeps
 * every data key sealed before it openable.
 */
import { Buffer } from "node:buffer";
import { concatBytes, fromBase64, toBase64 } from "../bytes.ts";
import type { KmsSecretKey } from "../config.ts";
import type { ConfigStore } from "../object/layer.ts";
import {
  type DataKey,
  type EncryptionContext,
  InvalidKeyId,
  KeyExists,
  KeyNotFound,
  KeySealBroken,
  type KeyService,
  type MasterKeyStatus,
} from "./key-service.ts";
import { boundTo, open, seal } from "./seal.ts";

const KEYS_DIR = "kms/keys/";
const KEY_ID = /^[A-Za-z0-9_.:\/-]{1,128}$/;
/** How stale this node's idea of a key's current version may be (ms): another node rotates. */
const REFRESH_MS = 30_000;
/** A sealed data key: this format byte, the master-key version (u32, big-endian), the seal. */
const DATA_KEY_FORMAT = 1;
const HEADER = 5;

/** One version of a master key, as stored. */
interface VersionRecord {
  keyId: string;
  version: number;
  created: string;
  /** The version's 32 bytes sealed by the root key (base64). */
  sealed: string;
}

interface MasterKey {
  versions: Map<number, { material: Uint8Array; created: Date }>;
  current: number;
  /** When the key's versions were last listed (Date.now()); 0: never. */
  listed: number;
}

export class BuiltinKeyService implements KeyService {
  readonly #keys = new Map<string, MasterKey>();
  /** Listings in flight by key id: concurrent cache misses read the records once. */
  readonly #listings = new Map<string, Promise<MasterKey | undefined>>();

  private constructor(
    private readonly store: ConfigStore,
    private readonly root: Uint8Array,
    readonly defaultKeyId: string,
  ) {}

  /**
   * The service over `store`; the default key (named as the root key) is made on first open.
   * Throws KeySealBroken when the stored default key does not open with `root`.
   */
  static async open(store: ConfigStore, root: KmsSecretKey): Promise<BuiltinKeyService> {
    const service = new BuiltinKeyService(store, root.key, root.name);
    try {
      await service.#createVersion(root.name, 1);
      await service.#listed(root.name);
    } catch (err) {
      if (!(err instanceof KeySealBroken)) throw err;
      throw new KeySealBroken(
        `the master key "${root.name}" does not open with FLASHSTOR_KMS_SECRET_KEY: this ` +
          "deployment's keys were sealed by another root key of that name",
      );
    }
    return service;
  }

  async generateDataKey(keyId: string, context: EncryptionContext): Promise<DataKey> {
    const key = await this.#current(keyId);
    const plaintext = crypto.getRandomValues(new Uint8Array(32));
    return { keyId, plaintext, sealed: sealDataKey(keyId, key, plaintext, context) };
  }

  async decrypt(keyId: string, sealed: Uint8Array, context: EncryptionContext) {
    checkKeyId(keyId);
    if (sealed.byteLength < HEADER || sealed[0] !== DATA_KEY_FORMAT) {
      throw new KeySealBroken("the sealed data key is not one this key service made");
    }
    const version = new DataView(sealed.buffer, sealed.byteOffset).getUint32(1);
    const material = await this.#version(keyId, version);
    const aad = boundTo("data-key", [keyId, version], context);
    return open(material, sealed.subarray(HEADER), aad, "the sealed data key");
  }

  async rewrap(keyId: string, sealed: Uint8Array, context: EncryptionContext) {
    const plaintext = await this.decrypt(keyId, sealed, context);
    try {
      return sealDataKey(keyId, await this.#current(keyId), plaintext, context);
    } finally {
      plaintext.fill(0);
    }
  }

  async createKey(keyId: string): Promise<MasterKeyStatus> {
    checkKeyId(keyId);
    if (!await this.#createVersion(keyId, 1)) {
      throw new KeyExists(`the master key ${keyId} exists`);
    }
    return statusOf(keyId, this.#keys.get(keyId)!);
  }

  async listKeys(): Promise<MasterKeyStatus[]> {
    const versions = new Map<string, number[]>();
    for (const path of await this.store.listConfig(KEYS_DIR)) {
      const found = parsePath(path);
      if (found) versions.set(found.keyId, [...versions.get(found.keyId) ?? [], found.version]);
    }
    const out: MasterKeyStatus[] = [];
    for (const keyId of [...versions.keys()].sort()) {
      const key = await this.#load(keyId, versions.get(keyId)!);
      if (key) out.push(statusOf(keyId, key));
    }
    return out;
  }

  async keyStatus(keyId: string): Promise<MasterKeyStatus> {
    checkKeyId(keyId);
    return statusOf(keyId, await this.#listed(keyId));
  }

  async rotateKey(keyId: string): Promise<MasterKeyStatus> {
    checkKeyId(keyId);
    const key = await this.#listed(keyId);
    // Another node rotating at the same moment makes the same version: both keep its record.
    await this.#createVersion(keyId, key.current + 1);
    return statusOf(keyId, this.#keys.get(keyId)!);
  }

  /** The key with a current version at most REFRESH_MS old. */
  async #current(keyId: string): Promise<MasterKey> {
    checkKeyId(keyId);
    const cached = this.#keys.get(keyId);
    if (cached && Date.now() - cached.listed < REFRESH_MS) return cached;
    return await this.#listed(keyId);
  }

  /** The 32 bytes of one version; an unknown one (made on another node) is looked up. */
  async #version(keyId: string, version: number): Promise<Uint8Array> {
    const known = this.#keys.get(keyId)?.versions.get(version);
    if (known) return known.material;
    const found = (await this.#listed(keyId)).versions.get(version);
    if (!found) {
      throw new KeySealBroken(
        `the sealed data key names version ${version} of master key ${keyId}, which does not exist`,
      );
    }
    return found.material;
  }

  /** The key as its records are now; KeyNotFound without any. */
  async #listed(keyId: string): Promise<MasterKey> {
    const key = await this.#list(keyId);
    if (!key) throw new KeyNotFound(`no master key ${keyId}`);
    return key;
  }

  #list(keyId: string): Promise<MasterKey | undefined> {
    let listing = this.#listings.get(keyId);
    if (!listing) {
      const dir = keyDir(keyId);
      listing = this.store.listConfig(dir)
        .then((paths) => this.#load(keyId, paths.flatMap((p) => versionOf(p.slice(dir.length)))))
        .finally(() => this.#listings.delete(keyId));
      this.#listings.set(keyId, listing);
    }
    return listing;
  }

  /** Reads and opens the listed `versions` not yet cached. */
  async #load(keyId: string, versions: number[]): Promise<MasterKey | undefined> {
    const listed = Date.now();
    const known = this.#keys.get(keyId)?.versions;
    await Promise.all(
      versions.filter((v) => !known?.has(v)).map(async (version) => {
        const bytes = await this.store.readConfig(versionPath(keyId, version));
        if (bytes) this.#remember(keyId, version, bytes);
      }),
    );
    const key = this.#keys.get(keyId);
    if (key) key.listed = listed;
    return key;
  }

  /** Makes `version` of the key unless it exists; whether this call made it. */
  async #createVersion(keyId: string, version: number): Promise<boolean> {
    const material = crypto.getRandomValues(new Uint8Array(32));
    const record: VersionRecord = {
      keyId,
      version,
      created: new Date().toISOString(),
      sealed: toBase64(seal(this.root, material, boundTo("master-key", [keyId, version]))),
    };
    const text = JSON.stringify(record);
    const stored = await this.store.createConfig(
      versionPath(keyId, version),
      new TextEncoder().encode(text),
    );
    this.#remember(keyId, version, stored);
    return new TextDecoder().decode(stored) === text;
  }

  /** Opens a version's record into the cache. */
  #remember(keyId: string, version: number, bytes: Uint8Array): void {
    const what = `version ${version} of master key ${keyId}`;
    let record: VersionRecord;
    let sealed: Uint8Array;
    try {
      record = JSON.parse(new TextDecoder().decode(bytes));
      sealed = fromBase64(record.sealed);
    } catch {
      throw new KeySealBroken(`the record of ${what} is damaged`);
    }
    const material = open(this.root, sealed, boundTo("master-key", [keyId, version]), what);
    let key = this.#keys.get(keyId);
    if (!key) this.#keys.set(keyId, key = { versions: new Map(), current: 0, listed: 0 });
    key.versions.set(version, { material, created: new Date(record.created) });
    key.current = Math.max(key.current, version);
  }
}

function checkKeyId(keyId: string): void {
  if (!KEY_ID.test(keyId)) {
    throw new InvalidKeyId("a key id is 1 to 128 characters of A-Z a-z 0-9 _ . : / -");
  }
}

function sealDataKey(
  keyId: string,
  key: MasterKey,
  plaintext: Uint8Array,
  context: EncryptionContext,
): Uint8Array {
  const version = key.current;
  const header = new Uint8Array(HEADER);
  header[0] = DATA_KEY_FORMAT;
  new DataView(header.buffer).setUint32(1, version);
  const aad = boundTo("data-key", [keyId, version], context);
  return concatBytes([header, seal(key.versions.get(version)!.material, plaintext, aad)]);
}

function statusOf(keyId: string, key: MasterKey): MasterKeyStatus {
  const first = key.versions.get(Math.min(...key.versions.keys()))!;
  return {
    keyId,
    version: key.current,
    createdAt: first.created,
    ...(key.current > 1 ? { rotatedAt: key.versions.get(key.current)!.created } : {}),
  };
}

function keyDir(keyId: string): string {
  return `${KEYS_DIR}${Buffer.from(keyId).toString("base64url")}/`;
}

function versionPath(keyId: string, version: number): string {
  return `${keyDir(keyId)}${version}.json`;
}

/** "<n>.json" → [n]; anything else → []. */
function versionOf(name: string): number[] {
  const match = /^([1-9][0-9]{0,8})\.json$/.exec(name);
  return match ? [Number(match[1])] : [];
}

/** A record path under KEYS_DIR → its key id and version; undefined for a stray record. */
function parsePath(path: string): { keyId: string; version: number } | undefined {
  const [encoded, name, ...rest] = path.slice(KEYS_DIR.length).split("/");
  const keyId = Buffer.from(encoded, "base64url").toString();
  const [version] = versionOf(name ?? "");
  if (rest.length > 0 || version === undefined || !KEY_ID.test(keyId)) return undefined;
  return keyDir(keyId) === `${KEYS_DIR}${encoded}/` ? { keyId, version } : undefined;
}
