/**
 * The package stream: plaintext cut into 64 KiB packages, each sealed with AES-256-GCM under
 * the stream's key as nonce || ciphertext || tag. A package's additional data binds its
 * sequence number and whether it is the stream's last, so reordered, dropped, duplicated or
 * truncated packages fail to authenticate (MinIO's DARE 2.0 does the same). Every package but
 * the last holds exactly PACKAGE_SIZE bytes, so a plaintext offset maps to its package by
 * division and a range read opens only the packages it covers.
 */

import { type GcmKey, NONCE_SIZE, TAG_SIZE } from "./gcm.ts";

export const PACKAGE_SIZE = 64 * 1024;
export const PACKAGE_OVERHEAD = NONCE_SIZE + TAG_SIZE;
const STORED_PACKAGE_SIZE = PACKAGE_SIZE + PACKAGE_OVERHEAD;

/** A stored package that does not authenticate, is out of place, missing, or extra. */
export class TamperedObject extends Error {
  override name = "TamperedObject";
}

/** Packages of a stream of `plainSize` bytes: an empty stream is one empty final package. */
export function packageCount(plainSize: number): number {
  return Math.max(1, Math.ceil(plainSize / PACKAGE_SIZE));
}

/** Plaintext bytes in package `index` of a stream of `plainSize` bytes. */
export function packagePlainSize(plainSize: number, index: number): number {
  return Math.min(PACKAGE_SIZE, plainSize - index * PACKAGE_SIZE);
}

/** Stored size of `plainSize` plaintext bytes encrypted as one stream. */
export function sealedSize(plainSize: number): number {
  if (!Number.isSafeInteger(plainSize) || plainSize < 0) {
    throw new RangeError(`not a plaintext size: ${plainSize}`);
  }
  return plainSize + packageCount(plainSize) * PACKAGE_OVERHEAD;
}

/** Inverse of sealedSize; throws RangeError when no plaintext size gives `sealed`. */
export function plainSizeOf(sealed: number): number {
  if (!Number.isSafeInteger(sealed) || sealed < PACKAGE_OVERHEAD) {
    throw new RangeError(`not a sealed size: ${sealed}`);
  }
  const packages = Math.ceil(sealed / STORED_PACKAGE_SIZE);
  const plain = sealed - packages * PACKAGE_OVERHEAD;
  // Only the last package may be short, and only a lone one may be empty.
  if (packages > 1 && plain <= (packages - 1) * PACKAGE_SIZE) {
    throw new RangeError(`not a sealed size: ${sealed}`);
  }
  return plain;
}

/**
 * The additional data of package `sequence`: the number as u64 big-endian, then the flag;
 * written into `aad` (9 bytes) when given, for a caller that opens packages one at a time.
 */
export function packageAad(
  sequence: number,
  final: boolean,
  aad: Uint8Array = new Uint8Array(9),
): Uint8Array {
  const high = Math.floor(sequence / 2 ** 32);
  const low = sequence >>> 0;
  for (let i = 0; i < 4; i++) {
    aad[i] = high >>> (24 - 8 * i);
    aad[4 + i] = low >>> (24 - 8 * i);
  }
  aad[8] = final ? 1 : 0;
  return aad;
}

/** The plaintext of a stored package, which must be package `sequence` (final or not). */
export function openPackage(
  key: GcmKey,
  stored: Uint8Array,
  sequence: number,
  final: boolean,
  where: string,
): Uint8Array | Promise<Uint8Array> {
  const check = (plain: Uint8Array | undefined): Uint8Array => {
    if (plain) return plain;
    throw new TamperedObject(`${where}: package ${sequence} does not authenticate`);
  };
  const plain = key.open(packageAad(sequence, final), stored);
  return plain instanceof Promise ? plain.then(check) : check(plain);
}

/**
 * Package results passed on in stream order while up to `depth` are still being computed
 * (on other threads: Web Crypto's, the cipher thread); synchronous results pass straight
 * through. `emit` may throw: the add or drain that called it rejects.
 */
export class InOrder<T = Uint8Array> {
  readonly #pending: Promise<T>[] = [];

  constructor(readonly depth: number, readonly emit: (result: T) => void) {}

  async add(result: T | Promise<T>): Promise<void> {
    if (!(result instanceof Promise) && this.#pending.length === 0) return this.emit(result);
    const promised = Promise.resolve(result);
    // Awaited in turn below; when an earlier one fails the stream errors and drops the rest.
    promised.catch(() => {});
    this.#pending.push(promised);
    while (this.#pending.length >= this.depth) this.emit(await this.#pending.shift()!);
  }

  async drain(): Promise<void> {
    while (this.#pending.length > 0) this.emit(await this.#pending.shift()!);
  }
}
