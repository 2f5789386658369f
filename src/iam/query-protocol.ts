/**
 * The AWS Query protocol that IAM and STS speak: `POST /` with a form-encoded body
 * (`Action=…&Version=…&…`), signed with SigV4 for the service `iam` or `sts`, answered with
 * `<{Action}Response><{Action}Result>…</…><ResponseMetadata>` XML, errors as
 * `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
 * S3 has no POST on the service root, so such a request is the Query API whenever the
 * credential scope names one of these services.
 */
import { createHash } from "node:crypto";
import type { Principal } from "./principal.ts";
import { authenticate, type AuthOptions } from "../auth/sigv4.ts";
import { AuthError } from "../auth/errors.ts";
import { concatBytes } from "../bytes.ts";
import type { RequestRecord } from "../observe/observer.ts";
import { renderXml, type XmlValue } from "../s3/xml.ts";

export const IAM_NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/";
export const STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/";

export type QueryServiceName = "iam" | "sts";

/** Elements of a result, rendered in order (see XmlValue). */
export type XmlFields = { [element: string]: XmlValue };

/** A Query API error: `code` and `message` go to the client as they are. */
export class QueryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
    readonly type: "Sender" | "Receiver" = "Sender",
  ) {
    super(message);
    this.name = "QueryError";
  }
}

/** A form body larger than this is refused unread (policies of 10,240 characters, encoded). */
export const MAX_QUERY_BODY = 128 * 1024;

/** An authenticated Query API call, as IAM's and STS's dispatchers take it. */
export interface QueryCall {
  action: string;
  /** Body and query-string parameters (the body's win). */
  params: URLSearchParams;
  principal: Principal;
  requestId: string;
  /** The client's address, for aws:SourceIp. */
  sourceIp: string;
  /** The request came over TLS (aws:SecureTransport). */
  secure: boolean;
  userAgent: string;
}

export type QueryHandler = (call: QueryCall) => Promise<Response>;

/** `{Action}Response` with its result (if any) and the request id. */
export function queryResponse(
  action: string,
  namespace: string,
  result: XmlFields | undefined,
  requestId: string,
): Response {
  const body: XmlFields = {};
  if (result !== undefined) body[`${action}Result`] = result;
  body.ResponseMetadata = { RequestId: requestId };
  return xml(renderXml(`${action}Response`, body, namespace), 200);
}

export function queryErrorResponse(
  error: QueryError,
  namespace: string,
  requestId: string,
): Response {
  const doc = renderXml("ErrorResponse", {
    Error: { Type: error.type, Code: error.code, Message: error.message },
    RequestId: requestId,
  }, namespace);
  return xml(doc, error.status);
}

function xml(text: string, status: number): Response {
  return new Response(text, { status, headers: { "content-type": "text/xml" } });
}

/**
 * The Query service a request is for: a POST of the path "/" whose SigV4 credential scope
 * names iam or sts; undefined for anything else (it is an S3 request).
 */
export function queryService(request: Request, target: string): QueryServiceName | undefined {
  if (request.method !== "POST") return undefined;
  const questionMark = target.indexOf("?");
  const path = questionMark < 0 ? target : target.slice(0, questionMark);
  if (path !== "/") return undefined;
  const authorization = request.headers.get("authorization") ?? "";
  const credential = /Credential=([^,\s]+)/.exec(authorization)?.[1] ??
    new URLSearchParams(questionMark < 0 ? "" : target.slice(questionMark + 1))
      .get("X-Amz-Credential");
  // <key>/<date>/<region>/<service>/aws4_request; a malformed one is refused as S3's.
  const service = credential?.split("/").at(-2);
  return service === "iam" || service === "sts" ? service : undefined;
}

