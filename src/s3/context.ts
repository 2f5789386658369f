/** What every S3 operation handler receives, and the handler type the dispatch table holds. */

import type { AuthOptions, AuthResult } from "../auth/sigv4.ts";
import type { Config } from "../config.ts";
import type { ObjectLayer } from "../object/layer.ts";
import type { BucketMetadataStore } from "../bucket/metadata-store.ts";
import type { KeyService } from "../kms/key-service.ts";
import type { RequestAccess } from "./access.ts";
import type { Route } from "./router.ts";

export interface S3Context {
  request: Request;
  /** x-amz-request-id of this request. */
  requestId: string;
  bucket: string;
  /** Decoded object key ("" for bucket and service operations). */
  key: string;
  /** Parsed query of the raw target (values decoded). */
  query: URLSearchParams;
  /** The operation, its permissions and its parsed parameters (part number, upload id …). */
  route: Route;
  /** What the request may do (the route's own permissions were granted before the handler). */
  access: RequestAccess;
  buckets: BucketMetadataStore;
  /** The account's canonical user id: the owner of every bucket and object. */
  canonicalUserId: string;
  auth: AuthResult;
  /** The headers to act on (auth.headers): never read request.headers for what a request does. */
  headers: Headers;
  /** How requests are authenticated, for handlers that check a signature themselves (POST). */
  authOptions: AuthOptions;
  layer: ObjectLayer;
  config: Config;
  /** The key service (SSE-S3, SSE-KMS); absent when FLASHSTOR_KMS_SECRET_KEY is unset. */
  keys?: KeyService;
  /** The request came over TLS, or from a loopback address (what SSE-C may need). */
  transport: { tls: boolean; loopback: boolean };
}

export type Handler = (ctx: S3Context) => Promise<Response>;
