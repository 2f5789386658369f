/** The decision cache: keyed by principal, action, resource and the values of exactly the keys
 *  the evaluation read; volatile evaluations never stored; an epoch change empties it; bounded. */

import { assertEquals } from "./helpers/assert.ts";
import { DecisionCache } from "../src/iam/policy/cache.ts";
import { decide, type PolicySources } from "../src/iam/policy/decide.ts";
import type { RequestFacts } from "../src/iam/policy/evaluate.ts";
import { alice, facts, policy } from "./iam_policy_util.ts";

/** What an authorizer does: look up, else decide and remember. Returns [allowed, from cache]. */
function authorize(
  cache: DecisionCache,
  epoch: number,
  sources: PolicySources,
  f: RequestFacts,
): [boolean, boolean] {
  const cached = cache.lookup(epoch, f.principal.accessKey, f);
  if (cached !== undefined) return [cached, true];
  const evaluation = decide(sources, f);
  const allowed = evaluation.verdict === "allow";
  cache.remember(epoch, f.principal.accessKey, f, evaluation, allowed);
  return [allowed, false];
}

const homeFolders: PolicySources = {
  identity: [policy("identity", {
    Effect: "Allow",
    Action: "s3:ListBucket",
    Resource: "arn:aws:s3:::b",
    Condition: { StringLike: { "s3:prefix": "home/${aws:username}/*" } },
  }, {
    Effect: "Allow",
    Action: "s3:GetObject",
    Resource: "arn:aws:s3:::b/*",
  })],
};

Deno.test("a repeated request is answered from the cache; keys nobody reads do not split entries", () => {
  const cache = new DecisionCache();
  const get = (agent: string) =>
    facts("s3:GetObject", "arn:aws:s3:::b/k", {
      "aws:UserAgent": agent,
      "s3:signatureversion": "AWS4-HMAC-SHA256",
    });
  assertEquals(authorize(cache, 1, homeFolders, get("curl")), [true, false]);
  assertEquals(authorize(cache, 1, homeFolders, get("curl")), [true, true]);
  // The GetObject statement has no condition: the user agent is not read, the entry is shared.
  assertEquals(authorize(cache, 1, homeFolders, get("aws-cli")), [true, true]);
  assertEquals([cache.hits, cache.misses], [2, 1]);
});

Deno.test("values of the keys read are part of the key: another prefix or user name is evaluated afresh", () => {
  const cache = new DecisionCache();
  const list = (prefix: string, username = "alice") =>
    facts("s3:ListBucket", "arn:aws:s3:::b", { "s3:prefix": prefix, "aws:username": username });
  assertEquals(authorize(cache, 1, homeFolders, list("home/alice/")), [true, false]);
  assertEquals(authorize(cache, 1, homeFolders, list("home/bob/")), [false, false]);
  assertEquals(authorize(cache, 1, homeFolders, list("home/alice/")), [true, true]);
  assertEquals(authorize(cache, 1, homeFolders, list("home/bob/")), [false, true]);
  // Same prefix, different user name (a variable read): not the cached answer.
  assertEquals(authorize(cache, 1, homeFolders, list("home/alice/", "bob")), [false, false]);
  // A key absent differs from the key present.
  const noPrefix = facts("s3:ListBucket", "arn:aws:s3:::b", { "aws:username": "alice" });
  assertEquals(authorize(cache, 1, homeFolders, noPrefix), [false, false]);
  assertEquals(authorize(cache, 1, homeFolders, noPrefix), [false, true]);
});

