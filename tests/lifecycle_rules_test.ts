/**
 * Lifecycle documents as AWS checks them (parseLifecycle) and what the rules make due on an
 * object's versions (lifecycle-evaluate.ts), with a day of one hour so the rounding to the next
 * day boundary shows.
 */

import { InvalidLifecycle, type LifecycleRule, parseLifecycle } from "../src/bucket/lifecycle.ts";
import { ConfigError, parseServerArgs } from "../src/config.ts";
import {
  abortingRule,
  dueTime,
  expiryOf,
  objectActions,
} from "../src/bucket/lifecycle-evaluate.ts";
import type { ObjectInfo } from "../src/object/layer.ts";
import { parseXml } from "../src/s3/xml.ts";
import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";

const parse = (rules: string) =>
  parseLifecycle(parseXml(`<LifecycleConfiguration>${rules}</LifecycleConfiguration>`));

function refused(rules: string, code: InvalidLifecycle["code"], includes?: string): void {
  const err = assertThrows(() => parse(rules), InvalidLifecycle, includes);
  assertEquals(err.code, code, `${rules}: ${err.message}`);
}

const rule = (inner: string, filter = "<Filter><Prefix></Prefix></Filter>") =>
  `<Rule><ID>r</ID>${filter}<Status>Enabled</Status>${inner}</Rule>`;

Deno.test("lifecycle parse: every action and filter form reads back as put", () => {
  const { rules } = parse(
    rule("<Expiration><Days>3</Days></Expiration>", "<Prefix>logs/</Prefix>") +
      `<Rule><ID>t</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>
        <Status>Disabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>
        <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>
          <NewerNoncurrentVersions>5</NewerNoncurrentVersions></NoncurrentVersionExpiration>
      </Rule>` +
      `<Rule><Filter><And><Prefix>a/</Prefix>
        <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>20</ObjectSizeLessThan>
        </And></Filter><Status>Enabled</Status>
        <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>
        </AbortIncompleteMultipartUpload><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`,
  );
  assertEquals(rules[0], {
    id: "r",
    enabled: true,
    filter: { prefix: "logs/", tags: [] },
    form: "prefix",
    expiration: { days: 3 },
  });
  assertEquals(rules[1].enabled, false);
  assertEquals(rules[1].filter.tags, [{ key: "k", value: "v" }]);
  assertEquals(rules[1].expiration, { date: "2030-01-01T00:00:00.000Z" });
  assertEquals(rules[1].noncurrentVersionExpiration, {
    noncurrentDays: 2,
    newerNoncurrentVersions: 5,
  });
  assertEquals(rules[2].form, "and");
  assertEquals(rules[2].filter.sizeGreaterThan, 10);
  assertEquals(rules[2].filter.sizeLessThan, 20);
  assertEquals(rules[2].abortIncompleteUploadDays, 1);
  assertEquals(rules[2].expiration, { expiredObjectDeleteMarker: true });
  assert(rules[2].id.length > 0, "a rule without ID gets one");
});

Deno.test("lifecycle parse: AWS's errors for bad documents", () => {
  const expire = "<Expiration><Days>1</Days></Expiration>";
  refused("", "MalformedXML", "no Rule");
  refused(`<Rule><ID>r</ID><Filter/><Status>On</Status>${expire}</Rule>`, "MalformedXML");
  refused(`<Rule><ID>r</ID><Filter/>${expire}</Rule>`, "MalformedXML");
  refused(rule(expire, ""), "MalformedXML", "neither Filter nor Prefix");
  refused(rule(expire, "<Prefix/><Filter/>"), "MalformedXML", "both");
  refused(
    rule(expire, "<Filter><Prefix>a</Prefix><ObjectSizeLessThan>3</ObjectSizeLessThan></Filter>"),
    "MalformedXML",
  );
  refused(rule(expire, "<Filter><Tag><Value>v</Value></Tag></Filter>"), "MalformedXML");
  refused(rule("<Expiration><Days>0</Days></Expiration>"), "InvalidArgument", "positive");
  refused(rule("<Expiration><Days>-2</Days></Expiration>"), "InvalidArgument");
  refused(rule("<Expiration><Days>two</Days></Expiration>"), "MalformedXML");
  refused(
    rule("<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"),
    "MalformedXML",
  );
  refused(
    rule("<Expiration><Date>2030-01-01T10:00:00Z</Date></Expiration>"),
    "InvalidArgument",
    "midnight",
  );
  refused(rule("<Expiration><Date>soon</Date></Expiration>"), "MalformedXML");
  refused(
    rule(
      "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>",
    ),
    "MalformedXML",
    "ExpiredObjectDeleteMarker",
  );
  refused(rule("<Expiration></Expiration>"), "MalformedXML");
  refused(
    rule(
      "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>",
    ),
    "InvalidArgument",
  );
  refused(
    rule(
      "<NoncurrentVersionExpiration><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
    ),
    "MalformedXML",
  );
  refused(
    rule(
      "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
    ),
    "InvalidArgument",
  );
  refused(
    rule(
      "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
    ),
    "InvalidArgument",
  );
  refused(rule(""), "InvalidRequest", "At least one action");
  refused(
    rule(
      "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
      "<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>",
    ),
    "InvalidRequest",
  );
  refused(
    rule(
      expire,
      "<Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter>",
    ),
    "InvalidRequest",
    "Duplicate",
  );
  refused(
    rule(
      expire,
      "<Filter><And><ObjectSizeGreaterThan>9</ObjectSizeGreaterThan><ObjectSizeLessThan>9</ObjectSizeLessThan></And></Filter>",
    ),
    "InvalidRequest",
  );
  refused(
    rule(`${expire}<Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition>`),
    "NotImplemented",
  );
  refused(rule(`${expire}<Bogus/>`), "MalformedXML");
  refused(rule(expire) + rule(expire), "InvalidArgument", "unique");
  refused(
    rule(expire).replace("<ID>r</ID>", `<ID>${"i".repeat(256)}</ID>`),
    "InvalidArgument",
    "255",
  );
  const many = Array.from({ length: 1001 }, (_, i) => rule(expire).replace("<ID>r", `<ID>${i}`));
  const err = assertThrows(
    () =>
      parseLifecycle(parseXml(`<LifecycleConfiguration>${many.join("")}</LifecycleConfiguration>`)),
    InvalidLifecycle,
  );
  assertEquals(err.code, "InvalidRequest");
  assertThrows(() => parseLifecycle(parseXml("<Lifecycle/>")), InvalidLifecycle, "root");
});

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);

