/**
 * The S3 application as a plain fetch handler. Hono serves the health and metrics endpoints and
 * hands everything else to one S3 pipeline: route (router.ts) → authenticate (SigV4) → handler
 * (handlers.ts) → S3 error mapping. Every response carries x-amz-request-id, x-amz-id-2 and
 * Server; failures never leak details beyond their S3 code and message. Each S3 request is
 * traced (auth and storage phases) and reported to the Observability (audit log, metrics) once
 * its response body has been sent.
 */

import { createHash } from "node:crypto";
import { type Context, Hono } from "hono";
import { ADMIN_PREFIX, type AdminLayer, adminResponse, isAdminTarget } from "../admin/api.ts";
import { authenticate, type AuthOptions } from "../auth/sigv4.ts";
import { type CredentialLookup, rootPrincipal } from "../auth/credentials.ts";
import { invalidToken } from "../auth/errors.ts";
import type { Config } from "../config.ts";
import { type BucketMetadataStore, ConfigBucketMetadataStore } from "../bucket/metadata-store.ts";
import { Authorizer, type Identities } from "../iam/authorize.ts";
import type { ConfigStore } from "../object/layer.ts";
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH, healthResponse } from "../observe/health.ts";
import { METRICS_PATH, metricsResponse } from "../observe/metrics.ts";
import { requestLoad } from "../observe/load.ts";
import { Observability, type RequestObserver, type RequestRecord } from "../observe/observer.ts";
import { REQUEST_ID_HEADER, RequestTrace, runInTrace } from "../observe/trace.ts";
import { rawTarget } from "../http/raw-target.ts";
import { wholeBodyOf } from "../http/whole-body.ts";
import { iamResponse } from "../iam/api/iam.ts";
import {
  QueryError,
  type QueryHandler,
  queryService,
  type QueryServiceName,
  serveQuery,
} from "../iam/query-protocol.ts";
import type { IamStore } from "../iam/store.ts";
import { stsResponse } from "../sts/api.ts";
import { credentialLookup } from "../sts/credentials.ts";
import { SessionTokens } from "../sts/tokens.ts";
import {
  accessDenied,
  authorizeRoute,
  mayTellMissingKey,
  type RequestAccess,
  requestAccess,
} from "./access.ts";
import type { S3Context } from "./context.ts";
import type { KeyService } from "../kms/key-service.ts";
import { errorResponse, S3Error, toS3Error } from "./errors.ts";
import { HANDLERS } from "./handlers.ts";
import { addressOf, hostBucket, type Route, route } from "./router.ts";
import { corsPreflight, withCorsHeaders } from "./cors.ts";

export interface AppDeps {
  config: Config;
  /** The admin API also serves its maintenance (heals, scanner) when it has one; the config
   *  store keeps the bucket metadata. */
  layer: AdminLayer & ConfigStore;
  /** Identity policies (the IAM store); without one only root and anonymous requests exist. */
  identities?: Identities;
  /** Audit log and metrics; by default built from the config (--audit-log). */
  observability?: Observability;
  /** Users' keys, temporary credentials, the IAM and STS Query APIs; without it only root's
   *  key exists. */
  iam?: IamStore;
  /** The bucket-metadata store, shared with the object layer (versioning); by default one over
   *  `layer`'s config store. */
  buckets?: BucketMetadataStore;
  /** The key service for SSE-S3 / SSE-KMS (FLASHSTOR_KMS_SECRET_KEY); without it they are
   *  refused and everything else is served. */
  keys?: KeyService;
}

export interface App {
  fetch(request: Request, info?: { remoteAddr?: string }): Promise<Response>;
}

type Env = { Bindings: { record: RequestRecord } };

/**
 * `body` with every chunk counted as it is taken; `end` runs once, when the stream is done,
 * fails or is cancelled. It pulls only on demand (no read-ahead): for a request body that
 * matters because the front door sends 100 Continue on the first read, which must not happen
 * before authentication; for a response body it means counting what the server actually took.
 */
