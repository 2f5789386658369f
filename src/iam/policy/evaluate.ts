/**
 * Evaluation of a set of policies against one request: explicit deny in any → deny; else any
 * allow → allow; else none. Records which condition keys and policy variables were read, and
 * whether any of them change from request to request (then the decision must not be cached).
 */

import type { Principal } from "../principal.ts";
import { compiledStatements, statementApplies } from "./compile.ts";
import type { ConditionInput } from "./conditions.ts";
import type { PolicyDocument } from "./document.ts";

export interface RequestFacts {
  principal: Principal;
  /** "s3:GetObject", "iam:CreateUser", "sts:AssumeRole" (any case). */
  action: string;
  /** An ARN: "arn:aws:s3:::bucket/key", "arn:aws:iam::123456789012:user/alice". */
  resource: string;
  /** Condition values of this request by key, keys in lower case ("aws:sourceip", "s3:prefix",
   *  "s3:existingobjecttag/colour"); a key absent from the map is absent from the request. */
  conditions: ReadonlyMap<string, readonly string[]>;
}

export type Verdict = "allow" | "deny" | "none";

export interface Evaluation {
  verdict: Verdict;
  /** The statements looked at read per-request values (aws:CurrentTime, aws:EpochTime,
   *  aws:SourceIp, aws:UserAgent, aws:Referer …): the decision must not be cached. */
  volatile: boolean;
  /** Lower-case condition keys (and policy variables) the statements looked at read. */
  keysRead: ReadonlySet<string>;
}

/** Keys whose values differ from one request to the next: a decision reading them is not
 *  worth caching (time) or would fill the cache with one-off entries. */
export const VOLATILE_KEYS: ReadonlySet<string> = new Set([
  "aws:currenttime",
  "aws:epochtime",
  "aws:sourceip",
  "aws:useragent",
  "aws:referer",
]);

/** The reads of one evaluation, shared by the policies decide() combines. */
export class FactReader implements ConditionInput {
  readonly keysRead = new Set<string>();
  volatile = false;
  readonly action: string;

  constructor(readonly facts: RequestFacts) {
    this.action = facts.action.toLowerCase();
  }

  values(key: string): readonly string[] | undefined {
    if (!this.keysRead.has(key)) {
      this.keysRead.add(key);
      if (VOLATILE_KEYS.has(key)) this.volatile = true;
    }
    return this.facts.conditions.get(key);
  }

  /** A policy variable's value: the key's single value (none, or several, is no value). */
  variable = (key: string): string | undefined => {
    const values = this.values(key);
    return values?.length === 1 ? values[0] : undefined;
  };
}

/**
 * Explicit deny in any → deny; else any allow → allow; else none. Principal/NotPrincipal are
 * matched for resource and trust policies: "*" (anonymous included), principal ARNs (a role's
 * ARN matches its sessions), unique ids, and the account (id or `:root` ARN), which — as in
 * AWS — names the account root only: trusting the account delegates to the account's own
 * identity policies (evaluate those separately), it does not name every user.
 *
 * Once an allow is found only Deny statements are still looked at, and a deny ends the walk:
 * the keys read are then exactly those the verdict depends on, which keeps cache keys small.
 */
export function evaluatePolicies(
  policies: readonly PolicyDocument[],
  facts: RequestFacts,
): Evaluation {
  const reader = new FactReader(facts);
  return {
    verdict: verdictOf(policies, reader),
    volatile: reader.volatile,
    keysRead: reader.keysRead,
  };
}

/**
 * The verdict of `policies`, reading through `reader` (which accumulates the reads). With
 * `allowedAlready` (another source allowed) only a deny can change the outcome, so only Deny
 * statements are looked at and "allow" is returned when none applies.
 */
export function verdictOf(
  policies: readonly PolicyDocument[],
  reader: FactReader,
  allowedAlready = false,
): Verdict {
  const { principal, resource } = reader.facts;
  let allowed = allowedAlready;
  for (const policy of policies) {
    for (const s of compiledStatements(policy)) {
      if (allowed && !s.deny) continue;
      if (!statementApplies(s, principal, reader.action, resource, reader)) continue;
      if (s.deny) return "deny";
      allowed = true;
    }
  }
  return allowed ? "allow" : "none";
}

/**
 * Does a resource policy allow the request by naming the role session itself? AWS adds such a
 * grant after the session was created, so the session's policies do not narrow it (a grant to
 * the role, or to everyone, they do).
 */
export function grantsSessionItself(policy: PolicyDocument, reader: FactReader): boolean {
  const { principal, resource } = reader.facts;
  return compiledStatements(policy).some((s) =>
    !s.deny && !s.notPrincipal && s.principal?.namesSession(principal) === true &&
    statementApplies(s, principal, reader.action, resource, reader)
  );
}
