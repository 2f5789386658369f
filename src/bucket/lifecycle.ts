/**
 * A bucket's lifecycle rules: the PutBucketLifecycleConfiguration document parsed and checked
 * as AWS checks it (schema violations are MalformedXML, out-of-range values InvalidArgument,
 * contradictory rules InvalidRequest). Transitions are refused: there are no storage tiers to
 * move objects to, and a stored rule that never acts would mislead.
 */

import type { XmlElement } from "../s3/xml.ts";

export interface LifecycleTag {
  key: string;
  value: string;
}

/** Which objects a rule applies to; every condition given must hold. */
export interface LifecycleFilter {
  /** Key prefix ("" for every key). */
  prefix: string;
  tags: LifecycleTag[];
  /** Bytes; the version's size must be strictly greater. */
  sizeGreaterThan?: number;
  /** Bytes; the version's size must be strictly smaller. */
  sizeLessThan?: number;
}

export interface LifecycleExpiration {
  days?: number;
  /** Midnight UTC, ISO 8601. */
  date?: string;
  /** Remove a delete marker that has no noncurrent versions left. */
  expiredObjectDeleteMarker?: boolean;
}

export interface NoncurrentVersionExpiration {
  noncurrentDays: number;
  /** This many newest noncurrent versions are kept whatever their age. */
  newerNoncurrentVersions?: number;
}

export interface LifecycleRule {
  id: string;
  enabled: boolean;
  filter: LifecycleFilter;
  /**
   * How the document named the objects, so GET gives back what was put: the legacy top-level
   * Prefix, a Filter with one condition, or a Filter with And.
   */
  form: "prefix" | "filter" | "and";
  expiration?: LifecycleExpiration;
  noncurrentVersionExpiration?: NoncurrentVersionExpiration;
  /** AbortIncompleteMultipartUpload's DaysAfterInitiation. */
  abortIncompleteUploadDays?: number;
}

export interface LifecycleConfiguration {
  rules: LifecycleRule[];
}

export type LifecycleErrorCode =
  | "MalformedXML"
  | "InvalidArgument"
  | "InvalidRequest"
  | "NotImplemented";

/** Why a document was refused, with the S3 error code AWS answers for it. */
export class InvalidLifecycle extends Error {
  constructor(readonly code: LifecycleErrorCode, message: string) {
    super(message);
    this.name = "InvalidLifecycle";
  }
}

export const MAX_RULES = 1000;
const MAX_ID_LENGTH = 255;
const MAX_NEWER_NONCURRENT = 100;
const DAY_MS = 86_400_000;

const malformed = (detail: string) =>
  new InvalidLifecycle(
    "MalformedXML",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );

/** The only child named `name`, or undefined; MalformedXML when repeated. */
function single(element: XmlElement, name: string): XmlElement | undefined {
  const found = element.children.filter((c) => c.name === name);
  if (found.length > 1) throw malformed(`${element.name} has more than one ${name}`);
  return found[0];
}

/** Refuses children the schema does not allow in `element`. */
function onlyChildren(element: XmlElement, allowed: readonly string[]): void {
  for (const c of element.children) {
    if (!allowed.includes(c.name)) throw malformed(`${c.name} is not allowed in ${element.name}`);
  }
}

/** An xsd:int / xsd:long element's value (MalformedXML when not an integer). */
function integer(element: XmlElement): number {
  const text = element.text.trim();
  if (!/^[+-]?\d{1,15}$/.test(text)) throw malformed(`${element.name} is not an integer`);
  return Number(text);
}

function positive(element: XmlElement, action: string): number {
  const value = integer(element);
  if (value <= 0) {
    throw new InvalidLifecycle(
      "InvalidArgument",
      `'${element.name}' for ${action} action must be a positive integer`,
    );
  }
  return value;
}

function boolean(element: XmlElement): boolean {
  const text = element.text.trim();
  if (text !== "true" && text !== "false") throw malformed(`${element.name} is true or false`);
  return text === "true";
}

