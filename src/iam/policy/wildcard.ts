/**
 * Patterns of the policy language: `*` (any run of characters) and `?` (one character), with
 * policy variables (`${aws:username}`) substituted from the request. A pattern is split once,
 * when its document is compiled, into the literal segments between its `*`s, so matching a
 * request needs neither a RegExp nor any parsing.
 */

/** One piece of a segment: literal text, ONE_CHAR (`?`), or a variable to substitute. */
type Piece = string | typeof ONE_CHAR | { readonly variable: string };
/** A segment with its variables substituted. */
type Resolved = readonly (string | typeof ONE_CHAR)[];

const ONE_CHAR = 0;

/** How a pattern is read. */
export interface PatternSyntax {
  /** `*` and `?` are wildcards (StringLike, Action, Resource), else literal (StringEquals). */
  wildcards: boolean;
  /** `${key}` is a policy variable (documents of Version 2012-10-17). */
  variables: boolean;
  /** Compare case-insensitively: the pattern and substituted values are lower-cased (the
   *  caller lower-cases the text). */
  ignoreCase: boolean;
}

/** Reads a request value for a policy variable; undefined when the request has none. */
export type VariableSource = (key: string) => string | undefined;

export class Pattern {
  /** Segments between `*`s: the first is anchored at the start, the last at the end. */
  private readonly segments: readonly (readonly Piece[])[];
  /** The segments when the pattern has no variables (the common case), resolved once. */
  private readonly fixed: readonly Resolved[] | undefined;
  /** The whole pattern is literal text (no wildcard, no variable). */
  readonly literal: string | undefined;
  /** `*` alone: matches everything. */
  readonly matchesAll: boolean;

  constructor(readonly source: string, private readonly syntax: PatternSyntax) {
    const text = syntax.ignoreCase ? source.toLowerCase() : source;
    const segments: Piece[][] = [[]];
    let hasVariable = false;
    let i = 0;
    while (i < text.length) {
      const c = text[i];
      if (syntax.variables && c === "$" && text[i + 1] === "{") {
        const end = text.indexOf("}", i + 2);
        if (end > 0) {
          const name = text.slice(i + 2, end);
          const special = SPECIAL_VARIABLES[name];
          if (special !== undefined) {
            push(segments, special);
          } else {
            segments[segments.length - 1].push({ variable: name.toLowerCase() });
            hasVariable = true;
          }
          i = end + 1;
          continue;
        }
      }
      if (syntax.wildcards && c === "*") segments.push([]);
      else if (syntax.wildcards && c === "?") segments[segments.length - 1].push(ONE_CHAR);
      else push(segments, c);
      i++;
    }
    this.segments = segments;
    this.fixed = hasVariable ? undefined : segments as Resolved[];
    const only = segments[0];
    this.literal = !hasVariable && segments.length === 1 &&
        only.every((p) => typeof p === "string")
      ? only.join("")
      : undefined;
    this.matchesAll = segments.length === 2 && segments[0].length === 0 &&
      segments[1].length === 0;
  }

  /** The policy variables (lower case) the pattern reads. */
  variables(): string[] {
    return this.segments.flat().flatMap((p) => typeof p === "object" ? [p.variable] : []);
  }

  /** Does `text` match? A variable the request has no value for makes the pattern match
   *  nothing (AWS: the element evaluates to false). */
  matches(text: string, variables: VariableSource): boolean {
    if (this.matchesAll) return true;
    if (this.literal !== undefined) return text === this.literal;
    const segments = this.fixed ?? this.resolve(variables);
    return segments !== undefined && matchSegments(segments, text);
  }

  private resolve(variables: VariableSource): Resolved[] | undefined {
    const out: Resolved[] = [];
    for (const segment of this.segments) {
      const resolved: (string | typeof ONE_CHAR)[] = [];
      for (const piece of segment) {
        if (typeof piece !== "object") {
          resolved.push(piece);
          continue;
        }
        const value = variables(piece.variable);
        if (value === undefined) return undefined;
        resolved.push(this.syntax.ignoreCase ? value.toLowerCase() : value);
      }
      out.push(resolved);
    }
    return out;
  }
}

/** `${*}`, `${?}`, `${$}`: the characters themselves, where they would otherwise be special. */
const SPECIAL_VARIABLES: Record<string, string> = { "*": "*", "?": "?", "$": "$" };

function push(segments: Piece[][], text: string): void {
  const segment = segments[segments.length - 1];
  const last = segment[segment.length - 1];
  if (typeof last === "string") segment[segment.length - 1] = last + text;
  else segment.push(text);
}

function segmentLength(segment: Resolved): number {
  let n = 0;
  for (const p of segment) n += p === ONE_CHAR ? 1 : p.length;
  return n;
}

function segmentAt(segment: Resolved, text: string, at: number): boolean {
  let pos = at;
  for (const p of segment) {
    if (p === ONE_CHAR) {
      if (pos >= text.length) return false;
      pos++;
    } else {
      if (!text.startsWith(p, pos)) return false;
      pos += p.length;
    }
  }
  return true;
}

/** The first position ≥ from where the segment matches, or -1. */
function findSegment(segment: Resolved, text: string, from: number, length: number): number {
  if (segment.length === 1 && segment[0] !== ONE_CHAR) return text.indexOf(segment[0], from);
  for (let at = from; at + length <= text.length; at++) {
    if (segmentAt(segment, text, at)) return at;
  }
  return -1;
}

/**
 * Star-separated segments of fixed length: anchoring the first and last and taking each middle
 * segment at its leftmost place is exact (a later place can only leave less room).
 */
function matchSegments(segments: readonly Resolved[], text: string): boolean {
  const first = segments[0];
  const firstLength = segmentLength(first);
  if (segments.length === 1) return firstLength === text.length && segmentAt(first, text, 0);
  const last = segments[segments.length - 1];
  const lastLength = segmentLength(last);
  const tailStart = text.length - lastLength;
  if (firstLength > tailStart || !segmentAt(first, text, 0) || !segmentAt(last, text, tailStart)) {
    return false;
  }
  let pos = firstLength;
  for (let i = 1; i < segments.length - 1; i++) {
    const length = segmentLength(segments[i]);
    const at = findSegment(segments[i], text, pos, length);
    if (at < 0 || at + length > tailStart) return false;
    pos = at + length;
  }
  return true;
}
