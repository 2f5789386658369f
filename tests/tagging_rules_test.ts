/**
 * Tag sets in process: the Tagging document and the x-amz-tagging header with AWS's limits and
 * errors, the stored form, and the tag condition keys (s3:RequestObjectTag/<key>,
 * s3:RequestObjectTagKeys, s3:ExistingObjectTag/<key>) as a policy reads them.
 */
import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";
import {
  decodeTags,
  encodeTags,
  MAX_BUCKET_TAGS,
  MAX_OBJECT_TAGS,
  parseTagging,
  parseTaggingHeader,
  type Tag,
} from "../src/s3/tag-set.ts";
import { S3Error } from "../src/s3/errors.ts";
import { parseXml } from "../src/s3/xml.ts";
import {
  readsExistingObjectTags,
  RequestConditions,
  type RequestSubject,
  withExistingObjectTags,
} from "../src/iam/request-conditions.ts";
import type { Principal } from "../src/iam/principal.ts";
import { decide } from "../src/iam/policy/decide.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";

function document(tags: [string, string][]): string {
  const body = tags.map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join("");
  return `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${body}</TagSet></Tagging>`;
}

function refused(call: () => unknown, code: string, message?: string): void {
  const err = assertThrows(call, S3Error);
  assertEquals(err.code, code, err.message);
  if (message !== undefined) assert(err.message.includes(message), err.message);
}

const many = (n: number): [string, string][] => Array.from({ length: n }, (_, i) => [`k${i}`, "v"]);

Deno.test("tag set: a document within AWS's limits parses, in order", () => {
  const tags = parseTagging(
    parseXml(document([["project", "blue"], ["Cost Centre", "4+2=6 @a/b:c_d.e-f"], ["é", ""]])),
    MAX_OBJECT_TAGS,
  );
  assertEquals(tags, [
    { key: "project", value: "blue" },
    { key: "Cost Centre", value: "4+2=6 @a/b:c_d.e-f" },
    { key: "é", value: "" },
  ]);
  assertEquals(parseTagging(parseXml(document([])), MAX_OBJECT_TAGS), []);
  assertEquals(parseTagging(parseXml(document(many(50))), MAX_BUCKET_TAGS).length, 50);
  const longest: [string, string] = ["k".repeat(128), "é".repeat(256)];
  assertEquals(parseTagging(parseXml(document([longest])), MAX_OBJECT_TAGS).length, 1);
});

Deno.test("tag set: AWS's limits and errors", () => {
  const parse = (tags: [string, string][], limit = MAX_OBJECT_TAGS) => () =>
    parseTagging(parseXml(document(tags)), limit);
  refused(parse(many(11)), "InvalidTag", "cannot be greater than 10");
  refused(parse(many(51), MAX_BUCKET_TAGS), "InvalidTag", "50");
  refused(parse([["k".repeat(129), "v"]]), "InvalidTag", "TagKey");
  refused(parse([["k", "v".repeat(257)]]), "InvalidTag", "TagValue");
  refused(parse([["a", "1"], ["a", "2"]]), "InvalidTag", "same key");
  refused(parse([["aws:owner", "x"]]), "InvalidTag", "aws:");
  refused(parse([["AWS:owner", "x"]]), "InvalidTag", "aws:");
  refused(parse([["", "x"]]), "InvalidTag");
  refused(parse([["semi;colon", "x"]]), "InvalidTag", "TagKey");
  refused(parse([["k", "&lt;&amp;&gt;"]]), "InvalidTag", "TagValue");
  const malformed = [
    "<Tagging></Tagging>",
    "<Tags><TagSet></TagSet></Tags>",
    "<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
    "<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
    "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Key>j</Key></Tag></TagSet></Tagging>",
    "<Tagging><TagSet><Other/></TagSet></Tagging>",
    "<Tagging><TagSet></TagSet><TagSet></TagSet></Tagging>",
  ];
  for (const text of malformed) {
    refused(() => parseTagging(parseXml(text), MAX_OBJECT_TAGS), "MalformedXML");
  }
});

Deno.test("tag set: the x-amz-tagging header and the stored form", () => {
  const tags = parseTaggingHeader("project=blue&Cost%20Centre=a%2Bb%3D2&empty=&bare");
  assertEquals(tags, [
    { key: "project", value: "blue" },
    { key: "Cost Centre", value: "a+b=2" },
    { key: "empty", value: "" },
    { key: "bare", value: "" },
  ]);
  assertEquals(parseTaggingHeader(""), []);
  refused(() => parseTaggingHeader("a=1&a=2"), "InvalidArgument", "duplicates");
  refused(
    () => parseTaggingHeader(many(11).map(([k, v]) => `${k}=${v}`).join("&")),
    "InvalidTag",
  );
  refused(() => parseTaggingHeader("aws%3Akey=v"), "InvalidTag", "aws:");
  const stored = encodeTags(tags);
  assertEquals(decodeTags(stored), tags);
  assertEquals(encodeTags([]), undefined);
  assertEquals(decodeTags(undefined), []);
  const awkward: Tag[] = [{ key: "a b+c", value: "x=y&z/@:" }];
  assertEquals(decodeTags(encodeTags(awkward)), awkward);
});

