/**
 * Object keys of SSE-S3 and SSE-KMS objects opened lately. Opening one costs a small GET
 * ~30 µs of its ~250 (decoding the sealed entries, the key service unsealing the data key,
 * that key unsealing the object key); a hot object read again skips all of it. An entry is
 * found only by every stored value its opening depends on (mode, object name, sealed keys,
 * key id, context), so it gives exactly what opening again would. Never SSE-C: the customer's
 * key must not outlive its request, and an entry would open for a request with a wrong key.
 *
 * Entries last TTL_MS at most, so a key the key service stops serving (an external KMS
 * disabling a key) stops opening objects within that time; the least recently used go first
 * beyond CAPACITY, and their key bytes are zeroed.
 */
import type { KeyService } from "../kms/key-service.ts";
import type { SealedEncryption } from "../crypto/sealed-metadata.ts";

const CAPACITY = 4096;
const TTL_MS = 60_000;

interface Entry {
  sealed: SealedEncryption;
  key: Uint8Array;
  at: number;
}

export class OpenedKeys {
  readonly #entries = new Map<string, Entry>();

  constructor(readonly now: () => number = Date.now) {}

  /** A copy of the key opened for `id`, if still fresh. */
  get(id: string): { sealed: SealedEncryption; key: Uint8Array } | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    if (this.now() - entry.at > TTL_MS) {
      entry.key.fill(0);
      return undefined;
    }
    this.#entries.set(id, entry);
    return { sealed: entry.sealed, key: entry.key.slice() };
  }

  set(id: string, sealed: SealedEncryption, key: Uint8Array): void {
    this.#entries.get(id)?.key.fill(0);
    this.#entries.delete(id);
    this.#entries.set(id, { sealed, key: key.slice(), at: this.now() });
    if (this.#entries.size > CAPACITY) {
      const [oldest, entry] = this.#entries.entries().next().value!;
      entry.key.fill(0);
      this.#entries.delete(oldest);
    }
  }

  get size(): number {
    return this.#entries.size;
  }
}

const perService = new WeakMap<KeyService, OpenedKeys>();

/** The cache of the keys `service` opened. */
export function openedKeysOf(service: KeyService): OpenedKeys {
  let cache = perService.get(service);
  if (!cache) perService.set(service, cache = new OpenedKeys());
  return cache;
}
