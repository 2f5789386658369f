/**
 * The few assertions the auth and checksum tests need (JSR's @std/assert is not reachable here),
 * built on node:assert.
 */
import assert from "node:assert/strict";

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (actual instanceof Headers && expected instanceof Headers) {
    assert.deepEqual([...actual], [...expected], message);
    return;
  }
  assert.deepEqual(actual, expected, message);
}

/** Awaits `fn`, which must reject with an instance of `type`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof type) return err;
    throw new Error(`expected ${type.name}, got ${String(err)}`);
  }
  throw new Error(`expected ${type.name}, but nothing was thrown`);
}
