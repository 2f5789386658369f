/**
 * The decision cache: a decision is remembered under (principal, action, resource) together
 * with the values of exactly the condition keys its evaluation read, so a request differing in
 * a key the policies look at (s3:prefix, aws:SecureTransport …) is evaluated afresh, and one
 * differing only in keys nobody reads shares the entry. Volatile evaluations (time, source IP …)
 * are never stored. Every entry belongs to an epoch (the IAM and bucket-metadata change counter):
 * a lookup or store under another epoch empties the cache, so a change takes effect on the very
 * next request. Bounded: the least recently used (principal, action, resource) goes first.
 */

import type { Evaluation, RequestFacts } from "./evaluate.ts";

/** The decisions for one (principal, action, resource): per set of keys read, by their values.
 *  Usually one key set; several when different values lead the evaluation down different
 *  statements. */
interface Entry {
  variants: { keys: readonly string[]; outcomes: Map<string, boolean> }[];
  size: number;
}

/** Outcomes kept per (principal, action, resource), so varying values (prefixes) stay bounded. */
const MAX_OUTCOMES_PER_ENTRY = 64;
const ABSENT = "\u0001";

export class DecisionCache {
  private entries = new Map<string, Entry>();
  private epoch = Number.NaN;
  private count = 0;
  private hitCount = 0;
  private missCount = 0;

  constructor(private readonly maxEntries = 100_000) {}

  /** The remembered outcome (true: allowed), or undefined when the request must be evaluated. */
  lookup(epoch: number, principalKey: string, facts: RequestFacts): boolean | undefined {
    if (epoch !== this.epoch) this.reset(epoch);
    const base = baseKey(principalKey, facts);
    const entry = this.entries.get(base);
    if (entry !== undefined) {
      for (const variant of entry.variants) {
        const outcome = variant.outcomes.get(valuesKey(variant.keys, facts));
        if (outcome !== undefined) {
          // Re-inserting keeps the Map's order least-recently-used first.
          this.entries.delete(base);
          this.entries.set(base, entry);
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
    const base = baseKey(principalKey, facts);
    let entry = this.entries.get(base);
    if (entry === undefined) {
      entry = { variants: [], size: 0 };
      this.entries.set(base, entry);
    }
    if (entry.size >= MAX_OUTCOMES_PER_ENTRY) {
      // Start the entry over rather than keep only the first values ever seen.
      this.count -= entry.size;
      entry.variants = [];
      entry.size = 0;
    }
    const keys = [...evaluation.keysRead].sort();
    const signature = keys.join("\n");
    let variant = entry.variants.find((v) => v.keys.join("\n") === signature);
    if (variant === undefined) {
      variant = { keys, outcomes: new Map() };
      entry.variants.push(variant);
    }
    const values = valuesKey(keys, facts);
    if (variant.outcomes.has(values)) return;
    variant.outcomes.set(values, allowed);
    entry.size++;
    this.count++;
    this.evict();
  }

  get hits(): number {
    return this.hitCount;
  }

  get misses(): number {
    return this.missCount;
  }

  /** Outcomes held. */
  get size(): number {
    return this.count;
  }

  private evict(): void {
    for (const [base, entry] of this.entries) {
      if (this.count <= this.maxEntries) return;
      this.entries.delete(base);
      this.count -= entry.size;
    }
  }

  private reset(epoch: number): void {
    this.epoch = epoch;
    this.entries = new Map();
    this.count = 0;
  }
}

function baseKey(principalKey: string, facts: RequestFacts): string {
  return `${principalKey}\n${facts.action.toLowerCase()}\n${facts.resource}`;
}

/** The request's values of `keys`, one string: absent and empty-list differ, values are
 *  separated by a character keys and values cannot hold unescaped. */
function valuesKey(keys: readonly string[], facts: RequestFacts): string {
  let out = "";
  for (const key of keys) {
    const values = facts.conditions.get(key);
    out += values === undefined ? ABSENT : JSON.stringify(values);
    out += "\n";
  }
  return out;
}
