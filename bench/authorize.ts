/**
 * Authorization cost per request, in process: 1,000 IAM users, 200 managed policies with
 * conditions (each user has two attached and one through its group), 10 of 50 buckets with a
 * bucket policy. The workload is keep-alive GETs like bench/load.ts's GET phase: each user, on
 * its own connection (one set of condition values: source IP, user agent …), cycles GETs over
 * 16 keys of its bucket, 64 GETs each, with a LIST of its home folder every 16 requests; users
 * take turns request by request. Figures:
 * - uncached: decide() for every request (what each request would cost without the cache);
 * - cached hit: a lookup that finds the decision;
 * - workload: lookup, and on a miss decide() + remember(), from a cold cache — and its hit rate.
 * Run alone: `.deno/bin/deno run bench/authorize.ts` (prints the table).
 */

import { DecisionCache } from "../src/iam/policy/cache.ts";
import { decide, type PolicySources } from "../src/iam/policy/decide.ts";
import type { PolicyDocument } from "../src/iam/policy/document.ts";
import type { RequestFacts } from "../src/iam/policy/evaluate.ts";
import { parsePolicy } from "../src/iam/policy/parse.ts";
import type { Principal } from "../src/iam/principal.ts";

export interface AuthorizationResult {
  users: number;
  policies: number;
  requests: number;
  uncachedUs: number;
  cachedHitUs: number;
  workloadUs: number;
  hitRate: number;
  /** Requests whose decision read a per-request key (aws:SourceIp …) and was not cached. */
  volatileShare: number;
}

const ACCOUNT = "123456789012";
const USERS = 1000;
const POLICIES = 200;
const GROUPS = 20;
const BUCKETS = 50;
const POLICED_BUCKETS = 10;
const KEYS_PER_USER = 16;
const GETS_PER_USER = 64;
const LIST_EVERY = 16;

const bucketName = (i: number) => `bucket-${String(i % BUCKETS).padStart(2, "0")}`;

/** Managed policy i: reads of two buckets (a condition on each statement), home-folder lists
 *  and writes by ${aws:username}; every 20th restricts its reads to a source network (so its
 *  decisions are volatile), every 10th denies deletes after a date. */
function managedPolicy(i: number): PolicyDocument {
  const own = bucketName(i);
  const statements: Record<string, unknown>[] = [
    {
      Sid: "Read",
      Effect: "Allow",
      Action: ["s3:GetObject", "s3:GetObjectVersion"],
      Resource: [`arn:aws:s3:::${own}/*`, `arn:aws:s3:::${bucketName(i + 7)}/shared/*`],
      Condition: i % 20 === 0
        ? { IpAddress: { "aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"] } }
        : i % 2 === 0
        ? { Bool: { "aws:SecureTransport": "false" } }
        : { StringEqualsIfExists: { "s3:signatureversion": "AWS4-HMAC-SHA256" } },
    },
    {
      Sid: "ListHome",
      Effect: "Allow",
      Action: "s3:ListBucket",
      Resource: `arn:aws:s3:::${own}`,
      Condition: { StringLike: { "s3:prefix": ["home/${aws:username}/*", "shared/*"] } },
    },
    {
      Sid: "WriteHome",
      Effect: "Allow",
      Action: ["s3:PutObject", "s3:DeleteObject"],
      Resource: `arn:aws:s3:::${own}/home/\${aws:username}/*`,
      Condition: { StringNotEqualsIfExists: { "s3:x-amz-acl": "public-read-write" } },
    },
  ];
  if (i % 10 === 0) {
    statements.push({
      Effect: "Deny",
      Action: "s3:DeleteObject",
      Resource: "*",
      Condition: { DateGreaterThan: { "aws:CurrentTime": "2030-01-01T00:00:00Z" } },
    });
  }
  return parsePolicy(JSON.stringify({ Version: "2012-10-17", Statement: statements }), "identity");
}

function bucketPolicy(b: number): PolicyDocument {
  const readers = Array.from(
    { length: 5 },
    (_, k) => `arn:aws:iam::${ACCOUNT}:user/user-${(b * 37 + k * 101) % USERS}`,
  );
  return parsePolicy(
    JSON.stringify({
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Principal: { AWS: readers },
          Action: "s3:GetObject",
          Resource: `arn:aws:s3:::${bucketName(b)}/*`,
        },
        {
          Effect: "Deny",
          Principal: "*",
          Action: "s3:PutObject",
          Resource: `arn:aws:s3:::${bucketName(b)}/*`,
          Condition: { Null: { "s3:x-amz-server-side-encryption": "true" } },
        },
      ],
    }),
    "resource",
  );
}

export interface Request {
  facts: RequestFacts;
  sources: PolicySources;
}

