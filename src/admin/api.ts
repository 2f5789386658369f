/**
 * The admin API, under ADMIN_PREFIX: server information, heals and the key service.
 *   GET  info          version, deployment id, drives, sets, heal queue, heal tasks, scanner, usage
 *   POST heal          starts a heal (JSON body or query: bucket, prefix, deep); its progress
 *   GET  heal          every heal task's progress
 *   GET  heal/<id>     one heal task's progress, to poll
 *   GET  kms/status    whether a key service is configured, and its default key id
 *   GET  kms/keys      every master key's status (id, current version, created, rotated)
 *   POST kms/keys/<id> creates a master key: its status; XFlashstorKMSKeyExists (409) if it exists
 *   GET  kms/keys/<id> its status; XFlashstorNoSuchKMSKey (404) if there is none
 *   POST kms/keys/<id>/rotate  a new version of the key, then a background pass re-sealing the
 *                      KEKs of the objects under it (kms/rewrap.ts): { key, rewrap }
 *   GET  kms/rewrap    the latest re-wrap pass of every key rotated since the server started
 * A key id is one path segment: its "/" is sent as %2F. Without a key service the kms/* APIs
 * other than kms/status answer 501 NotImplemented; a bad key id is InvalidArgument.
 * Requests are signed as S3 requests are (SigV4, the same auth path) and allowed to the root
 * user only, until IAM gives admin actions. Answers are JSON; errors are S3's XML error
 * documents, as everywhere else on this port.
 */
import { authenticate, type AuthOptions } from "../auth/sigv4.ts";
import { concatBytes } from "../bytes.ts";
import { rawTarget } from "../http/raw-target.ts";
import { InvalidKeyId, KeyExists, KeyNotFound, type KeyService } from "../kms/key-service.ts";
import { RewrapPasses } from "../kms/rewrap.ts";
import type { HealRequest, Maintenance, ObjectLayer } from "../object/layer.ts";
import { traceOfCurrentWork } from "../observe/trace.ts";
import { errorResponse, S3Error, toS3Error } from "../s3/errors.ts";
import { VERSION } from "../version.ts";

export const ADMIN_PREFIX = "/flashstor/admin/v1/";

/** A heal request body is a few fields: anything larger is refused unread. */
const MAX_BODY = 4096;
const TASK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the admin API serves: the object layer, and its maintenance when it has one. */
export type AdminLayer = ObjectLayer & Partial<Maintenance>;

export interface AdminDeps {
  layer: AdminLayer;
  auth: AuthOptions;
  /** The key service (FLASHSTOR_KMS_SECRET_KEY), for the kms/* APIs. */
  keys?: KeyService;
}

const NO_KEY_SERVICE = "the key service is not configured: set FLASHSTOR_KMS_SECRET_KEY";
/** Re-wrap passes outlive the request that started them: one set per key service. */
const rewrapPasses = new WeakMap<KeyService, RewrapPasses>();

/** Whether a raw request target is the admin API's (dot segments and all: as received). */
export function isAdminTarget(target: string): boolean {
  return target.startsWith(ADMIN_PREFIX);
}

export async function adminResponse(request: Request, deps: AdminDeps): Promise<Response> {
  const target = rawTarget(request);
  const [rawPath, rawQuery = ""] = splitOnce(target, "?");
  try {
    const auth = await authenticate({
      method: request.method,
      target,
      headers: request.headers,
      body: request.body,
    }, deps.auth);
    // Signed by someone else than the account root, or not at all.
    if (auth.principal.kind !== "root") throw new S3Error("AccessDenied");
    const path = rawPath.slice(ADMIN_PREFIX.length);
    const query = new URLSearchParams(rawQuery);
    const maintenance = maintenanceOf(deps.layer);
    if (path === "info") {
      allow(request.method, "GET");
      return json(await info(deps.layer, maintenance));
    }
    if (path === "heal" && request.method === "POST") {
      const body = await readSmallBody(auth.body, auth.contentLength);
      const heal = healRequest(query, body);
      return json(await need(maintenance).startHeal(heal));
    }
    if (path === "heal") {
      allow(request.method, "GET");
      return json({ tasks: need(maintenance).healTasks() });
    }
    if (path.startsWith("heal/")) {
      allow(request.method, "GET");
      const id = path.slice("heal/".length);
      if (!TASK_ID.test(id)) throw new S3Error("InvalidArgument", "Not a heal task id.");
      const progress = need(maintenance).healStatus(id);
      if (!progress) throw new S3Error("XFlashstorNoSuchHealTask");
      return json(progress);
    }
    if (path === "kms/status") {
      allow(request.method, "GET");
      return json(
        deps.keys
          ? { configured: true, defaultKeyId: deps.keys.defaultKeyId }
          : { configured: false, message: NO_KEY_SERVICE },
      );
    }
    if (path.startsWith("kms/")) return json(await kms(request.method, path.slice(4), deps));
    throw new S3Error("InvalidRequest", "Unknown admin API.");
  } catch (err) {
    const requestId = traceOfCurrentWork()?.id ?? "";
    const error = toS3Error(err);
    if (error.code === "InternalError") {
      console.error(`flashstor: InternalError in admin request ${requestId}:`, err);
    }
    return errorResponse(error, { resource: rawPath, requestId, method: request.method });
  }
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + 1)];
}

function allow(method: string, allowed: string): void {
  if (method !== allowed) throw new S3Error("MethodNotAllowed");
}