function parseTag(element: XmlElement): LifecycleTag {
  onlyChildren(element, ["Key", "Value"]);
  const key = single(element, "Key");
  if (key === undefined) throw malformed("a Tag has no Key");
  return { key: key.text, value: single(element, "Value")?.text ?? "" };
}

function size(element: XmlElement | undefined): number | undefined {
  if (element === undefined) return undefined;
  const value = integer(element);
  if (value < 0) {
    throw new InvalidLifecycle("InvalidArgument", `'${element.name}' must not be negative`);
  }
  return value;
}

/** A Filter's conditions, or And's; `and` tells which of the two it is. */
function parseConditions(element: XmlElement, and: boolean): LifecycleFilter {
  const sizes = ["ObjectSizeGreaterThan", "ObjectSizeLessThan"];
  onlyChildren(element, ["Prefix", "Tag", ...sizes, ...(and ? [] : ["And"])]);
  const tagElements = element.children.filter((c) => c.name === "Tag");
  if (!and && tagElements.length > 1) throw malformed("a Filter has more than one Tag");
  const filter: LifecycleFilter = {
    prefix: single(element, "Prefix")?.text ?? "",
    tags: tagElements.map(parseTag),
    sizeGreaterThan: size(single(element, sizes[0])),
    sizeLessThan: size(single(element, sizes[1])),
  };
  const keys = new Set(filter.tags.map((t) => t.key));
  if (keys.size < filter.tags.length) {
    throw new InvalidLifecycle("InvalidRequest", "Duplicate Tag Keys are not allowed");
  }
  const { sizeGreaterThan: above, sizeLessThan: below } = filter;
  if (above !== undefined && below !== undefined && above >= below) {
    throw new InvalidLifecycle(
      "InvalidRequest",
      "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
    );
  }
  return filter;
}

function parseFilter(element: XmlElement): { filter: LifecycleFilter; form: "filter" | "and" } {
  if (element.children.length > 1) {
    throw malformed("a Filter has exactly one of Prefix, Tag, ObjectSize… or And");
  }
  const and = single(element, "And");
  if (and === undefined) return { filter: parseConditions(element, false), form: "filter" };
  return { filter: parseConditions(and, true), form: "and" };
}

function parseExpiration(element: XmlElement): LifecycleExpiration {
  onlyChildren(element, ["Days", "Date", "ExpiredObjectDeleteMarker"]);
  const days = single(element, "Days");
  const date = single(element, "Date");
  const marker = single(element, "ExpiredObjectDeleteMarker");
  if (days && date) throw malformed("Expiration has both Days and Date");
  if (marker && (days || date)) {
    throw malformed("ExpiredObjectDeleteMarker cannot be specified with Days or Date");
  }
  if (!days && !date && !marker) throw malformed("Expiration has no Days, Date or marker");
  const expiration: LifecycleExpiration = {};
  if (days) expiration.days = positive(days, "Expiration");
  if (date) {
    const text = date.text.trim();
    const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)
      ? Date.parse(text)
      : NaN;
    if (Number.isNaN(ms)) throw malformed("Date is not an ISO 8601 date");
    if (ms % DAY_MS !== 0) {
      throw new InvalidLifecycle("InvalidArgument", "'Date' must be at midnight GMT");
    }
    expiration.date = new Date(ms).toISOString();
  }
  if (marker) expiration.expiredObjectDeleteMarker = boolean(marker);
  return expiration;
}

function parseNoncurrent(element: XmlElement): NoncurrentVersionExpiration {
  onlyChildren(element, ["NoncurrentDays", "NewerNoncurrentVersions"]);
  const days = single(element, "NoncurrentDays");
  if (days === undefined) throw malformed("NoncurrentVersionExpiration has no NoncurrentDays");
  const result: NoncurrentVersionExpiration = {
    noncurrentDays: positive(days, "NoncurrentVersionExpiration"),
  };
  const newer = single(element, "NewerNoncurrentVersions");
  if (newer) {
    const count = integer(newer);
    if (count < 1 || count > MAX_NEWER_NONCURRENT) {
      throw new InvalidLifecycle(
        "InvalidArgument",
        `'NewerNoncurrentVersions' must be between 1 and ${MAX_NEWER_NONCURRENT}`,
      );
    }
    result.newerNoncurrentVersions = count;
  }
  return result;
}

