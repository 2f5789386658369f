/**
 * Condition operators: each operator of a Condition block compiled once per document into a
 * test over the request's values. The semantics are AWS's:
 * - a key absent from the request fails a positive operator and passes a negated one
 *   (StringNotEquals, NotIpAddress …); with `…IfExists` it passes either way;
 * - without a set prefix, a request value matching any policy value is a match (negated: no
 *   request value matches any policy value);
 * - `ForAnyValue:` — some request value matches (absent or empty: false);
 *   `ForAllValues:` — every request value matches (absent or empty: true);
 * - `Null` — "true": the key is absent; "false": it is present.
 */

import { type Cidr, cidrContains, parseCidr, parseIp } from "./ip.ts";
import { Pattern, type VariableSource } from "./wildcard.ts";

/** What a compiled condition reads from the request. */
export interface ConditionInput {
  /** The request's values of a (lower-case) key, undefined when absent; the read is recorded. */
  values(key: string): readonly string[] | undefined;
  variable: VariableSource;
}

export interface CompiledCondition {
  /** Lower-case condition key. */
  key: string;
  test(input: ConditionInput): boolean;
}

/** A malformed condition: the message is the reason shown to clients. */
export class ConditionError extends Error {}

type SetPrefix = "none" | "any" | "all";

/** One operator family: how a policy value is read, and whether a request value matches it. */
interface Family<L> {
  negated: boolean;
  literal(value: string, variables: boolean): L | undefined;
  match(request: string, literal: L, variables: VariableSource): boolean;
}

const stringFamily = (
  wildcards: boolean,
  ignoreCase: boolean,
  negated: boolean,
): Family<Pattern> => ({
  negated,
  literal: (value, variables) => new Pattern(value, { wildcards, variables, ignoreCase }),
  match: (request, pattern, variables) =>
    pattern.matches(ignoreCase ? request.toLowerCase() : request, variables),
});

const NUMBER = /^-?\d+(\.\d+)?$/;
const numericFamily = (compare: (a: number, b: number) => boolean): Family<number> => ({
  negated: false,
  literal: (value) => NUMBER.test(value) ? Number(value) : undefined,
  match: (request, literal) => NUMBER.test(request) && compare(Number(request), literal),
});

const dateFamily = (compare: (a: number, b: number) => boolean): Family<number> => ({
  negated: false,
  literal: (value) => {
    const ms = parseDate(value);
    return Number.isNaN(ms) ? undefined : ms;
  },
  match: (request, literal) => {
    const ms = parseDate(request);
    return !Number.isNaN(ms) && compare(ms, literal);
  },
});

const ipFamily = (negated: boolean): Family<Cidr> => ({
  negated,
  literal: parseCidr,
  match: (request, cidr) => {
    const ip = parseIp(request);
    return ip !== undefined && cidrContains(cidr, ip);
  },
});

const negate = <L>(family: Family<L>): Family<L> => ({ ...family, negated: true });

const eq = (a: number, b: number) => a === b;
const lt = (a: number, b: number) => a < b;
const le = (a: number, b: number) => a <= b;
const gt = (a: number, b: number) => a > b;
const ge = (a: number, b: number) => a >= b;

/**
 * ArnEquals / ArnLike (AWS: the same operator): case-sensitive, each of the six colon-separated
 * components matched on its own, so a wildcard never spans a colon (the sixth, the resource,
 * takes the rest, colons included). A policy value that is not an ARN ("*") is one pattern.
 */
const arnFamily: Family<Pattern[]> = {
  negated: false,
  literal: (value, variables) => {
    // An "arn:" value with fewer than six components names no ARN: it matches nothing.
    const parts = arnComponents(value) ?? (value.startsWith("arn:") ? [] : [value]);
    return parts.map((part) =>
      new Pattern(part, { wildcards: true, variables, ignoreCase: false })
    );
  },
  match: (request, patterns, variables) => {
    const parts = patterns.length === 1 ? [request] : arnComponents(request);
    return parts !== undefined && patterns.length > 0 &&
      patterns.every((p, i) => p.matches(parts[i], variables));
  },
};

const ARN_COMPONENTS = 6;

/** An ARN's six components, or undefined when the text has fewer. */
function arnComponents(text: string): string[] | undefined {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < ARN_COMPONENTS - 1; i++) {
    const colon = text.indexOf(":", from);
    if (colon < 0) return undefined;
    parts.push(text.slice(from, colon));
    from = colon + 1;
  }
  parts.push(text.slice(from));
  return parts;
}