/** The whole body, refused (QueryError) past `maxBytes` whether announced or sent. */
async function readBody(
  body: ReadableStream<Uint8Array> | null,
  length: string | null,
  maxBytes: number,
): Promise<Uint8Array> {
  const tooLarge = () =>
    new QueryError("RequestEntityTooLarge", `The request body exceeds ${maxBytes} bytes.`, 413);
  if (!body) return new Uint8Array();
  if (length !== null && Number(length) > maxBytes) {
    await body.cancel().catch(() => {});
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return concatBytes(chunks);
}

/** The form fields of `body` (form-encoded, UTF-8) over the query string's parameters. */
function formParams(target: string, contentType: string | null, body: Uint8Array): URLSearchParams {
  const questionMark = target.indexOf("?");
  const params = new URLSearchParams(questionMark < 0 ? "" : target.slice(questionMark + 1));
  if (body.byteLength === 0) return params;
  const mediaType = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/x-www-form-urlencoded") {
    throw new QueryError(
      "InvalidParameterValue",
      "The request body must be application/x-www-form-urlencoded.",
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw new QueryError("InvalidParameterValue", "The request body is not UTF-8.");
  }
  for (const [name, value] of new URLSearchParams(text)) params.set(name, value);
  return params;
}

/** The form of a Query request (body over query string), for a caller that authenticated it. */
export async function readQueryForm(request: Request, maxBytes: number): Promise<URLSearchParams> {
  const body = await readBody(request.body, request.headers.get("content-length"), maxBytes);
  return formParams(new URL(request.url).search, request.headers.get("content-type"), body);
}

/** HTTP status and Query code of a failed authentication, as IAM and STS answer them. */
function authFailure(err: AuthError): QueryError {
  switch (err.code) {
    case "InvalidAccessKeyId":
      return new QueryError(
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
      );
    case "SignatureDoesNotMatch":
    case "AccessDenied":
    case "RequestTimeTooSkewed":
    case "ExpiredToken":
    case "InvalidToken":
      return new QueryError(err.code, err.message, 403);
    default:
      return new QueryError(
        err.code === "AuthorizationHeaderMalformed" ? "IncompleteSignature" : err.code,
        err.message,
        400,
      );
  }
}

export interface QueryEndpoint {
  auth: AuthOptions;
  handlers: Record<QueryServiceName, QueryHandler>;
  requestId: string;
  remoteAddr: string;
  /** The audit/metrics record: filled with the operation ("iam:CreateUser"), the key, failures. */
  record: Pick<RequestRecord, "operation" | "accessKey" | "authFailed">;
}

/**
 * Serves one Query API request for `service`: reads the body (capped), checks its SigV4
 * signature for that service (the body's hash is signed even where no x-amz-content-sha256
 * header says so: botocore sends none outside S3), and hands the call to the service.
 */
export async function serveQuery(
  request: Request,
  target: string,
  service: QueryServiceName,
  endpoint: QueryEndpoint,
): Promise<Response> {
  const namespace = service === "iam" ? IAM_NAMESPACE : STS_NAMESPACE;
  try {
    const bytes = await readBody(
      request.body,
      request.headers.get("content-length"),
      MAX_QUERY_BODY,
    );
    let auth;
    try {
      auth = await authenticate({
        method: request.method,
        target,
        headers: request.headers,
        body: ReadableStream.from([bytes]),
        payloadHash: createHash("sha256").update(bytes).digest("hex"),
      }, { ...endpoint.auth, service });
      // Read through the verifying stream: a hash header that lies fails here.
      await new Response(auth.body).arrayBuffer();
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      endpoint.record.authFailed = true;
      throw authFailure(err);
    }
    endpoint.record.accessKey = auth.accessKey;
    if (auth.principal.kind === "anonymous") {
      throw new QueryError(
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
        403,
      );
    }
    const params = formParams(target, request.headers.get("content-type"), bytes);
    const action = params.get("Action");
    if (!action) throw new QueryError("MissingAction", "Missing Action parameter.");
    endpoint.record.operation = `${service}:${action}`;
    return await endpoint.handlers[service]({
      action,
      params,
      principal: auth.principal,
      requestId: endpoint.requestId,
      sourceIp: endpoint.remoteAddr,
      secure: new URL(request.url).protocol === "https:",
      userAgent: request.headers.get("user-agent") ?? "",
    });
  } catch (err) {
    if (err instanceof QueryError) return queryErrorResponse(err, namespace, endpoint.requestId);
    console.error(
      `flashstor: InternalError in ${endpoint.requestId} ${service} Query API:`,
      err instanceof Error ? err.stack : err,
    );
    return queryErrorResponse(
      new QueryError(
        "ServiceFailure",
        "The request failed for an internal reason.",
        500,
        "Receiver",
      ),
      namespace,
      endpoint.requestId,
    );
  }
}
