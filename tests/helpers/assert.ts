/** Assertions for Deno.test, on node:assert (JSR's @std/assert is not reachable here). */

import { AssertionError, deepStrictEqual, notDeepStrictEqual } from "node:assert";

export { AssertionError };

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new AssertionError({ message });
}

/** Deep equality; Headers compare by their entries. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (actual instanceof Headers && expected instanceof Headers) {
    deepStrictEqual([...actual], [...expected], message);
    return;
  }
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

type ErrorClass<E extends Error = Error> = abstract new (...args: never[]) => E;

function check<E extends Error>(err: unknown, type?: ErrorClass<E>, includes?: string): E {
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
  return err as E;
}

export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  type?: ErrorClass<E>,
  includes?: string,
): E {
  try {
    fn();
  } catch (err) {
    return check(err, type, includes);
  }
  throw new AssertionError({ message: "expected a throw" });
}

export async function assertRejects<E extends Error = Error>(
  fn: () => Promise<unknown>,
  type?: ErrorClass<E>,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    return check(err, type, includes);
  }
  throw new AssertionError({ message: "expected a rejection" });
}

/** An AWS SDK call fails with this S3 error code and HTTP status. */
export async function assertS3Error(
  call: () => Promise<unknown>,
  code: string,
  status: number,
): Promise<void> {
  const err: Error & { $metadata?: { httpStatusCode?: number } } = await assertRejects(call);
  assertEquals([err.name, err.$metadata?.httpStatusCode], [code, status], err.message);
}