// Method syntax in Family makes Family<number> usable as Family<unknown> here.
const FAMILIES: Record<string, Family<unknown>> = {
  StringEquals: stringFamily(false, false, false),
  StringNotEquals: stringFamily(false, false, true),
  StringEqualsIgnoreCase: stringFamily(false, true, false),
  StringNotEqualsIgnoreCase: stringFamily(false, true, true),
  StringLike: stringFamily(true, false, false),
  StringNotLike: stringFamily(true, false, true),
  NumericEquals: numericFamily(eq),
  NumericNotEquals: negate(numericFamily(eq)),
  NumericLessThan: numericFamily(lt),
  NumericLessThanEquals: numericFamily(le),
  NumericGreaterThan: numericFamily(gt),
  NumericGreaterThanEquals: numericFamily(ge),
  DateEquals: dateFamily(eq),
  DateNotEquals: negate(dateFamily(eq)),
  DateLessThan: dateFamily(lt),
  DateLessThanEquals: dateFamily(le),
  DateGreaterThan: dateFamily(gt),
  DateGreaterThanEquals: dateFamily(ge),
  Bool: {
    negated: false,
    literal: (value: string) => /^(true|false)$/i.test(value) ? value.toLowerCase() : undefined,
    match: (request: string, literal: string) => request.toLowerCase() === literal,
  },
  BinaryEquals: {
    negated: false,
    literal: (value: string) => /^[A-Za-z0-9+/]*={0,2}$/.test(value) ? value : undefined,
    match: (request: string, literal: string) => request === literal,
  },
  IpAddress: ipFamily(false),
  NotIpAddress: ipFamily(true),
  ArnEquals: arnFamily,
  ArnLike: arnFamily,
  ArnNotEquals: negate(arnFamily),
  ArnNotLike: negate(arnFamily),
};

/**
 * Compiles one operator entry of a Condition block (`"ForAnyValue:StringLikeIfExists": {key:
 * [values]}`). Throws ConditionError with the reason when the operator or a value is invalid.
 */
export function compileCondition(
  operator: string,
  entries: Record<string, string[]>,
  variables: boolean,
): CompiledCondition[] {
  let name = operator;
  let set: SetPrefix = "none";
  if (name.startsWith("ForAnyValue:")) {
    set = "any";
    name = name.slice("ForAnyValue:".length);
  } else if (name.startsWith("ForAllValues:")) {
    set = "all";
    name = name.slice("ForAllValues:".length);
  }
  const ifExists = name.endsWith("IfExists");
  if (ifExists) name = name.slice(0, -"IfExists".length);
  if (name === "Null") {
    if (ifExists || set !== "none") {
      throw new ConditionError(`Invalid Condition operator "${operator}"`);
    }
    return Object.entries(entries).map(([key, values]) => nullCondition(operator, key, values));
  }
  const family = FAMILIES[name];
  if (family === undefined) throw new ConditionError(`Invalid Condition operator "${operator}"`);
  return Object.entries(entries).map(([key, values]) => {
    const literals = values.map((value) => {
      const literal = family.literal(value, variables);
      if (literal === undefined) {
        throw new ConditionError(`Invalid value "${value}" for ${operator} on ${key}`);
      }
      return literal;
    });
    return valueCondition(key.toLowerCase(), family, literals, set, ifExists);
  });
}

function nullCondition(operator: string, key: string, values: string[]): CompiledCondition {
  const wanted = values.map((value) => {
    if (!/^(true|false)$/i.test(value)) {
      throw new ConditionError(`Invalid value "${value}" for ${operator} on ${key}`);
    }
    return value.toLowerCase() === "true";
  });
  const lower = key.toLowerCase();
  return {
    key: lower,
    test: (input) => {
      const present = (input.values(lower)?.length ?? 0) > 0;
      return wanted.some((absent) => absent !== present);
    },
  };
}

function valueCondition<L>(
  key: string,
  family: Family<L>,
  literals: L[],
  set: SetPrefix,
  ifExists: boolean,
): CompiledCondition {
  return {
    key,
    test: (input) => {
      const values = input.values(key);
      if (values === undefined || values.length === 0) {
        if (ifExists) return true;
        if (set === "any") return false;
        if (set === "all") return true;
        return family.negated;
      }
      // A request value "matches" when it matches some policy value, or, negated, none.
      const matches = (value: string): boolean => {
        const any = literals.some((literal) => family.match(value, literal, input.variable));
        return family.negated ? !any : any;
      };
      if (set === "all" || (set === "none" && family.negated)) return values.every(matches);
      return values.some(matches);
    },
  };
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A Date* value: ISO 8601 (`2026-01-01`, `2026-01-01T12:00:00Z`, with an offset or fraction)
 * or UNIX epoch seconds (aws:EpochTime). NaN when it is neither.
 */
export function parseDate(text: string): number {
  if (/^\d{1,12}$/.test(text)) return Number(text) * 1000;
  if (!ISO_DATE.test(text)) return NaN;
  const withColon = text.replace(/([+-]\d{2})(\d{2})$/, "$1:$2");
  // A time without zone is UTC in IAM; JavaScript would read it as local time.
  const zoned = /T/.test(withColon) && !/(Z|[+-]\d{2}:\d{2})$/.test(withColon)
    ? `${withColon}Z`
    : withColon;
  const ms = Date.parse(zoned);
  if (Number.isNaN(ms)) return NaN;
  // Date.parse rolls 2026-02-30 over to March: refuse dates that are not in the calendar.
  const [y, m, d] = text.slice(0, 10).split("-").map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d ? ms : NaN;
}
