/**
 * A parsed document turned, once, into matchers for evaluation: action and resource patterns
 * split into segments, exact names in sets, principals in sets, condition literals parsed. Kept
 * beside the document (a WeakMap keyed by it), so each request only matches.
 */

import type { Principal } from "../principal.ts";
import { compileCondition, type CompiledCondition, type ConditionInput } from "./conditions.ts";
import type { PolicyDocument, PrincipalBlock, Statement } from "./document.ts";
import { Pattern, type VariableSource } from "./wildcard.ts";

/** Names (actions, resources) a statement lists: exact ones in a set, patterns apart. */
export class NameMatcher {
  private readonly exact = new Set<string>();
  private readonly patterns: Pattern[] = [];
  private readonly all: boolean;

  constructor(names: readonly string[], ignoreCase: boolean, variables: boolean) {
    for (const name of names) {
      const pattern = new Pattern(name, { wildcards: true, variables, ignoreCase });
      if (pattern.literal !== undefined) this.exact.add(pattern.literal);
      else this.patterns.push(pattern);
    }
    this.all = this.patterns.some((p) => p.matchesAll);
  }

  /** `name` must already be lower case when the matcher ignores case. */
  matches(name: string, variables: VariableSource): boolean {
    if (this.all || this.exact.has(name)) return true;
    for (const pattern of this.patterns) if (pattern.matches(name, variables)) return true;
    return false;
  }
}

/** Principal / NotPrincipal: "*" (everyone, anonymous included), ARNs, account ids. */
export class PrincipalMatcher {
  private readonly everyone: boolean;
  private readonly arns = new Set<string>();
  /** Accounts named by id or `arn:aws:iam::<id>:root`: the account's root. */
  private readonly accounts = new Set<string>();
  /** Unique ids (AIDA…, AROA…) AWS puts where a principal's ARN was. */
  private readonly uniqueIds = new Set<string>();

  constructor(block: PrincipalBlock) {
    this.everyone = block === "*" || (block.AWS?.includes("*") ?? false);
    if (block === "*") return;
    for (const value of block.AWS ?? []) {
      const root = /^arn:aws:iam::(\d{12}):root$/.exec(value);
      if (/^\d{12}$/.test(value)) this.accounts.add(value);
      else if (root) this.accounts.add(root[1]);
      else if (value.startsWith("arn:")) this.arns.add(value);
      else this.uniqueIds.add(value);
    }
    // CanonicalUser, Service and Federated name nobody Flashstor authenticates: the canonical
    // id is the account's (its root, which is allowed before any policy is read).
  }

  /** Names this role session itself (its assumed-role ARN), not its role or everyone. */
  namesSession(principal: Principal): boolean {
    return principal.kind === "assumed-role" && this.arns.has(principal.arn);
  }

  matches(principal: Principal): boolean {
    if (this.everyone) return true;
    if (principal.kind === "anonymous") return false;
    if (principal.kind === "root") return this.accounts.has(principal.accountId);
    if (this.arns.has(principal.arn)) return true;
    if (principal.roleArn !== undefined && this.arns.has(principal.roleArn)) return true;
    const id = principal.userId.split(":")[0];
    return this.uniqueIds.has(id);
  }
}

export interface CompiledStatement {
  deny: boolean;
  /** Undefined: the statement has no Principal element (identity and session policies). */
  principal?: PrincipalMatcher;
  notPrincipal: boolean;
  actions: NameMatcher;
  notAction: boolean;
  /** Undefined: no Resource element (trust policies): every resource. */
  resources?: NameMatcher;
  notResource: boolean;
  conditions: CompiledCondition[];
}

const compiled = new WeakMap<PolicyDocument, CompiledStatement[]>();

/** The document's compiled statements (compiled at the first call). Throws ConditionError for
 *  an invalid condition (parsePolicy reports it as MalformedPolicy). */
export function compiledStatements(document: PolicyDocument): CompiledStatement[] {
  let statements = compiled.get(document);
  if (statements === undefined) {
    const variables = document.version === "2012-10-17";
    statements = document.statements.map((s) => compileStatement(s, variables));
    compiled.set(document, statements);
  }
  return statements;
}

function compileStatement(s: Statement, variables: boolean): CompiledStatement {
  const principal = s.principal ?? s.notPrincipal;
  const resources = s.resource ?? s.notResource;
  return {
    deny: s.effect === "Deny",
    principal: principal === undefined ? undefined : new PrincipalMatcher(principal),
    notPrincipal: s.notPrincipal !== undefined,
    // Action names are case-insensitive and take no variables.
    actions: new NameMatcher(s.action ?? s.notAction ?? [], true, false),
    notAction: s.notAction !== undefined,
    resources: resources === undefined ? undefined : new NameMatcher(resources, false, variables),
    notResource: s.notResource !== undefined,
    conditions: Object.entries(s.condition ?? {}).flatMap(([operator, entries]) =>
      compileCondition(operator, entries, variables)
    ),
  };
}

/** Does the statement apply to this request? (Its effect is the caller's business.) */
export function statementApplies(
  s: CompiledStatement,
  principal: Principal,
  action: string,
  resource: string,
  input: ConditionInput,
): boolean {
  // The action first: the cheapest test, and the one that rules out most statements.
  if (s.actions.matches(action, input.variable) === s.notAction) return false;
  if (s.principal !== undefined && s.principal.matches(principal) === s.notPrincipal) {
    return false;
  }
  if (
    s.resources !== undefined && s.resources.matches(resource, input.variable) === s.notResource
  ) {
    return false;
  }
  for (const condition of s.conditions) if (!condition.test(input)) return false;
  return true;
}