/** The workload, in the order the requests arrive. */
export function workload(): Request[] {
  const policies = Array.from({ length: POLICIES }, (_, i) => managedPolicy(i));
  const groupPolicies = Array.from({ length: GROUPS }, (_, g) => policies[(g * 10 + 3) % POLICIES]);
  const bucketPolicies = new Map(
    Array.from({ length: POLICED_BUCKETS }, (_, b) => [bucketName(b), bucketPolicy(b)]),
  );
  const connections = Array.from({ length: USERS }, (_, u) => {
    const name = `user-${u}`;
    const principal: Principal = {
      kind: "user",
      accountId: ACCOUNT,
      arn: `arn:aws:iam::${ACCOUNT}:user/${name}`,
      userId: `AIDA${String(u).padStart(17, "0")}`,
      userName: name,
      accessKey: `AKIA${String(u).padStart(16, "0")}`,
      temporary: false,
    };
    const first = (u * 7) % POLICIES;
    const identity = [
      policies[first],
      policies[(u * 13 + 1) % POLICIES],
      groupPolicies[u % GROUPS],
    ];
    const bucket = bucketName(first);
    const connection = new Map<string, string[]>([
      ["aws:username", [name]],
      ["aws:userid", [principal.userId]],
      ["aws:principalarn", [principal.arn]],
      ["aws:principaltype", ["User"]],
      ["aws:securetransport", ["false"]],
      ["aws:sourceip", [`10.0.${u >> 8}.${u & 255}`]],
      ["aws:useragent", ["aws-sdk-js/3 keep-alive"]],
      ["s3:signatureversion", ["AWS4-HMAC-SHA256"]],
      ["s3:authtype", ["REST-HEADER"]],
    ]);
    const sources: PolicySources = { identity, resource: bucketPolicies.get(bucket) };
    return { principal, bucket, connection, sources };
  });
  const requests: Request[] = [];
  const start = Date.UTC(2026, 0, 1);
  for (let n = 0; n < GETS_PER_USER; n++) {
    for (const c of connections) {
      // Per-request values of the connection's map: the time moves on every request.
      const time = new Date(start + requests.length).toISOString();
      const conditions = new Map(c.connection);
      conditions.set("aws:currenttime", [time]);
      conditions.set("aws:epochtime", [String(Math.floor((start + requests.length) / 1000))]);
      const list = n % LIST_EVERY === LIST_EVERY - 1;
      if (list) conditions.set("s3:prefix", [`home/${c.principal.userName}/`]);
      const facts: RequestFacts = list
        ? {
          principal: c.principal,
          action: "s3:ListBucket",
          resource: `arn:aws:s3:::${c.bucket}`,
          conditions,
        }
        : {
          principal: c.principal,
          action: "s3:GetObject",
          resource: `arn:aws:s3:::${c.bucket}/photos/${n % KEYS_PER_USER}.jpg`,
          conditions,
        };
      requests.push({ facts, sources: c.sources });
    }
  }
  return requests;
}

/** Best of `rounds` timings of `run` over all requests, in µs per request. */
function perRequest(requests: Request[], rounds: number, run: (r: Request) => void): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const t0 = performance.now();
    for (const r of requests) run(r);
    best = Math.min(best, (performance.now() - t0) * 1000 / requests.length);
  }
  return best;
}

export function measureAuthorization(rounds = 3): AuthorizationResult {
  const requests = workload();
  let allowed = 0;
  const uncachedUs = perRequest(requests, rounds, (r) => {
    if (decide(r.sources, r.facts).verdict === "allow") allowed++;
  });
  if (allowed === 0) throw new Error("the workload's requests were all refused: a broken bench");

  let workloadUs = Infinity;
  let hitRate = 0;
  let volatile = 0;
  let cache = new DecisionCache();
  for (let round = 0; round < rounds; round++) {
    cache = new DecisionCache();
    let volatileNow = 0;
    const us = perRequest(requests, 1, (r) => {
      if (cache.lookup(1, r.facts.principal.accessKey, r.facts) !== undefined) return;
      const evaluation = decide(r.sources, r.facts);
      if (evaluation.volatile) volatileNow++;
      cache.remember(
        1,
        r.facts.principal.accessKey,
        r.facts,
        evaluation,
        evaluation.verdict === "allow",
      );
    });
    if (us < workloadUs) {
      workloadUs = us;
      hitRate = cache.hits / (cache.hits + cache.misses);
      volatile = volatileNow;
    }
  }
  // The warm cache of the last round: time lookups that hit.
  const hitting = requests.filter((r) =>
    cache.lookup(1, r.facts.principal.accessKey, r.facts) !== undefined
  );
  const cachedHitUs = perRequest(hitting, rounds, (r) => {
    cache.lookup(1, r.facts.principal.accessKey, r.facts);
  });
  return {
    users: USERS,
    policies: POLICIES,
    requests: requests.length,
    uncachedUs,
    cachedHitUs,
    workloadUs,
    hitRate,
    volatileShare: volatile / requests.length,
  };
}

const percent = (share: number) => `${(100 * share).toFixed(1)} %`;

/** The report's section (bench/report.ts). */
export function renderAuthorization(r: AuthorizationResult): string[] {
  return [
    "",
    `## Authorization cost per request (in process: ${r.users} users, ${r.policies} policies with conditions)`,
    "",
    "| case | µs per request |",
    "|---|---|",
    `| uncached (decide every request) | ${r.uncachedUs.toFixed(2)} |`,
    `| cached (a lookup that hits) | ${r.cachedHitUs.toFixed(2)} (${
      (r.uncachedUs / r.cachedHitUs).toFixed(1)
    }× cheaper) |`,
    `| keep-alive GET workload with the cache, from cold (${r.requests} requests) | ${
      r.workloadUs.toFixed(2)
    } |`,
    "",
    `Cache hit rate on that workload: ${percent(r.hitRate)}; ${percent(r.volatileShare)} of ` +
    "requests read aws:SourceIp (volatile, never cached). Workload: each user on its own " +
    "connection cycles 64 GETs over 16 keys of its bucket, a LIST of its home folder every 16th " +
    "request. Alone: `.deno/bin/deno run bench/authorize.ts`.",
  ];
}

if (import.meta.main) {
  console.log(renderAuthorization(measureAuthorization()).join("\n"));
}