function maintenanceOf(layer: AdminLayer): Maintenance | undefined {
  const { startHeal, healStatus, healTasks } = layer;
  if (!startHeal || !healStatus || !healTasks) return undefined;
  return layer as Maintenance;
}

function need(maintenance: Maintenance | undefined): Maintenance {
  if (!maintenance) throw new S3Error("NotImplemented", "This server does not heal.");
  return maintenance;
}

/** The kms/* APIs but status: `path` is what follows "kms/". */
async function kms(method: string, path: string, deps: AdminDeps): Promise<unknown> {
  const keys = deps.keys;
  if (!keys) throw new S3Error("NotImplemented", NO_KEY_SERVICE);
  if (path === "rewrap") {
    allow(method, "GET");
    return { passes: passesOf(keys, deps.layer).list() };
  }
  if (path === "keys") {
    allow(method, "GET");
    return { keys: await keys.listKeys() };
  }
  const [encoded, action, ...rest] = path.startsWith("keys/") ? path.slice(5).split("/") : [];
  if (encoded === undefined || rest.length > 0 || (action !== undefined && action !== "rotate")) {
    throw new S3Error("InvalidRequest", "Unknown admin API (a key id's '/' is sent as %2F).");
  }
  const keyId = keyIdOf(encoded);
  try {
    if (action === "rotate") {
      allow(method, "POST");
      const key = await keys.rotateKey(keyId);
      return { key, rewrap: passesOf(keys, deps.layer).start(key) };
    }
    if (method === "POST") return await keys.createKey(keyId);
    allow(method, "GET");
    return await keys.keyStatus(keyId);
  } catch (err) {
    if (err instanceof KeyNotFound) {
      throw new S3Error("XFlashstorNoSuchKMSKey", `No master key ${keyId}.`);
    }
    if (err instanceof KeyExists) {
      throw new S3Error("XFlashstorKMSKeyExists", `The master key ${keyId} exists.`);
    }
    if (err instanceof InvalidKeyId) throw new S3Error("InvalidArgument", `${err.message}.`);
    throw err;
  }
}

function keyIdOf(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new S3Error("InvalidArgument", "The key id is not percent-encoded UTF-8.");
  }
}

function passesOf(keys: KeyService, layer: ObjectLayer): RewrapPasses {
  let passes = rewrapPasses.get(keys);
  if (!passes) rewrapPasses.set(keys, passes = new RewrapPasses(layer, keys));
  return passes;
}

async function info(layer: AdminLayer, maintenance: Maintenance | undefined) {
  const storage = await layer.storageInfo();
  return {
    version: VERSION,
    deploymentId: storage.deploymentId,
    drives: storage.drives.map(({ endpoint, state, total, free }) => ({
      endpoint,
      state,
      total,
      free,
    })),
    sets: storage.sets,
    healQueueLength: storage.healQueueLength,
    healTasks: maintenance?.healTasks(),
    scanner: layer.scannerStatus?.(),
    usage: layer.usage?.(),
  };
}

function json(value: unknown): Response {
  return new Response(JSON.stringify(value, null, 2) + "\n", {
    headers: { "content-type": "application/json" },
  });
}

/** The body as text, refused when longer than MAX_BODY (announced or sent). */
async function readSmallBody(
  body: ReadableStream<Uint8Array> | null,
  announced: number,
): Promise<string> {
  if (!body) return "";
  if (announced > MAX_BODY) {
    await body.cancel().catch(() => {});
    throw new S3Error("EntityTooLarge", `A heal request is at most ${MAX_BODY} bytes.`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > MAX_BODY) {
      throw new S3Error("EntityTooLarge", `A heal request is at most ${MAX_BODY} bytes.`);
    }
    chunks.push(chunk);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(concatBytes(chunks));
  } catch {
    throw badRequest("the body is not UTF-8");
  }
}

const badRequest = (why: string) => new S3Error("InvalidArgument", `Bad heal request: ${why}.`);

/** The heal asked for, from the query and/or a JSON object body (which wins). */
export function healRequest(query: URLSearchParams, body: string): HealRequest {
  const fields: Record<string, unknown> = {};
  for (const [name, value] of query) {
    if (name in fields) throw badRequest(`${name} given twice`);
    fields[name] = name === "deep" ? parseFlag(value) : value;
  }
  if (body.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw badRequest("the body is not JSON");
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw badRequest("the body is not a JSON object");
    }
    Object.assign(fields, parsed);
  }
  const { bucket, prefix, deep = false, ...rest } = fields;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw badRequest(`unknown field ${unknown[0]}`);
  if (bucket !== undefined && (typeof bucket !== "string" || bucket === "")) {
    throw badRequest("bucket must be a bucket name");
  }
  if (prefix !== undefined && typeof prefix !== "string") throw badRequest("prefix is no string");
  if (prefix && bucket === undefined) throw badRequest("a prefix needs a bucket");
  if (typeof prefix === "string" && new TextEncoder().encode(prefix).byteLength > 1024) {
    throw badRequest("prefix is longer than any key");
  }
  if (typeof deep !== "boolean") throw badRequest("deep must be true or false");
  return {
    ...(bucket === undefined ? {} : { bucket }),
    ...(prefix ? { prefix } : {}),
    deep,
  };
}

function parseFlag(value: string): boolean | string {
  if (value === "" || value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  return value;
}
