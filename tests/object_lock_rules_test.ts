/**
 * Object lock rules in process: the end of a default retention (days, and calendar years across
 * a leap day), the ISO 8601 dates retention accepts, and the object layer's removal rule over
 * the metadata the S3 layer stores.
 */
import { assertEquals, assertThrows } from "./helpers/assert.ts";
import { defaultRetainUntil } from "../src/bucket/object-lock.ts";
import { parseIsoDate } from "../src/s3/object-lock.ts";
import {
  checkRemovable,
  LOCK_LEGAL_HOLD,
  LOCK_MODE,
  LOCK_RETAIN_UNTIL,
} from "../src/object/object-lock.ts";
import { ObjectLocked } from "../src/object/errors.ts";

Deno.test("object lock: a default retention ends days or calendar years after the write", () => {
  const written = new Date("2028-02-29T12:34:56.789Z");
  assertEquals(
    defaultRetainUntil({ mode: "GOVERNANCE", days: 1 }, written).toISOString(),
    "2028-03-01T12:34:56.789Z",
  );
  assertEquals(
    defaultRetainUntil({ mode: "COMPLIANCE", days: 365 }, written).toISOString(),
    "2029-02-28T12:34:56.789Z",
  );
  // A year from a leap day ends on the first of March, as the calendar rolls over.
  assertEquals(
    defaultRetainUntil({ mode: "COMPLIANCE", years: 1 }, written).toISOString(),
    "2029-03-01T12:34:56.789Z",
  );
  assertEquals(
    defaultRetainUntil({ mode: "COMPLIANCE", years: 4 }, written).toISOString(),
    "2032-02-29T12:34:56.789Z",
  );
});

Deno.test("object lock: retain-until dates are ISO 8601 instants", () => {
  assertEquals(parseIsoDate("2030-01-02T03:04:05Z")?.toISOString(), "2030-01-02T03:04:05.000Z");
  assertEquals(parseIsoDate("2030-01-02T03:04:05.5Z")?.toISOString(), "2030-01-02T03:04:05.500Z");
  assertEquals(
    parseIsoDate("2030-01-02T03:04:05+02:00")?.toISOString(),
    "2030-01-02T01:04:05.000Z",
  );
  for (
    const bad of [
      "",
      "2030-01-02",
      "tomorrow",
      "Wed, 02 Jan 2030 03:04:05 GMT",
      "2030-01-02T03:04:05",
      "2030-13-02T03:04:05Z",
      "1893456000",
    ]
  ) assertEquals(parseIsoDate(bad), undefined, bad);
});

Deno.test("object lock: what the removal rule protects", () => {
  const now = Date.parse("2030-01-01T00:00:00Z");
  const until = (ms: number) => new Date(now + ms).toISOString();
  const locked = (metadata: Record<string, string>, bypass = false) =>
    assertThrows(() => checkRemovable(metadata, now, bypass), ObjectLocked);
  locked({ [LOCK_MODE]: "COMPLIANCE", [LOCK_RETAIN_UNTIL]: until(1000) }, true);
  locked({ [LOCK_MODE]: "GOVERNANCE", [LOCK_RETAIN_UNTIL]: until(1000) });
  locked({ [LOCK_LEGAL_HOLD]: "ON" }, true);
  locked({ [LOCK_LEGAL_HOLD]: "ON", [LOCK_MODE]: "GOVERNANCE", [LOCK_RETAIN_UNTIL]: until(-1) });
  checkRemovable({ [LOCK_MODE]: "GOVERNANCE", [LOCK_RETAIN_UNTIL]: until(1000) }, now, true);
  checkRemovable({ [LOCK_MODE]: "COMPLIANCE", [LOCK_RETAIN_UNTIL]: until(-1) }, now);
  checkRemovable({ [LOCK_LEGAL_HOLD]: "OFF" }, now);
  checkRemovable({}, now);
});