Deno.test("principal, action and resource are part of the key", () => {
  const cache = new DecisionCache();
  const sources: PolicySources = {
    identity: [
      policy("identity", { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/a" }),
    ],
  };
  assertEquals(authorize(cache, 1, sources, facts("s3:GetObject", "arn:aws:s3:::b/a")), [
    true,
    false,
  ]);
  assertEquals(authorize(cache, 1, sources, facts("s3:GetObject", "arn:aws:s3:::b/b")), [
    false,
    false,
  ]);
  assertEquals(authorize(cache, 1, sources, facts("s3:PutObject", "arn:aws:s3:::b/a")), [
    false,
    false,
  ]);
  const other = { ...alice, accessKey: "AKIAOTHER" };
  assertEquals(
    authorize(cache, 1, { identity: [] }, facts("s3:GetObject", "arn:aws:s3:::b/a", {}, other)),
    [false, false],
  );
  assertEquals(authorize(cache, 1, sources, facts("s3:GetObject", "arn:aws:s3:::b/a")), [
    true,
    true,
  ]);
});

Deno.test("volatile evaluations (time, source IP …) are never stored", () => {
  const cache = new DecisionCache();
  const sources: PolicySources = {
    identity: [policy("identity", {
      Effect: "Allow",
      Action: "*",
      Resource: "*",
      Condition: { DateLessThan: { "aws:CurrentTime": "2100-01-01T00:00:00Z" } },
    })],
  };
  const f = facts("s3:GetObject", "arn:aws:s3:::b/k", {
    "aws:CurrentTime": "2026-01-01T00:00:00Z",
  });
  assertEquals(authorize(cache, 1, sources, f), [true, false]);
  assertEquals(authorize(cache, 1, sources, f), [true, false]);
  assertEquals(cache.size, 0);
  assertEquals(cache.hits, 0);
});

Deno.test("an epoch change is a miss and empties the cache: a detached policy stops working on the next request", () => {
  const cache = new DecisionCache();
  const f = facts("s3:GetObject", "arn:aws:s3:::b/k");
  assertEquals(authorize(cache, 7, homeFolders, f), [true, false]);
  assertEquals(authorize(cache, 7, homeFolders, f), [true, true]);
  // The policy was detached (epoch bumped): the next request is decided afresh.
  assertEquals(authorize(cache, 8, { identity: [] }, f), [false, false]);
  assertEquals(cache.size, 1);
  assertEquals(authorize(cache, 8, { identity: [] }, f), [false, true]);
  // A stale epoch (a request that began before the change) is never served from the cache.
  assertEquals(cache.lookup(7, alice.accessKey, f), undefined);
});

Deno.test("bounded: beyond maxEntries the least recently used go first", () => {
  const cache = new DecisionCache(4);
  const sources: PolicySources = { identity: [] };
  const f = (key: string) => facts("s3:GetObject", `arn:aws:s3:::b/${key}`);
  for (const key of ["a", "b", "c"]) authorize(cache, 1, sources, f(key));
  assertEquals(authorize(cache, 1, sources, f("a"))[1], true); // a is used again, b is not
  authorize(cache, 1, sources, f("d"));
  assertEquals(cache.size <= 4, true, `${cache.size} outcomes`);
  assertEquals(authorize(cache, 1, sources, f("a"))[1], true);
  assertEquals(authorize(cache, 1, sources, f("c"))[1], true);
  assertEquals(authorize(cache, 1, sources, f("d"))[1], true);
  assertEquals(authorize(cache, 1, sources, f("b"))[1], false);
  // However many distinct requests, the bound holds.
  for (let i = 0; i < 1000; i++) authorize(cache, 1, sources, f(`k${i}`));
  assertEquals(cache.size <= 4, true, `${cache.size} outcomes`);
});

Deno.test("bounded per (principal, action, resource): a stream of distinct prefixes stops being stored", () => {
  const cache = new DecisionCache();
  for (let i = 0; i < 1000; i++) {
    authorize(
      cache,
      1,
      homeFolders,
      facts("s3:ListBucket", "arn:aws:s3:::b", { "s3:prefix": `p${i}/`, "aws:username": "alice" }),
    );
  }
  assertEquals(cache.size <= 64, true, `${cache.size} outcomes`);
});

Deno.test("values are told apart however they are split between keys, and absent from present", () => {
  const cache = new DecisionCache();
  const sources: PolicySources = {
    // Both keys are read whatever the values: the allow reads the prefix, the deny the delimiter.
    identity: [policy("identity", {
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: "*",
      Condition: { StringLike: { "s3:prefix": "a*" } },
    }, {
      Effect: "Deny",
      Action: "s3:ListBucket",
      Resource: "*",
      Condition: { StringEquals: { "s3:delimiter": "1:b" } },
    })],
  };
  const list = (conditions: Record<string, string | string[]>) =>
    authorize(cache, 1, sources, facts("s3:ListBucket", "arn:aws:s3:::b", conditions));
  // Joined without lengths, both would read "b:a:1" (keys in sorted order: delimiter, prefix).
  assertEquals(list({ "s3:prefix": "a:1", "s3:delimiter": "b" }), [true, false]);
  assertEquals(list({ "s3:prefix": "1", "s3:delimiter": "b:a" }), [false, false]);
  assertEquals(list({ "s3:prefix": "a:1", "s3:delimiter": "b" }), [true, true]);
  assertEquals(list({ "s3:prefix": "1", "s3:delimiter": "b:a" }), [false, true]);
  assertEquals(list({ "s3:prefix": "a", "s3:delimiter": "1:b" }), [false, false]);
  // One key: absent, empty, a value that looks like the absent marker, two values.
  const one: PolicySources = {
    identity: [policy("identity", {
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: "*",
      Condition: { Null: { "s3:prefix": "true" } },
    })],
  };
  const probe = (conditions: Record<string, string | string[]>) =>
    authorize(cache, 1, one, facts("s3:ListBucket", "arn:aws:s3:::c", conditions));
  assertEquals(probe({}), [true, false]);
  assertEquals(probe({ "s3:prefix": "\u0001" }), [false, false]);
  assertEquals(probe({ "s3:prefix": ["x", "y"] }), [false, false]);
  assertEquals(probe({}), [true, true]);
  assertEquals(probe({ "s3:prefix": "\u0001" }), [false, true]);
  assertEquals(probe({ "s3:prefix": ["x", "y"] }), [false, true]);
  assertEquals(probe({ "s3:prefix": "x" }), [false, false]);
  // An empty list is an entry of its own (Null counts it as absent: allowed too).
  assertEquals(probe({ "s3:prefix": [] }), [true, false]);
  assertEquals(probe({ "s3:prefix": [] }), [true, true]);
});
