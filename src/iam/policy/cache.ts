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
 * moves to the current one. Lookups walk nested maps, so a hit builds no key string.
 */

import type { Evaluation, RequestFacts } from "./evaluate.ts";

/** The decisions for one (principal, action, resource): per set of keys read, by their values.
 *  Usually one key set; several when different values lead the evaluation down different
 *  statements. */
interface Entry {
  variants: Variant[];
  size: number;
}

/** Outcomes by the values of `keys`, one map level per key (no key string is built). */
interface Variant {
  keys: readonly string[];
  outcomes: Trie | boolean | undefined;
}
type Trie = Map<string, Trie | boolean>;

/** principal key → action → resource → entry. */
type Generation = Map<string, Map<string, Map<string, Entry>>>;

/** Outcomes kept per (principal, action, resource), so varying values (prefixes) stay bounded. */
const MAX_OUTCOMES_PER_ENTRY = 64;

export class DecisionCache {
  private current: Generation = new Map();
  private previous: Generation = new Map();
  private currentCount = 0;
  private previousCount = 0;
  private epoch = Number.NaN;
  private hitCount = 0;
  private missCount = 0;
  private readonly generationSize: number;

  /** `maxEntries`: outcomes held at most (over both generations). */
  constructor(maxEntries = 100_000) {
    this.generationSize = Math.max(1, Math.floor(maxEntries / 2));
  }

  /**
   * The remembered outcome (true: allowed), or undefined when the request must be evaluated.
   * `principalKey` must identify everything about the principal the policies may look at
   * (its identity, its session policies): the access key does.
   */
  lookup(epoch: number, principalKey: string, facts: RequestFacts): boolean | undefined {
    if (epoch !== this.epoch) this.reset(epoch);
    const entry = this.entry(principalKey, facts);
    if (entry !== undefined) {
      for (const variant of entry.variants) {
        const outcome = find(variant, facts);
        if (outcome !== undefined) {
          this.hitCount++;
          return outcome;
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
    const entry = this.entry(principalKey, facts, 1);
    if (entry === undefined) return;
    if (entry.size >= MAX_OUTCOMES_PER_ENTRY) {
      // Start the entry over rather than keep only the first values ever seen.
      this.currentCount -= entry.size;
      entry.variants = [];
      entry.size = 0;
    }
    const read = evaluation.keysRead;
    let variant = entry.variants.find((v) =>
      v.keys.length === read.size && v.keys.every((k) => read.has(k))
    );
    if (variant === undefined) {
      variant = { keys: [...read], outcomes: undefined };
      entry.variants.push(variant);
    }
    if (store(variant, facts, allowed)) {
      entry.size++;
      this.currentCount++;
    }
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
   * The entry, in the current generation (moved there from the previous one). With `reserve`
   * (room for that many more outcomes), created when missing; without, undefined when missing.
   */
  private entry(principalKey: string, facts: RequestFacts, reserve?: number): Entry | undefined {
    const { action, resource } = facts;
    const extra = reserve ?? 0;
    let entry = this.current.get(principalKey)?.get(action)?.get(resource);
    if (entry !== undefined) {
      if (this.currentCount + extra <= this.generationSize) return entry;
      this.rotate(); // the entry is in the previous generation now, and moves back below
    }
    entry ??= this.previous.get(principalKey)?.get(action)?.get(resource);
    if (entry === undefined) {
      if (reserve === undefined) return undefined;
      entry = { variants: [], size: 0 };
    }
    if (this.currentCount + entry.size + extra > this.generationSize) this.rotate();
    let byAction = this.current.get(principalKey);
    if (byAction === undefined) this.current.set(principalKey, byAction = new Map());
    let byResource = byAction.get(action);
    if (byResource === undefined) byAction.set(action, byResource = new Map());
    byResource.set(resource, entry);
    this.currentCount += entry.size;
    return entry;
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
  }
}

/** A key's values as one map key: the value itself when single (the common case), else a
 *  form no single value takes (an absent key differs from an empty list). */
function valueKey(facts: RequestFacts, key: string): string {
  const values = facts.conditions.get(key);
  if (values === undefined) return "\u0001";
  if (values.length === 1 && values[0].charCodeAt(0) > 2) return values[0];
  return `\u0002${JSON.stringify(values)}`;
}

function find(variant: Variant, facts: RequestFacts): boolean | undefined {
  let node = variant.outcomes;
  for (const key of variant.keys) {
    if (typeof node !== "object") return undefined;
    node = node.get(valueKey(facts, key));
  }
  return typeof node === "boolean" ? node : undefined;
}

/** Stores the outcome; false when the variant already held one for these values. */
function store(variant: Variant, facts: RequestFacts, allowed: boolean): boolean {
  if (variant.keys.length === 0) {
    if (variant.outcomes !== undefined) return false;
    variant.outcomes = allowed;
    return true;
  }
  if (typeof variant.outcomes !== "object") variant.outcomes = new Map();
  let node: Trie = variant.outcomes;
  const last = variant.keys.length - 1;
  for (let i = 0; i < last; i++) {
    const value = valueKey(facts, variant.keys[i]);
    let next = node.get(value);
    if (typeof next !== "object") node.set(value, next = new Map());
    node = next;
  }
  const value = valueKey(facts, variant.keys[last]);
  if (node.has(value)) return false;
  node.set(value, allowed);
  return true;
}