function counted(
  body: ReadableStream<Uint8Array>,
  count: (bytes: number) => void,
  end: () => void = () => {},
  failure: (err: unknown) => unknown = (err) => err,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  const finish = () => {
    if (ended) return;
    ended = true;
    end();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        finish();
        throw failure(err);
      }
      if (chunk.done) {
        finish();
        return controller.close();
      }
      count(chunk.value.byteLength);
      controller.enqueue(chunk.value);
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * A request body that could not be read to its end (cut off, reset, too slow) is the client's
 * fault, whichever HTTP engine noticed: the front door closes such a connection after the
 * handler returns.
 */
function incompleteBody(): S3Error {
  return new S3Error("IncompleteBody", "The request body ended before it was complete.");
}

/** Reports `record` to `observer` once the body of `response` has been sent (or abandoned). */
function observed(
  record: RequestRecord,
  response: Response,
  observer: RequestObserver,
): Response {
  record.status = response.status;
  const report = () => observer.onRequest(record);
  const whole = wholeBodyOf(response)?.byteLength;
  if (whole !== undefined) record.bytesOut = whole;
  // Touching .body of a whole body would turn it into a stream: test for one first.
  if (whole !== undefined || response.body === null) {
    report();
    return response;
  }
  const body = counted(response.body, (n) => record.bytesOut += n, report);
  return new Response(body, response);
}

/** No IAM store: no identity has policies (only root and anonymous requests reach here). */
const NO_IDENTITIES: Identities = { epoch: 0, identityPolicies: () => [] };

/** The resource an error document names: the decoded path when routing got that far. */
function resourceOf(target: string, bucket: string, key: string): string {
  if (bucket !== "") return key === "" ? `/${bucket}` : `/${bucket}/${key}`;
  return target.split("?", 1)[0];
}

export function createApp(deps: AppDeps): App {
  const { config, layer } = deps;
  const observability = deps.observability ?? Observability.fromConfig(config, layer);
  // Until the IAM store gives the account its id, its requests name none.
  const accountId = deps.iam?.accountId ?? "";
  // Temporary credentials are signed under a key derived from root's: every node takes them.
  const tokens = new SessionTokens({ accessKey: config.rootUser, secretKey: config.rootPassword });
  const lookup: CredentialLookup = deps.iam
    ? credentialLookup(deps.iam, tokens)
    : (accessKey, sessionToken) => {
      if (accessKey !== config.rootUser) return undefined;
      // Root's key is long-term: a token with it was not issued for it.
      if (sessionToken !== undefined) throw invalidToken();
      const principal = rootPrincipal(accountId, accessKey);
      return { accessKey, secretKey: config.rootPassword, principal };
    };
  const authOptions: AuthOptions = {
    lookup,
    accountId,
    region: config.signingRegion,
    sigv2: config.sigv2,
  };
  const buckets = deps.buckets ?? new ConfigBucketMetadataStore(layer);
  // An object's ACL is read only when no policy decided; an unreadable object grants nothing.
  const objectMetadata = (bucket: string, key: string, versionId?: string) =>
    layer.getObjectInfo(bucket, key, { versionId }).then((info) => info.metadata, () => undefined);
  const authorizer = new Authorizer(deps.identities ?? NO_IDENTITIES, buckets, objectMetadata);
  // Without an IAM store (the app alone, in tests) an id derived from the root user stands in.
  const canonicalUserId = deps.iam?.canonicalUserId ??
    createHash("sha256").update(`flashstor-owner:${config.rootUser}`).digest("hex");
  // One stable host id per process, as S3 names the host that served a request.
  const hostId = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

  const s3 = async (request: Request, record: RequestRecord): Promise<Response> => {
    const target = rawTarget(request);
    const method = request.method;
    const trace = record.trace;
    let stage: "route" | "auth" | "handle" = "route";
    /** Set once the request passed the authorize step. */
    let authorized: { route: Route; access: RequestAccess; headers: Headers } | undefined;
    try {
      const host = request.headers.get("host");
      // A browser's CORS preflight is unsigned: the bucket's rules alone answer it.
      if (method === "OPTIONS") {
        record.operation = "CorsPreflight";
        const address = addressOf(target, host, config.domains);
        if (address instanceof S3Error) throw address;
        record.bucket = address.bucket;
        record.key = address.key;
        return await corsPreflight({ ...address, headers: request.headers }, { layer, buckets });
      }
      let routed = route(method, target, host, config.domains, request.headers);
      if (routed instanceof S3Error) throw routed;
      record.operation = routed.op;
      record.bucket = routed.bucket;
      record.key = routed.key;
      const body = request.body &&
        counted(request.body, (n) => record.bytesIn += n, undefined, incompleteBody);
      stage = "auth";
      const auth = await trace.time("auth", () =>
        authenticate({
          method,
          target,
          headers: request.headers,
          body,
          hostBucket: hostBucket(host, config.domains),
        }, authOptions));
      record.accessKey = auth.accessKey;
      // Headers a presigned URL signed in its query (x-amz-copy-source) may change the operation.
      if (auth.headers !== request.headers) {
        routed = route(method, target, host, config.domains, auth.headers);
        if (routed instanceof S3Error) throw routed;
        record.operation = routed.op;
      }
      const access = requestAccess(authorizer, {
        principal: auth.principal,
        headers: auth.headers,
        query: routed.query,
        remoteAddr: record.remoteAddr,
        secure: request.url.startsWith("https:"),
        form: routed.op === "PostObject",
      });
      await authorizeRoute(routed, access, auth.headers);
      authorized = { route: routed, access, headers: auth.headers };
      stage = "handle";
      const ctx: S3Context = {
        request,
        requestId: trace.id,
        bucket: routed.bucket,
        key: routed.key,
        query: routed.query,
        route: routed,
        access,
        buckets,
        canonicalUserId,
        auth,
        headers: auth.headers,
        authOptions,
        layer,
        config,
        keys: deps.keys,
        transport: {
          tls: request.url.startsWith("https:"),
          loopback: isLoopback(record.remoteAddr),
        },
      };
      // The handler's time until its response is ready: object-layer work, and for uploads
      // receiving the body. Streaming a response body counts only in the total.
      return await trace.time("storage", () => HANDLERS[routed.op](ctx));
    } catch (err) {
      let error = toS3Error(err);
      if (error.code === "NoSuchKey" && authorized && !await mayTellMissingKey(authorized)) {
        error = accessDenied();
      }
      // A bad chunk signature surfaces from the body, after the head was authenticated.
      record.authFailed = stage === "auth" || error.code === "SignatureDoesNotMatch";
      if (error.status === 500) {
        console.error(
          `flashstor: ${error.code} in ${trace.id} ${method} ${target}:`,
          err instanceof Error ? err.stack : err,
        );
      }
      return errorResponse(error, {
        resource: resourceOf(target, record.bucket, record.key),
        requestId: trace.id,
        method,
      });
    }
  };

  const hono = new Hono<Env>();
  const ready = () => layer.isWritable();
  const health = async (request: Request) =>
    await healthResponse(request, ready) ?? new Response(null, { status: 404 });
  const metricsAccess = { token: config.metricsToken, isPublic: config.metricsPublic };
  const served =
    (handle: (request: Request, record: RequestRecord) => Promise<Response>) =>
    async (c: Context<Env>) => {
      const record = c.env.record;
      // In flight until its response body is sent: the scanner pauses meanwhile.
      const done = requestLoad.begin();
      return observed(record, await handle(c.req.raw, record), {
        onRequest(r) {
          done();
          observability.onRequest(r);
        },
      });
    };
  // Browsers read a response of another origin only with the bucket's CORS grant on it.
  const s3Request = served(async (request, record) => {
    const { method, headers } = request;
    return withCorsHeaders(
      await s3(request, record),
      { method, headers, bucket: record.bucket },
      buckets,
    );
  });
  const unavailable = (what: string): QueryHandler => () =>
    Promise.reject(new QueryError("InvalidAction", `${what} is not available on this server.`));
  const queryHandlers = {
    iam: deps.iam ? ((call) => iamResponse(call, deps.iam!)) as QueryHandler : unavailable("IAM"),
    sts: deps.iam
      ? ((call) => stsResponse(call, { store: deps.iam!, tokens })) as QueryHandler
      : unavailable("STS"),
  };
  const queryRequest = (service: QueryServiceName) =>
    served((request, record) =>
      serveQuery(request, rawTarget(request), service, {
        auth: authOptions,
        handlers: queryHandlers,
        requestId: record.trace.id,
        remoteAddr: record.remoteAddr,
        record,
      })
    );
  // Server endpoints live in path-style space, where the bucket name "flashstor" is reserved;
  // under a virtual-host-style Host the same path is an object key of that bucket.
  const serverEndpoint = (handler: (request: Request) => Promise<Response>) => (c: Context<Env>) =>
    hostBucket(c.req.header("host") ?? null, config.domains) === undefined
      ? handler(c.req.raw)
      : s3Request(c);
  hono.all(HEALTH_LIVE_PATH, serverEndpoint(health));
  hono.all(HEALTH_READY_PATH, serverEndpoint(health));
  hono.all(
    METRICS_PATH,
    serverEndpoint((request) => metricsResponse(request, observability.metrics, metricsAccess)),
  );
  const admin = serverEndpoint((request) =>
    adminResponse(request, { layer, auth: authOptions, keys: deps.keys })
  );
  // Matched on the raw path: "/b/../flashstor/admin/…" is an object key of bucket "b".
  hono.all(
    `${ADMIN_PREFIX}*`,
    (c) => isAdminTarget(rawTarget(c.req.raw)) ? admin(c) : s3Request(c),
  );
  // The IAM and STS Query APIs: a POST of "/" signed for their service (S3 has no such call).
  hono.post("/", (c) => {
    const service = hostBucket(c.req.header("host") ?? null, config.domains) === undefined
      ? queryService(c.req.raw, rawTarget(c.req.raw))
      : undefined;
    return service ? queryRequest(service)(c) : s3Request(c);
  });
  hono.all("*", s3Request);

  return {
    async fetch(request, info = {}) {
      const record: RequestRecord = {
        trace: new RequestTrace(),
        bucket: "",
        key: "",
        accessKey: "",
        status: 0,
        bytesIn: 0,
        bytesOut: 0,
        remoteAddr: info.remoteAddr ?? "",
        authFailed: false,
      };
      // Work this request starts carries its trace: an error that escapes every handler is
      // still logged with the request's id (crash-guard.ts).
      const response = await runInTrace(record.trace, () => hono.fetch(request, { record }));
      response.headers.set(REQUEST_ID_HEADER, record.trace.id);
      response.headers.set("x-amz-id-2", hostId);
      response.headers.set("server", "Flashstor");
      return response;
    },
  };
}

/** 127.0.0.0/8 and ::1, also in their IPv4-mapped form. */
function isLoopback(address: string): boolean {
  const v4 = address.replace(/^::ffff:/i, "");
  return v4.startsWith("127.") || address === "::1";
}
