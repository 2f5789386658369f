/** Assertions for Deno.test, on node:assert (JSR's @std/assert is not reachable here). */

import { AssertionError, deepStrictEqual, notDeepStrictEqual } from "node:assert";

export { AssertionError };

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError({ message });
}

export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  notDeepStrictEqual(actual, expected, message);
}

export function assertStringIncludes(actual: string, expected: string, message?: string): void {
  if (!actual.includes(expected)) {
    throw new AssertionError({
      message: message ??
        `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
    });
  }
}

type ErrorClass = abstract new (...args: never[]) => Error;

function check(err: unknown, type?: ErrorClass, includes?: string): Error {
  if (!(err instanceof Error)) throw new AssertionError({ message: `threw a non-error: ${err}` });
  const description = `${err.name}: ${err.message}`;
  if (type && !(err instanceof type)) {
    throw new AssertionError({ message: `expected ${type.name}, got ${description}` });
  }
  if (includes && !err.message.includes(includes)) {
    throw new AssertionError({
      message: `expected message to include "${includes}", got "${err.message}"`,
    });
  }
  return err;
}

export function assertThrows(fn: () => unknown, type?: ErrorClass, includes?: string): Error {
  try {
    fn();
  } catch (err) {
    return check(err, type, includes);
  }
  throw new AssertionError({ message: "expected a throw" });
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  type?: ErrorClass,
  includes?: string,
): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return check(err, type, includes);
  }
  throw new AssertionError({ message: "expected a rejection" });
}
