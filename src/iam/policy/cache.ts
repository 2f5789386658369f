/**
 * The decision cache: a decision is remembered under (principal, action, resource) together
 * with the values of exactly the condition keys its evaluation read, so a request differing in
 * a key the policies look at (s3:prefix, aws:SecureTransport …) is evaluated afresh, and one
 * differing only in keys nobody reads shares the entry. Volatile evaluations (time, source IP …)
 * are never stored. Every entry belongs to an epoch (the IAM and bucket-metadata change counter):
 * a lookup or store under another epoch empties the cache, so a change takes effect on the very
 * next request.
 *
 * Bounded, least-recently-used-ish, without bookkeeping on a hit: entries live in two
 * generations; new ones go to the current one, which becomes the previous one when it holds
 * half the bound (the previous one is then dropped); an entry found in the previous generation
 * moves to the current one. Lookups walk nested maps and compare the request's values with the
 * remembered ones, so a hit of a decision that read one key (the common case) builds no string.
 */

import type { Evaluation, RequestFacts } from "./evaluate.ts";

/** One remembered outcome: the keys its evaluation read, and their values as one string. */
interface Outcome {
  /** Shared by the outcomes that read the same keys (interned). */
  keys: readonly string[];
  values: string;
  allowed: boolean;
}

/** principal key → action → resource → outcomes (usually one; several when values differ). */
type Generation = Map<string, Map<string, Map<string, Outcome[]>>>;

/** Outcomes kept per (principal, action, resource), so varying values (prefixes) stay bounded. */
const MAX_OUTCOMES_PER_ENTRY = 64;
/** Distinct key sets interned before the table starts over (it only saves memory). */
const MAX_KEY_SETS = 10_000;

export class DecisionCache {
  private current: Generation = new Map();
  private previous: Generation = new Map();
  private currentCount = 0;
  private previousCount = 0;
  private keySets = new Map<string, readonly string[]>();
  private epoch = Number.NaN;
  private hitCount = 0;
  private missCount = 0;
  private readonly generationSize: number;

  /**
   * `maxEntries`: outcomes held at most (over both generations). An outcome costs ~200 bytes
   * of heap with its resource ARN (measured: 50,000 of them), so the default bounds the cache
   * to ~10 MiB; a miss costs one evaluation, a microsecond or two.
   */
  constructor(maxEntries = 50_000) {
    this.generationSize = Math.max(1, Math.floor(maxEntries / 2));
  }

  /**
   * The remembered outcome (true: allowed), or undefined when the request must be evaluated.
   * `principalKey` must identify everything about the principal the policies may look at
   * (its identity, its session policies): the access key does. The action is compared as
   * spelled (the router spells each one way).
   */
  lookup(epoch: number, principalKey: string, facts: RequestFacts): boolean | undefined {
    if (epoch !== this.epoch) this.reset(epoch);
    const outcomes = this.entry(principalKey, facts);
    if (outcomes !== undefined) {
      let keys: readonly string[] | undefined;
      let values = "";
      for (const outcome of outcomes) {
        if (outcome.keys !== keys) {
          keys = outcome.keys;
          values = valuesOf(keys, facts);
        }
        if (outcome.values === values) {
          this.hitCount++;
          return outcome.allowed;
        }
      }
    }
    this.missCount++;
    return undefined;
  }

  remember(
    epoch: number,
    principalKey: string,
    facts: RequestFacts,
    evaluation: Evaluation,
    allowed: boolean,
  ): void {
    if (evaluation.volatile) return;
    if (epoch !== this.epoch) this.reset(epoch);
    const outcomes = this.entry(principalKey, facts, 1);
    if (outcomes !== undefined && outcomes.length >= MAX_OUTCOMES_PER_ENTRY) {
      // Start the entry over rather than keep only the first values ever seen.
      this.currentCount -= outcomes.length;
      outcomes.length = 0;
    }
    const read = evaluation.keysRead;
    const keys =
      outcomes?.find((o) => o.keys.length === read.size && o.keys.every((k) => read.has(k)))
        ?.keys ?? this.intern(read);
    const outcome = { keys, values: valuesOf(keys, facts), allowed };
    if (outcomes === undefined) {
      if (this.currentCount + 1 > this.generationSize) this.rotate();
      this.place(principalKey, facts, [outcome]);
    } else if (outcomes.some((o) => o.keys === keys && o.values === outcome.values)) {
      return;
    } else {
      outcomes.push(outcome);
    }
    this.currentCount++;
  }

  get hits(): number {
    return this.hitCount;
  }

  get misses(): number {
    return this.missCount;
  }

  /** Outcomes held (an entry moved between generations counts in both until the older goes). */
  get size(): number {
    return this.currentCount + this.previousCount;
  }

  /**
   * The entry, in the current generation (moved there from the previous one, with room for
   * `reserve` more outcomes), or undefined.
   */
  private entry(principalKey: string, facts: RequestFacts, reserve = 0): Outcome[] | undefined {
    const { action, resource } = facts;
    let outcomes = this.current.get(principalKey)?.get(action)?.get(resource);
    if (outcomes !== undefined) {
      if (this.currentCount + reserve <= this.generationSize) return outcomes;
      this.rotate(); // the entry is in the previous generation now, and moves back below
    }
    outcomes ??= this.previous.get(principalKey)?.get(action)?.get(resource);
    if (outcomes === undefined) return undefined;
    if (this.currentCount + outcomes.length + reserve > this.generationSize) this.rotate();
    this.place(principalKey, facts, outcomes);
    this.currentCount += outcomes.length;
    return outcomes;
  }

  private place(principalKey: string, facts: RequestFacts, outcomes: Outcome[]): void {
    let byAction = this.current.get(principalKey);
    if (byAction === undefined) this.current.set(principalKey, byAction = new Map());
    let byResource = byAction.get(facts.action);
    if (byResource === undefined) byAction.set(facts.action, byResource = new Map());
    byResource.set(facts.resource, outcomes);
  }

  /** One shared array per distinct set of keys (sorted, so the order of reading is moot). */
  private intern(read: ReadonlySet<string>): readonly string[] {
    const keys = [...read].sort();
    const signature = JSON.stringify(keys);
    const known = this.keySets.get(signature);
    if (known !== undefined) return known;
    if (this.keySets.size >= MAX_KEY_SETS) this.keySets = new Map();
    this.keySets.set(signature, keys);
    return keys;
  }

  private rotate(): void {
    this.previous = this.current;
    this.previousCount = this.currentCount;
    this.current = new Map();
    this.currentCount = 0;
  }

  private reset(epoch: number): void {
    this.epoch = epoch;
    this.current = new Map();
    this.previous = new Map();
    this.currentCount = 0;
    this.previousCount = 0;
    this.keySets = new Map();
  }
}

/**
 * The request's values of `keys` as one string, unambiguously: with one key of one value (the
 * common case) the value itself, else each key's form length-prefixed. A key's form: its value
 * when single, else one no single value takes (an absent key differs from an empty list).
 */
function valuesOf(keys: readonly string[], facts: RequestFacts): string {
  if (keys.length === 1) return valueOf(facts, keys[0]);
  let out = "";
  for (const key of keys) {
    const value = valueOf(facts, key);
    out += `${value.length}:${value}`;
  }
  return out;
}

function valueOf(facts: RequestFacts, key: string): string {
  const values = facts.conditions.get(key);
  if (values === undefined) return "\u0001";
  if (values.length === 1 && values[0].charCodeAt(0) > 2) return values[0];
  return `\u0002${JSON.stringify(values)}`;
}