function version(
  fields: Partial<ObjectInfo> & { at: number; versionId: string },
): ObjectInfo {
  return {
    bucket: "b",
    name: "logs/a",
    size: 100,
    storedSize: 100,
    etag: "e",
    modTime: new Date(fields.at),
    isLatest: false,
    deleteMarker: false,
    metadata: {},
    parts: [],
    ...fields,
  };
}

const rulesOf = (xml: string): LifecycleRule[] => parse(xml).rules;

Deno.test("lifecycle evaluate: days count to the next day boundary after Last-Modified + days", () => {
  assertEquals(dueTime(new Date(T0 + 10 * 60_000), 1, HOUR), T0 + 2 * HOUR);
  assertEquals(dueTime(new Date(T0), 2, 86_400_000), T0 + 3 * 86_400_000);
  const rules = rulesOf(rule("<Expiration><Days>1</Days></Expiration>", "<Prefix>logs/</Prefix>"));
  const current = version({ at: T0 + 10 * 60_000, versionId: "null", isLatest: true });
  assertEquals(objectActions(rules, [current], T0 + 2 * HOUR - 1, HOUR), []);
  assertEquals(objectActions(rules, [current], T0 + 2 * HOUR, HOUR), [
    { kind: "expire", rule: "r" },
  ]);
  assertEquals(expiryOf(rules, current, HOUR), { due: new Date(T0 + 2 * HOUR), rule: "r" });
  const elsewhere = { ...current, name: "data/a" };
  assertEquals(objectActions(rules, [elsewhere], T0 + 10 * HOUR, HOUR), []);
  const disabled = rules.map((r) => ({ ...r, enabled: false }));
  assertEquals(objectActions(disabled, [current], T0 + 10 * HOUR, HOUR), []);
});

Deno.test("lifecycle evaluate: the earliest of several rules names the expiry; a Date applies once past", () => {
  const rules = rulesOf(
    rule("<Expiration><Days>5</Days></Expiration>").replace("<ID>r", "<ID>late") +
      rule("<Expiration><Date>2026-01-02T00:00:00Z</Date></Expiration>").replace("<ID>r", "<ID>d"),
  );
  const current = version({ at: T0, versionId: "v1", isLatest: true });
  assertEquals(expiryOf(rules, current, 86_400_000)?.rule, "d");
  assertEquals(objectActions(rules, [current], T0 + 86_400_000 - 1, 86_400_000), []);
  assertEquals(objectActions(rules, [current], T0 + 86_400_000, 86_400_000).length, 1);
});

Deno.test("lifecycle evaluate: noncurrent versions count from when they stopped being current; NewerNoncurrentVersions keeps the newest", () => {
  const rules = rulesOf(rule(
    "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration>",
  ));
  const versions = [
    version({ at: T0 + 5 * HOUR, versionId: "v4", isLatest: true }),
    version({ at: T0 + 3 * HOUR, versionId: "v3" }),
    version({ at: T0 + 2 * HOUR, versionId: "v2" }),
    version({ at: T0, versionId: "v1" }),
  ];
  // v2 stopped being current at 3h (due 5h), v1 at 2h (due 4h); v3 is the one kept.
  assertEquals(objectActions(rules, versions, T0 + 4 * HOUR, HOUR), [
    { kind: "removeVersion", versionId: "v1", rule: "r" },
  ]);
  assertEquals(objectActions(rules, versions, T0 + 100 * HOUR, HOUR), [
    { kind: "removeVersion", versionId: "v2", rule: "r" },
    { kind: "removeVersion", versionId: "v1", rule: "r" },
  ]);
});

