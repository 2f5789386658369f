/**
 * AES-256-GCM as the package stream and key seals use it: a key imported once, then many
 * seals and opens with a caller-chosen 12-byte nonce. Three engines implement it, Intel's
 * IPsec Multi-Buffer library (ipsec-mb-gcm.ts), OpenSSL's libcrypto (openssl-gcm.ts) and Web
 * Crypto (here); engine.ts picks one.
 */

export const KEY_SIZE = 32;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;

/** One imported key. Results may be synchronous (IPsec-MB, OpenSSL) or promised (Web Crypto). */
export interface GcmKey {
  /** nonce || ciphertext || tag of `plain`, authenticating `aad` too. */
  seal(nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** The plaintext of nonce || ciphertext || tag; undefined when it does not authenticate. */
  open(
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Uint8Array | undefined | Promise<Uint8Array | undefined>;
}

/** A key whose seals and opens are computed on this thread, at once. */
export interface SyncGcmKey extends GcmKey {
  seal(nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array): Uint8Array;
  open(aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /**
   * Like open, but the plaintext replaces the ciphertext inside `sealed` (the returned view);
   * on undefined what `sealed` then holds is garbage.
   */
  openInPlace(aad: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /**
   * openInPlace for a package stored in several places: `pieces` concatenated are
   * nonce || ciphertext || tag, each may cut anywhere. Returns each piece's plaintext in its
   * place (a view per piece, empty where a piece holds none); undefined, leaving garbage,
   * when it does not authenticate.
   */
  openPiecesInPlace(aad: Uint8Array, pieces: readonly Uint8Array[]): Uint8Array[] | undefined;
}

export interface GcmEngine {
  name: string;
  /** Operations this engine should have in flight at once to use its throughput. */
  concurrency: number;
  /** `key` must be KEY_SIZE bytes; the engine keeps its own copy. */
  importKey(key: Uint8Array): Promise<GcmKey>;
  /**
   * Engines computing on this thread: a key imported at once. Sealing a 32-byte key through a
   * promise, or through node:crypto, costs more than the cipher.
   */
  importKeyNow?(key: Uint8Array): SyncGcmKey;
  /** HMAC-SHA256 from the same library, where it beats node:crypto's (~12 µs a call here). */
  hmacSha256?(key: Uint8Array, data: Uint8Array): Uint8Array<ArrayBuffer>;
}

/**
 * Web Crypto's AES-GCM. Each call is a hop to another thread (~30 µs), so it needs several
 * packages in flight to reach its throughput; it is also the slower cipher here.
 */
export const webCryptoGcm: GcmEngine = {
  name: "webcrypto",
  concurrency: 4,
  async importKey(key) {
    const cryptoKey = await crypto.subtle.importKey(
      "raw",
      checkedKey(key) as BufferSource,
      "AES-GCM",
      false,
      [
        "encrypt",
        "decrypt",
      ],
    );
    return {
      async seal(nonce, aad, plain) {
        const sealed = await crypto.subtle.encrypt(
          { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource },
          cryptoKey,
          plain as BufferSource,
        );
        const out = new Uint8Array(NONCE_SIZE + sealed.byteLength);
        out.set(nonce);
        out.set(new Uint8Array(sealed), NONCE_SIZE);
        return out;
      },
      async open(aad, sealed) {
        if (sealed.byteLength < NONCE_SIZE + TAG_SIZE) return undefined;
        try {
          const plain = await crypto.subtle.decrypt(
            {
              name: "AES-GCM",
              iv: sealed.subarray(0, NONCE_SIZE) as BufferSource,
              additionalData: aad as BufferSource,
            },
            cryptoKey,
            sealed.subarray(NONCE_SIZE) as BufferSource,
          );
          return new Uint8Array(plain);
        } catch (err) {
          if (err instanceof DOMException && err.name === "OperationError") return undefined;
          throw err;
        }
      },
    };
  },
};

/**
 * A library's AES-256-GCM on caller-given buffers, under a key prepared once (its copy, or
 * whatever the library computes from it).
 */
export interface GcmPrimitive<K> {
  prepare(key: Uint8Array): K;
  /** Writes nonce || ciphertext || tag of `plain` to `out` (plain + 28 bytes). */
  seal(key: K, nonce: Uint8Array, aad: Uint8Array, plain: Uint8Array, out: Uint8Array): void;
  /**
   * Writes the plaintext of nonce || ciphertext || tag to `out` (sealed − 28 bytes, or the
   * ciphertext's own place); false when it does not authenticate (`out` must not be used).
   */
  open(key: K, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
  /**
   * Opens a ciphertext stored as `texts` (in order), each replaced by its plaintext; false
   * when `tag` does not authenticate it (the texts then hold garbage).
   */
  openPieces(
    key: K,
    nonce: Uint8Array,
    aad: Uint8Array,
    texts: readonly Uint8Array[],
    tag: Uint8Array,
  ): boolean;
}

/** The engine of a library computing on this thread, at once. */
export function syncGcmEngine<K>(
  name: string,
  primitive: GcmPrimitive<K>,
  hmacSha256?: (key: Uint8Array, data: Uint8Array) => Uint8Array<ArrayBuffer>,
): GcmEngine {
  // Plaintexts are carved out of 1 MiB slabs: one allocation per 16 packages instead of one
  // each (a fresh 64 KiB array costs ~15 µs here, a third of opening the package). A slab is
  // never written again once carved; the views keep it alive until the last is dropped.
  const SLAB = 1 << 20;
  let slab = new Uint8Array(0);
  let carved = 0;
  const output = (length: number): Uint8Array => {
    if (length > SLAB) return new Uint8Array(length);
    if (carved + length > slab.byteLength) [slab, carved] = [new Uint8Array(SLAB), 0];
    carved += length;
    return slab.subarray(carved - length, carved);
  };
  // A nonce or tag cut across pieces is put together here; calls run one at a time.
  const nonce = new Uint8Array(NONCE_SIZE);
  const tag = new Uint8Array(TAG_SIZE);
  const importKeyNow = (key: Uint8Array): SyncGcmKey => {
    const prepared = primitive.prepare(checkedKey(key));
    return {
      seal(nonce, aad, plain) {
        const out = new Uint8Array(NONCE_SIZE + plain.byteLength + TAG_SIZE);
        primitive.seal(prepared, nonce, aad, plain, out);
        return out;
      },
      open(aad, sealed) {
        const length = sealed.byteLength - NONCE_SIZE - TAG_SIZE;
        if (length < 0) return undefined;
        const out = output(length);
        return primitive.open(prepared, aad, sealed, out) ? out : undefined;
      },
      openInPlace(aad, sealed) {
        const length = sealed.byteLength - NONCE_SIZE - TAG_SIZE;
        if (length < 0) return undefined;
        const out = sealed.subarray(NONCE_SIZE, NONCE_SIZE + length);
        return primitive.open(prepared, aad, sealed, out) ? out : undefined;
      },
      openPiecesInPlace(aad, pieces) {
        const total = pieces.reduce((sum, piece) => sum + piece.byteLength, 0);
        const textEnd = total - TAG_SIZE;
        if (textEnd < NONCE_SIZE) return undefined;
        // Each piece's share of [NONCE_SIZE, textEnd), the ciphertext.
        const texts: Uint8Array[] = [];
        let at = 0;
        for (const piece of pieces) {
          const from = Math.min(Math.max(NONCE_SIZE - at, 0), piece.byteLength);
          const to = Math.max(Math.min(textEnd - at, piece.byteLength), from);
          texts.push(piece.subarray(from, to));
          gather(piece, at, 0, nonce);
          gather(piece, at, textEnd, tag);
          at += piece.byteLength;
        }
        return primitive.openPieces(prepared, nonce, aad, texts, tag) ? texts : undefined;
      },
    };
  };
  return {
    name,
    concurrency: 1,
    importKey: (key) => Promise.resolve(importKeyNow(key)),
    importKeyNow,
    hmacSha256,
  };
}

/**
 * Copies into `out` the bytes of `piece` (which starts at `at` of a whole) that fall in
 * [start, start + out.byteLength) of that whole.
 */
function gather(piece: Uint8Array, at: number, start: number, out: Uint8Array): void {
  const from = Math.max(start - at, 0);
  const to = Math.min(start + out.byteLength - at, piece.byteLength);
  if (to > from) out.set(piece.subarray(from, to), at + from - start);
}

/** `key` when it is a 256-bit key; a RangeError otherwise. */
export function checkedKey(key: Uint8Array): Uint8Array {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_SIZE) {
    throw new RangeError(`an AES-256 key is ${KEY_SIZE} bytes`);
  }
  return key;
}