const alice: Principal = {
  kind: "user",
  accountId: "123456789012",
  arn: "arn:aws:iam::123456789012:user/alice",
  userId: "AIDAALICE",
  userName: "alice",
  accessKey: "AKIAALICE",
  temporary: false,
};

function subject(overrides: Partial<RequestSubject> = {}): RequestSubject {
  return {
    principal: alice,
    headers: new Headers({ authorization: "AWS4-HMAC-SHA256 Credential=AKIAALICE/x" }),
    query: new URLSearchParams(),
    remoteAddr: "127.0.0.1",
    secure: false,
    form: false,
    ...overrides,
  };
}

Deno.test("tag condition keys: from x-amz-tagging, or from the body's tags, case-folded keys", () => {
  const header = new RequestConditions(
    subject({ headers: new Headers({ "x-amz-tagging": "Project=Blue&team=core" }) }),
  );
  assertEquals(header.get("s3:requestobjecttag/project"), ["Blue"]);
  assertEquals(header.get("s3:requestobjecttag/team"), ["core"]);
  assertEquals(header.get("s3:requestobjecttag/other"), undefined);
  assertEquals(header.get("s3:requestobjecttagkeys"), ["Project", "team"]);
  assert(new Map(header).has("s3:requestobjecttagkeys"));

  const body = new RequestConditions(subject({
    headers: new Headers({ "x-amz-tagging": "ignored=1" }),
    requestTags: [{ key: "colour", value: "red" }],
  }));
  assertEquals(body.get("s3:requestobjecttag/colour"), ["red"]);
  assertEquals(body.get("s3:requestobjecttag/ignored"), undefined);

  const none = new RequestConditions(subject());
  assertEquals(none.get("s3:requestobjecttagkeys"), undefined);
  assertEquals(none.has("s3:requestobjecttag/project"), false);

  const existing = withExistingObjectTags(none, "Class=secret&owner=alice");
  assertEquals(existing.get("s3:existingobjecttag/class"), ["secret"]);
  assertEquals(existing.get("aws:username"), ["alice"]);
  assertEquals(
    withExistingObjectTags(none, undefined).get("s3:existingobjecttag/class"),
    undefined,
  );
  assert(readsExistingObjectTags(["aws:username", "s3:existingobjecttag/class"]));
  assert(!readsExistingObjectTags(["s3:requestobjecttag/class"]));
});

Deno.test("tag condition keys: a policy allowing by request tags and denying by stored ones", () => {
  const policy = parsePolicy(
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: "*",
          Action: "s3:PutObject",
          Resource: "arn:aws:s3:::b/*",
          Condition: {
            StringEquals: { "s3:RequestObjectTag/Project": "blue" },
            "ForAllValues:StringEquals": { "s3:RequestObjectTagKeys": ["Project", "team"] },
          },
        },
        {
          Effect: "Deny",
          Principal: "*",
          Action: "s3:GetObject",
          Resource: "arn:aws:s3:::b/*",
          Condition: { StringEquals: { "s3:ExistingObjectTag/class": "secret" } },
        },
      ],
    }),
    "resource",
  );
  const verdict = (action: string, conditions: ReadonlyMap<string, readonly string[]>) =>
    decide({ identity: [], resource: policy }, {
      principal: alice,
      action,
      resource: "arn:aws:s3:::b/k",
      conditions,
    });
  const tagged = (tagging: string) =>
    new RequestConditions(subject({ headers: new Headers({ "x-amz-tagging": tagging }) }));
  assertEquals(verdict("s3:PutObject", tagged("Project=blue")).verdict, "allow");
  assertEquals(verdict("s3:PutObject", tagged("Project=blue&team=x")).verdict, "allow");
  assertEquals(verdict("s3:PutObject", tagged("Project=red")).verdict, "none");
  assertEquals(verdict("s3:PutObject", tagged("Project=blue&other=x")).verdict, "none");
  assertEquals(verdict("s3:PutObject", new RequestConditions(subject())).verdict, "none");

  const plain = verdict("s3:GetObject", new RequestConditions(subject()));
  assert(readsExistingObjectTags(plain.keysRead), "the authorizer must see the key was read");
  const secret = withExistingObjectTags(new RequestConditions(subject()), "class=secret");
  assertEquals(verdict("s3:GetObject", secret).verdict, "deny");
  const open = withExistingObjectTags(new RequestConditions(subject()), "class=open");
  assertEquals(verdict("s3:GetObject", open).verdict, "none");
});
