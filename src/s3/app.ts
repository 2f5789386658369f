/**
 * The S3 application as a plain fetch handler. Hono serves the health endpoints and hands
 * everything else to one S3 pipeline: route (router.ts) → authenticate (SigV4) → handler
 * (handlers.ts) → S3 error mapping. Every response carries x-amz-request-id, x-amz-id-2 and
 * Server; failures never leak details beyond their S3 code and message.
 */

import { Hono } from "hono";
import { authenticate } from "../auth/sigv4.ts";
import type { CredentialLookup } from "../auth/credentials.ts";
import type { Config } from "../config.ts";
import type { ObjectLayer } from "../object/layer.ts";
import { HEALTH_LIVE_PATH, HEALTH_READY_PATH, healthResponse } from "../observe/health.ts";
import { newRequestId } from "../observe/trace.ts";
import { rawTarget } from "../http/raw-target.ts";
import type { S3Context } from "./context.ts";
import { errorResponse, S3Error, toS3Error } from "./errors.ts";
import { HANDLERS } from "./handlers.ts";
import { route, type S3Operation } from "./router.ts";

/** What the observability module learns about each request once its response is sent. */
export interface RequestRecord {
  requestId: string;
  op?: S3Operation;
  bucket: string;
  key: string;
  /** "" for anonymous requests. */
  accessKey: string;
  status: number;
  /** Bytes of request body read (as sent, before aws-chunked decoding). */
  bytesIn: number;
  /** Bytes of response body sent. */
  bytesOut: number;
  startedAt: Date;
  /** Milliseconds spent checking the signature of the request head. */
  authMs: number;
  remoteAddr: string;
}

export interface RequestObserver {
  onRequest(info: RequestRecord): void;
}

export interface AppDeps {
  config: Config;
  layer: ObjectLayer;
  observer?: RequestObserver;
}

export interface App {
  fetch(request: Request, info?: { remoteAddr?: string }): Promise<Response>;
}

type Env = { Bindings: { record: RequestRecord } };

function counter(count: (bytes: number) => void, end: () => void) {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      count(chunk.byteLength);
      controller.enqueue(chunk);
    },
    flush: end,
    cancel: end,
  });
}

/**
 * Counts bytes of a request body as they are read, without reading ahead (a pipe through a
 * TransformStream pulls a first chunk at once): the front door sends 100 Continue only once the
 * body is first read, which must not happen before authentication.
 */
function countedLazily(
  body: ReadableStream<Uint8Array>,
  count: (bytes: number) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      count(value.byteLength);
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/** The resource an error document names: the decoded path when routing got that far. */
function resourceOf(target: string, bucket: string, key: string): string {
  if (bucket !== "") return key === "" ? `/${bucket}` : `/${bucket}/${key}`;
  return target.split("?", 1)[0];
}

export function createApp(deps: AppDeps): App {
  const { config, layer, observer } = deps;
  const lookup: CredentialLookup = (accessKey) =>
    accessKey === config.rootUser ? { accessKey, secretKey: config.rootPassword } : undefined;
  // One stable host id per process, as S3 names the host that served a request.
  const hostId = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

  const s3 = async (request: Request, record: RequestRecord): Promise<Response> => {
    const target = rawTarget(request);
    const method = request.method;
    try {
      const routed = route(
        method,
        target,
        request.headers.get("host"),
        config.domains,
        request.headers,
      );
      if (routed instanceof S3Error) throw routed;
      record.op = routed.op;
      record.bucket = routed.bucket;
      record.key = routed.key;
      const body = observer && request.body
        ? countedLazily(request.body, (n) => record.bytesIn += n)
        : request.body;
      const authStart = performance.now();
      const auth = await authenticate(
        { method, target, headers: request.headers, body },
        { lookup, region: config.region },
      );
      record.authMs = performance.now() - authStart;
      record.accessKey = auth.accessKey;
      if (auth.accessKey === "") throw new S3Error("AccessDenied");
      const ctx: S3Context = {
        request,
        requestId: record.requestId,
        bucket: routed.bucket,
        key: routed.key,
        query: routed.query,
        auth,
        layer,
        config,
      };
      return await HANDLERS[routed.op](ctx);
    } catch (err) {
      const error = toS3Error(err);
      if (error.code === "InternalError") {
        console.error(
          `flashstor: InternalError in ${record.requestId} ${method} ${target}:`,
          err instanceof Error ? err.stack : err,
        );
      }
      return errorResponse(error, {
        resource: resourceOf(target, record.bucket, record.key),
        requestId: record.requestId,
        method,
      });
    }
  };

  const hono = new Hono<Env>();
  const ready = () => layer.isWritable();
  const health = async (request: Request) =>
    await healthResponse(request, ready) ?? new Response(null, { status: 404 });
  hono.all(HEALTH_LIVE_PATH, (c) => health(c.req.raw));
  hono.all(HEALTH_READY_PATH, (c) => health(c.req.raw));
  hono.all("*", (c) => s3(c.req.raw, c.env.record));

  const finish = (record: RequestRecord, response: Response): Response => {
    if (!observer) return response;
    let reported = false;
    const report = () => {
      if (reported) return;
      reported = true;
      observer.onRequest(record);
    };
    record.status = response.status;
    if (response.body === null) {
      report();
      return response;
    }
    const body = response.body.pipeThrough(counter((n) => record.bytesOut += n, report));
    return new Response(body, response);
  };

  return {
    async fetch(request, info = {}) {
      const record: RequestRecord = {
        requestId: newRequestId(),
        bucket: "",
        key: "",
        accessKey: "",
        status: 0,
        bytesIn: 0,
        bytesOut: 0,
        startedAt: new Date(),
        authMs: 0,
        remoteAddr: info.remoteAddr ?? "",
      };
      const response = await hono.fetch(request, { record });
      response.headers.set("x-amz-request-id", record.requestId);
      response.headers.set("x-amz-id-2", hostId);
      response.headers.set("server", "Flashstor");
      return finish(record, response);
    },
  };
}
