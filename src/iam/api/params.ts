/**
 * The parameters of an IAM call, checked as IAM checks them: required members, names
 * ([\w+=,.@-], 1–64 for users, groups and roles, 1–128 for policies), paths ("/" or
 * "/a/b/"), numbers in range, and the Marker/MaxItems pagination of list calls.
 */
import { invalidInput, validationError } from "./errors.ts";

const NAME = /^[\w+=,.@-]+$/;
const PATH = /^\/(?:[\x21-\x7E]*\/)?$/;
const DEFAULT_MAX_ITEMS = 100;

/** "userName" from "UserName": the member names AWS's messages use. */
const member = (name: string) => name[0].toLowerCase() + name.slice(1);

export class Params {
  constructor(readonly raw: URLSearchParams) {}

  optional(name: string): string | undefined {
    return this.raw.get(name) ?? undefined;
  }

  required(name: string): string {
    const value = this.raw.get(name);
    if (value === null) {
      throw validationError(
        `1 validation error detected: Value null at '${member(name)}' failed to satisfy ` +
          "constraint: Member must not be null",
      );
    }
    return value;
  }

  /** An entity name: [\w+=,.@-]{1,max}. */
  name(name: string, max = 64, required = true): string {
    const value = required ? this.required(name) : this.optional(name);
    if (value === undefined) return "";
    if (value.length < 1 || value.length > max) {
      throw validationError(
        `1 validation error detected: Value '${value}' at '${member(name)}' failed to satisfy ` +
          `constraint: Member must have length between 1 and ${max}`,
      );
    }
    if (!NAME.test(value)) {
      throw validationError(
        `1 validation error detected: Value '${value}' at '${member(name)}' failed to satisfy ` +
          "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
      );
    }
    return value;
  }

  /** A path ("/" by default): "/" alone or "/…/", at most 512 characters. */
  path(name = "Path"): string {
    const value = this.optional(name) ?? "/";
    if (value.length > 512 || !PATH.test(value)) {
      throw validationError(
        `The specified value for ${member(name)} is invalid. It must begin and end with / and ` +
          "contain only alphanumeric characters and/or / characters.",
      );
    }
    return value;
  }

  /** An integer in [min, max], if given. */
  integer(name: string, min: number, max: number): number | undefined {
    const text = this.optional(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || value < min || value > max) {
      throw validationError(
        `1 validation error detected: Value '${text}' at '${member(name)}' failed to satisfy ` +
          `constraint: Member must have value between ${min} and ${max}`,
      );
    }
    return value;
  }

  /** "true"/"false" (absent: `fallback`). */
  boolean(name: string, fallback: boolean): boolean {
    const text = this.optional(name);
    if (text === undefined) return fallback;
    if (text !== "true" && text !== "false") {
      throw validationError(`Invalid value for ${member(name)}: ${text}; expecting true or false.`);
    }
    return text === "true";
  }

  /** The members of a list parameter: `<name>.member.1`, `.2`, … (at most `max`). */
  members(name: string, max: number): string[] {
    const out: string[] = [];
    for (let i = 1;; i++) {
      const value = this.optional(`${name}.member.${i}`);
      if (value === undefined) return out;
      if (i > max) {
        throw validationError(
          `1 validation error detected: Value at '${member(name)}' failed to satisfy ` +
            `constraint: Member must have length less than or equal to ${max}`,
        );
      }
      out.push(value);
    }
  }

  /** One of `values`, if given. */
  choice<T extends string>(name: string, values: readonly T[]): T | undefined {
    const text = this.optional(name);
    if (text === undefined) return undefined;
    if (!(values as readonly string[]).includes(text)) {
      throw validationError(
        `1 validation error detected: Value '${text}' at '${member(name)}' failed to satisfy ` +
          `constraint: Member must satisfy enum value set: [${values.join(", ")}]`,
      );
    }
    return text as T;
  }
}

export interface Page<T> {
  items: T[];
  isTruncated: boolean;
  marker?: string;
}

/**
 * One page of `items` (a stable order, each with a unique `key`), at most MaxItems (1–1000, 100
 * by default), from the request's Marker on: the key of the page's first item, opaque to
 * clients. Should that item have gone meanwhile, the page starts at the next key up.
 */
export function page<T>(params: Params, items: T[], key: (item: T) => string): Page<T> {
  const maxItems = params.integer("MaxItems", 1, 1000) ?? DEFAULT_MAX_ITEMS;
  const marker = params.optional("Marker");
  let start = 0;
  if (marker !== undefined) {
    let after: string;
    try {
      after = new TextDecoder().decode(Uint8Array.from(atob(marker), (c) => c.charCodeAt(0)));
    } catch {
      throw invalidInput("Invalid Marker.");
    }
    // The marked item, or (when it went away meanwhile) the first after it in key order.
    start = items.findIndex((item) => key(item) === after);
    if (start < 0) start = items.findIndex((item) => key(item) > after);
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + maxItems);
  const next = items[start + maxItems];
  if (next === undefined) return { items: slice, isTruncated: false };
  const encoded = String.fromCharCode(...new TextEncoder().encode(key(next)));
  return { items: slice, isTruncated: true, marker: btoa(encoded) };
}
