/**
 * A bucket's CORS rules: the parsed PutBucketCors document with AWS's schema and limits, and the
 * matching of a browser's request against them (first matching rule wins, as S3 does).
 */

import { S3Error } from "../s3/errors.ts";
import type { XmlElement, XmlValue } from "../s3/xml.ts";

export const CORS_METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD"] as const;
export type CorsMethod = typeof CORS_METHODS[number];

export interface CorsRule {
  id?: string;
  allowedMethods: CorsMethod[];
  /** Origins, each with at most one "*" standing for any run of characters. */
  allowedOrigins: string[];
  /** Header names a preflight may ask for, each with at most one "*" (matched ignoring case). */
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
}

export interface CorsConfiguration {
  rules: CorsRule[];
}

export const MAX_CORS_RULES = 100;
/** AWS's limit on the size of a CORS configuration. */
export const MAX_CORS_BYTES = 64 * 1024;
const MAX_ID_CHARS = 255;
/**
 * A preflight asking for more headers than this is allowed by no rule. Browsers ask only for the
 * few non-safelisted headers a script sets; an unsigned request naming thousands would otherwise
 * cost each × every pattern of every rule (6000 names × 100 rules × 10 patterns: 0.3 s of CPU).
 */
export const MAX_REQUESTED_HEADERS = 100;
const RULE_ELEMENTS = new Set([
  "ID",
  "AllowedMethod",
  "AllowedOrigin",
  "AllowedHeader",
  "ExposeHeader",
  "MaxAgeSeconds",
]);

function malformed(detail: string): S3Error {
  return new S3Error(
    "MalformedXML",
    `The XML you provided was not well-formed or did not validate against our published schema (${detail}).`,
  );
}

function isCorsMethod(method: string): method is CorsMethod {
  return (CORS_METHODS as readonly string[]).includes(method);
}

/** The texts of `element`'s children named `name`, trimmed; `refuse` explains a bad one. */
function values(element: XmlElement, name: string, refuse?: (value: string) => string | undefined) {
  return element.children.filter((c) => c.name === name).map((c) => {
    const value = c.text.trim();
    const refusal = refuse?.(value);
    if (refusal !== undefined) throw new S3Error("InvalidRequest", refusal);
    return value;
  });
}

const oneWildcard = (element: string) => (value: string) =>
  value.split("*").length > 2
    ? `${element} "${value}" can not have more than one wildcard.`
    : undefined;

function parseRule(element: XmlElement): CorsRule {
  for (const c of element.children) {
    if (!RULE_ELEMENTS.has(c.name)) throw malformed(`unknown element ${c.name} in CORSRule`);
  }
  const methods = values(
    element,
    "AllowedMethod",
    (m) =>
      isCorsMethod(m)
        ? undefined
        : `Found unsupported HTTP method in CORS config. Unsupported method is ${m}`,
  ) as CorsMethod[];
  const origins = values(element, "AllowedOrigin", oneWildcard("AllowedOrigin"));
  if (methods.length === 0) throw malformed("a CORSRule needs an AllowedMethod");
  if (origins.length === 0) throw malformed("a CORSRule needs an AllowedOrigin");
  const rule: CorsRule = {
    allowedMethods: methods,
    allowedOrigins: origins,
    allowedHeaders: values(element, "AllowedHeader", oneWildcard("AllowedHeader")),
    exposeHeaders: values(
      element,
      "ExposeHeader",
      (h) =>
        h.includes("*")
          ? `ExposeHeader "${h}" contains wildcard. We currently do not support wildcard for ExposeHeader.`
          : undefined,
    ),
  };
  const ids = values(element, "ID");
  const ages = values(element, "MaxAgeSeconds");
  if (ids.length > 1 || ages.length > 1) throw malformed("ID and MaxAgeSeconds appear once");
  if (ids.length === 1) {
    if (ids[0].length > MAX_ID_CHARS) {
      throw new S3Error(
        "InvalidArgument",
        `ID length should not exceed allowed limit of ${MAX_ID_CHARS}`,
      );
    }
    rule.id = ids[0];
  }
  if (ages.length === 1) {
    const age = Number(ages[0]);
    if (!/^\d{1,10}$/.test(ages[0]) || age > 2 ** 31 - 1) {
      throw malformed("MaxAgeSeconds is a non-negative integer");
    }
    rule.maxAgeSeconds = age;
  }
  return rule;
}

/** The configuration a CORSConfiguration document sets (S3's errors when it is invalid). */
export function parseCorsConfiguration(root: XmlElement): CorsConfiguration {
  if (root.children.some((c) => c.name !== "CORSRule")) {
    throw malformed("CORSConfiguration holds only CORSRule elements");
  }
  const rules = root.children.map(parseRule);
  if (rules.length === 0) throw malformed("a CORSConfiguration needs a CORSRule");
  if (rules.length > MAX_CORS_RULES) {
    throw malformed(`a CORSConfiguration holds at most ${MAX_CORS_RULES} rules`);
  }
  return { rules };
}

/** The elements of GetBucketCors's CORSConfiguration. */
export function renderCorsConfiguration(config: CorsConfiguration): { [e: string]: XmlValue } {
  return {
    CORSRule: config.rules.map((rule) => ({
      ID: rule.id,
      AllowedHeader: rule.allowedHeaders,
      AllowedMethod: rule.allowedMethods,
      AllowedOrigin: rule.allowedOrigins,
      ExposeHeader: rule.exposeHeaders,
      MaxAgeSeconds: rule.maxAgeSeconds,
    })),
  };
}

/** Whether `value` matches `pattern`, whose one "*" (if any) stands for any run of characters. */
function wildcardMatch(pattern: string, value: string): boolean {
  const star = pattern.indexOf("*");
  if (star < 0) return pattern === value;
  const prefix = pattern.slice(0, star);
  const suffix = pattern.slice(star + 1);
  return value.length >= prefix.length + suffix.length && value.startsWith(prefix) &&
    value.endsWith(suffix);
}

export interface CorsRequest {
  origin: string;
  /** The request's method, or a preflight's Access-Control-Request-Method. */
  method: string;
  /** A preflight's Access-Control-Request-Headers, lower-cased; [] for actual requests. */
  headers: readonly string[];
}

/** The first rule that allows `request`, if any. */
export function matchCorsRule(
  config: CorsConfiguration,
  request: CorsRequest,
): CorsRule | undefined {
  if (request.headers.length > MAX_REQUESTED_HEADERS) return undefined;
  return config.rules.find((rule) =>
    (rule.allowedMethods as readonly string[]).includes(request.method) &&
    rule.allowedOrigins.some((pattern) => wildcardMatch(pattern, request.origin)) &&
    request.headers.every((header) =>
      rule.allowedHeaders.some((pattern) => wildcardMatch(pattern.toLowerCase(), header))
    )
  );
}

/** Whether a matching rule lets any origin in: S3 then answers "*" and no credentials. */
export function allowsAnyOrigin(rule: CorsRule): boolean {
  return rule.allowedOrigins.includes("*");
}