/** AWS names a rule put without an ID with a generated one. */
function generatedId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

const RULE_CHILDREN = [
  "ID",
  "Status",
  "Filter",
  "Prefix",
  "Expiration",
  "NoncurrentVersionExpiration",
  "AbortIncompleteMultipartUpload",
];
const TRANSITIONS = ["Transition", "NoncurrentVersionTransition"];

function parseRule(element: XmlElement): LifecycleRule {
  const transition = element.children.find((c) => TRANSITIONS.includes(c.name));
  if (transition) {
    throw new InvalidLifecycle(
      "NotImplemented",
      `${transition.name} is not supported: this server has one storage class`,
    );
  }
  onlyChildren(element, RULE_CHILDREN);
  const id = single(element, "ID")?.text ?? generatedId();
  if (id.length > MAX_ID_LENGTH) {
    throw new InvalidLifecycle(
      "InvalidArgument",
      `ID length should not exceed allowed limit of ${MAX_ID_LENGTH}`,
    );
  }
  const status = single(element, "Status")?.text;
  if (status !== "Enabled" && status !== "Disabled") {
    throw malformed("Status must be Enabled or Disabled");
  }
  const filterElement = single(element, "Filter");
  const prefixElement = single(element, "Prefix");
  if (filterElement && prefixElement) throw malformed("a Rule has both Filter and Prefix");
  if (!filterElement && !prefixElement) throw malformed("a Rule has neither Filter nor Prefix");
  const { filter, form } = filterElement
    ? parseFilter(filterElement)
    : { filter: { prefix: prefixElement!.text, tags: [] }, form: "prefix" as const };

  const rule: LifecycleRule = { id, enabled: status === "Enabled", filter, form };
  const expiration = single(element, "Expiration");
  if (expiration) rule.expiration = parseExpiration(expiration);
  const noncurrent = single(element, "NoncurrentVersionExpiration");
  if (noncurrent) rule.noncurrentVersionExpiration = parseNoncurrent(noncurrent);
  const abort = single(element, "AbortIncompleteMultipartUpload");
  if (abort) {
    onlyChildren(abort, ["DaysAfterInitiation"]);
    const days = single(abort, "DaysAfterInitiation");
    if (days === undefined) throw malformed("AbortIncompleteMultipartUpload has no days");
    rule.abortIncompleteUploadDays = positive(days, "AbortIncompleteMultipartUpload");
  }
  if (!expiration && !noncurrent && !abort) {
    throw new InvalidLifecycle(
      "InvalidRequest",
      "At least one action needs to be specified in a rule",
    );
  }
  if (filter.tags.length > 0 && abort) {
    throw new InvalidLifecycle(
      "InvalidRequest",
      "AbortIncompleteMultipartUpload cannot be specified with Tags",
    );
  }
  if (filter.tags.length > 0 && rule.expiration?.expiredObjectDeleteMarker) {
    throw new InvalidLifecycle(
      "InvalidRequest",
      "ExpiredObjectDeleteMarker cannot be specified with Tags",
    );
  }
  return rule;
}

/** The configuration of a PUT's `<LifecycleConfiguration>` root; InvalidLifecycle if refused. */
export function parseLifecycle(root: XmlElement): LifecycleConfiguration {
  if (root.name !== "LifecycleConfiguration") {
    throw malformed("the root element is not LifecycleConfiguration");
  }
  onlyChildren(root, ["Rule"]);
  if (root.children.length === 0) throw malformed("the configuration has no Rule");
  if (root.children.length > MAX_RULES) {
    throw new InvalidLifecycle(
      "InvalidRequest",
      `Lifecycle configuration allows a maximum of ${MAX_RULES} rules`,
    );
  }
  const rules = root.children.map(parseRule);
  if (new Set(rules.map((r) => r.id)).size < rules.length) {
    throw new InvalidLifecycle(
      "InvalidArgument",
      "Rule ID must be unique. Found same ID for more than one rule",
    );
  }
  return { rules };
}
