/**
 * Bucket CORS: Put/Get/DeleteBucketCors, the unsigned OPTIONS preflight a browser sends before a
 * cross-origin request (answered from the bucket's rules, before authentication), and the
 * Access-Control-* headers of an actual request whose Origin a rule allows, error responses
 * included (a browser script can then read why it failed).
 */

import {
  allowsAnyOrigin,
  type CorsConfiguration,
  type CorsRule,
  matchCorsRule,
  MAX_CORS_BYTES,
  parseCorsConfiguration,
  renderCorsConfiguration,
} from "../bucket/cors.ts";
import type { BucketMetadataStore } from "../bucket/metadata-store.ts";
import type { ObjectLayer } from "../object/layer.ts";
import { BucketNotFound } from "../object/errors.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { isValidBucketName } from "./router.ts";
import {
  type BucketSetting,
  deleteBucketSetting,
  getBucketSetting,
  putBucketSetting,
} from "./bucket-settings.ts";

const CORS: BucketSetting<"cors"> = {
  field: "cors",
  root: "CORSConfiguration",
  notFound: "NoSuchCORSConfiguration",
  notFoundMessage: "The CORS configuration does not exist",
  parse: parseCorsConfiguration,
  render: renderCorsConfiguration,
  maxBytes: MAX_CORS_BYTES,
  checksumRequired: true,
};

export const putBucketCors = (ctx: S3Context) => putBucketSetting(ctx, CORS);
export const getBucketCors = (ctx: S3Context) => getBucketSetting(ctx, CORS);
export const deleteBucketCors = (ctx: S3Context) => deleteBucketSetting(ctx, CORS);

/** S3 names every header a preflight's answer depends on. */
const VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";

/** The Access-Control-* headers S3 answers a request that `rule` allows. */
function grantHeaders(
  rule: CorsRule,
  origin: string,
  requestedHeaders: readonly string[],
): Headers {
  const headers = new Headers();
  const anyOrigin = allowsAnyOrigin(rule);
  headers.set("access-control-allow-origin", anyOrigin ? "*" : origin);
  if (!anyOrigin) headers.set("access-control-allow-credentials", "true");
  headers.set("access-control-allow-methods", rule.allowedMethods.join(", "));
  if (requestedHeaders.length > 0) {
    headers.set("access-control-allow-headers", requestedHeaders.join(", "));
  }
  if (rule.exposeHeaders.length > 0) {
    headers.set("access-control-expose-headers", rule.exposeHeaders.join(", "));
  }
  if (rule.maxAgeSeconds !== undefined) {
    headers.set("access-control-max-age", String(rule.maxAgeSeconds));
  }
  headers.set("vary", VARY);
  return headers;
}

function forbidden(message: string, method: string, resourceType: "BUCKET" | "OBJECT"): S3Error {
  return new S3Error("AccessForbidden", `CORSResponse: ${message}`, {
    Method: method,
    ResourceType: resourceType,
  });
}

export interface PreflightTarget {
  bucket: string;
  key: string;
  headers: Headers;
}

/**
 * Answers an OPTIONS preflight from the bucket's rules: 200 with the grant, or S3's errors —
 * 400 without Origin or Access-Control-Request-Method, 403 AccessForbidden when the bucket is
 * missing, has no CORS, or no rule allows the origin, method and every requested header.
 */
export async function corsPreflight(
  target: PreflightTarget,
  deps: { layer: ObjectLayer; buckets: BucketMetadataStore },
): Promise<Response> {
  const origin = target.headers.get("origin");
  if (origin === null) {
    throw new S3Error("BadRequest", "Insufficient information. Origin request header needed.");
  }
  const method = target.headers.get("access-control-request-method");
  let config: CorsConfiguration | undefined;
  try {
    if (!isValidBucketName(target.bucket)) throw new BucketNotFound(target.bucket);
    await deps.layer.getBucketInfo(target.bucket);
    config = (await deps.buckets.get(target.bucket)).cors;
  } catch (err) {
    if (!(err instanceof BucketNotFound)) throw err;
    throw forbidden("Bucket not found", method ?? "OPTIONS", "BUCKET");
  }
  if (config === undefined) {
    throw forbidden("CORS is not enabled for this bucket.", method ?? "OPTIONS", "BUCKET");
  }
  if (method === null) {
    throw new S3Error("BadRequest", "Invalid Access-Control-Request-Method: null");
  }
  // Each name once: a long repetitive list costs no more matching than its distinct names.
  const requested = [
    ...new Set(
      (target.headers.get("access-control-request-headers") ?? "").split(",")
        .map((name) => name.trim().toLowerCase()).filter((name) => name !== ""),
    ),
  ];
  const rule = matchCorsRule(config, { origin, method, headers: requested });
  if (rule === undefined) {
    throw forbidden(
      "This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
      method,
      target.key === "" ? "BUCKET" : "OBJECT",
    );
  }
  const headers = grantHeaders(rule, origin, requested);
  headers.set("content-length", "0");
  return new Response(null, { status: 200, headers });
}

/**
 * Adds the grant to `response` when the request carries an Origin that one of the bucket's rules
 * allows for its method. A request without Origin costs nothing here.
 */
export async function withCorsHeaders(
  response: Response,
  request: { method: string; headers: Headers; bucket: string },
  buckets: BucketMetadataStore,
): Promise<Response> {
  const origin = request.headers.get("origin");
  if (origin === null || !isValidBucketName(request.bucket)) return response;
  const config = (await buckets.get(request.bucket).catch(() => undefined))?.cors;
  if (config === undefined) return response;
  const rule = matchCorsRule(config, { origin, method: request.method, headers: [] });
  if (rule === undefined) return response;
  for (const [name, value] of grantHeaders(rule, origin, [])) response.headers.set(name, value);
  return response;
}