Deno.test("lifecycle evaluate: a lone delete marker goes with ExpiredObjectDeleteMarker, or with Days once old enough", () => {
  const marker = version({ at: T0, versionId: "m", isLatest: true, deleteMarker: true, size: 0 });
  const older = version({ at: T0 - HOUR, versionId: "v1" });
  const cleanup = rulesOf(
    rule("<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"),
  );
  assertEquals(objectActions(cleanup, [marker], T0, HOUR), [
    { kind: "removeVersion", versionId: "m", rule: "r" },
  ]);
  assertEquals(objectActions(cleanup, [marker, older], T0 + 100 * HOUR, HOUR), []);
  const days = rulesOf(rule("<Expiration><Days>2</Days></Expiration>"));
  assertEquals(objectActions(days, [marker], T0 + 3 * HOUR - 1, HOUR), []);
  assertEquals(objectActions(days, [marker], T0 + 3 * HOUR, HOUR).length, 1);
  assertEquals(expiryOf(days, marker, HOUR), undefined);
});

Deno.test("lifecycle evaluate: tag and size filters select versions; markers match no tag filter", () => {
  const rules = rulesOf(
    rule(
      "<Expiration><Days>1</Days></Expiration>",
      "<Filter><And><Tag><Key>tier</Key><Value>tmp</Value></Tag><ObjectSizeGreaterThan>50</ObjectSizeGreaterThan></And></Filter>",
    ),
  );
  const later = T0 + 100 * HOUR;
  const tagged = version({
    at: T0,
    versionId: "v",
    isLatest: true,
    metadata: { "x-amz-tagging": "a=b&tier=tmp" },
  });
  assertEquals(objectActions(rules, [tagged], later, HOUR).length, 1);
  assertEquals(objectActions(rules, [{ ...tagged, size: 50 }], later, HOUR), []);
  assertEquals(
    objectActions(rules, [{ ...tagged, metadata: { "x-amz-tagging": "tier=keep" } }], later, HOUR),
    [],
  );
  assertEquals(objectActions(rules, [{ ...tagged, metadata: {} }], later, HOUR), []);
  // Stored tags are URL-encoded (encodeURIComponent), compared decoded.
  const odd = rulesOf(rule(
    "<Expiration><Days>1</Days></Expiration>",
    "<Filter><Tag><Key>a b</Key><Value>x+y&amp;z</Value></Tag></Filter>",
  ));
  const oddTags = {
    "x-amz-tagging": `${encodeURIComponent("a b")}=${encodeURIComponent("x+y&z")}`,
  };
  assertEquals(objectActions(odd, [{ ...tagged, metadata: oddTags }], later, HOUR).length, 1);
  assertEquals(objectActions(odd, [tagged], later, HOUR), []);
  const small = rulesOf(
    rule(
      "<Expiration><Days>1</Days></Expiration>",
      "<Filter><ObjectSizeLessThan>10</ObjectSizeLessThan></Filter>",
    ),
  );
  assertEquals(objectActions(small, [tagged], later, HOUR), []);
  assertEquals(objectActions(small, [{ ...tagged, size: 9 }], later, HOUR).length, 1);
});

Deno.test("lifecycle evaluate: uploads are aborted by prefix and age only", () => {
  const rules = rulesOf(
    rule(
      "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload>",
      "<Prefix>tmp/</Prefix>",
    ),
  );
  const upload = {
    bucket: "b",
    object: "tmp/big",
    uploadId: "u",
    initiated: new Date(T0),
    metadata: {},
  };
  assertEquals(abortingRule(rules, upload, T0 + 2 * HOUR - 1, HOUR), undefined);
  assertEquals(abortingRule(rules, upload, T0 + 2 * HOUR, HOUR), "r");
  assertEquals(
    abortingRule(rules, { ...upload, object: "keep/big" }, T0 + 9 * HOUR, HOUR),
    undefined,
  );
});

Deno.test("lifecycle day: a day by default, shortened by --lifecycle-day or FLASHSTOR_LIFECYCLE_DAY", () => {
  const noEnv = () => undefined;
  assertEquals(parseServerArgs(["/d"], noEnv).lifecycleDayMs, 86_400_000);
  assertEquals(parseServerArgs(["--lifecycle-day", "2s", "/d"], noEnv).lifecycleDayMs, 2000);
  const env = (name: string) => name === "FLASHSTOR_LIFECYCLE_DAY" ? "1m" : undefined;
  assertEquals(parseServerArgs(["/d"], env).lifecycleDayMs, 60_000);
  assertEquals(parseServerArgs(["--lifecycle-day=10", "/d"], env).lifecycleDayMs, 10_000);
  for (const bad of ["0", "-1", "soon"]) {
    assertThrows(() => parseServerArgs(["--lifecycle-day", bad, "/d"], noEnv), ConfigError);
  }
});
