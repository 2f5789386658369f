/**
 * POST Object: a browser uploads a file with a multipart/form-data form whose fields carry a
 * SigV4-signed policy (verified by auth/post-policy.ts) instead of an Authorization header. The
 * fields before the file are read into memory; the file streams into the object layer like a
 * PutObject body, bounded by the policy's content-length-range, and nothing is stored unless the
 * policy, the size and any checksum hold.
 */

import { verifyPostPolicy } from "../auth/post-policy.ts";
import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { type Form, formBoundary, readForm } from "./form.ts";
import { metadataFromHeaders, STORED_HEADERS } from "./headers.ts";
import { requestedObjectAcl, withObjectAcl } from "./acl.ts";
import { accessDenied } from "./access.ts";
import { checkKey } from "./router.ts";
import { xmlResponse } from "./xml.ts";
import { versionHeader } from "./versioning.ts";
import type { ObjectInfo } from "../object/layer.ts";
import { requestedObjectSettings } from "./object-settings.ts";
import { requestedEncryption } from "./sse-request.ts";
import { newObjectKey, storedBody, withSealedKey } from "./sse.ts";

/** S3's limit for a POST upload. */
const MAX_POST_SIZE = 5 * 1024 ** 3;
/** A file that ends within this many bytes is stored with its size known (inline when small). */
const PEEK_BYTES = 1024 * 1024;
const NO_TRAILERS = Promise.resolve(new Headers());

/** Form fields that travel as the request headers of a PutObject, under those headers' names. */
const RENAMED: Record<string, string> = {
  "acl": "x-amz-acl",
  "tagging": "x-amz-tagging",
  "x-amz-checksum-algorithm": "x-amz-sdk-checksum-algorithm",
};
const AS_HEADERS = new Set<string>([
  ...STORED_HEADERS,
  "content-md5",
  "x-amz-storage-class",
  "x-amz-website-redirect-location",
]);
const HEADER_PREFIXES = ["x-amz-meta-", "x-amz-checksum-", "x-amz-server-side-encryption"];

/** The fields that describe the object (metadata, ACL, checksums) as request headers. */
function fieldHeaders(fields: Map<string, string>): Headers {
  const headers = new Headers();
  for (const [name, value] of fields) {
    const header = RENAMED[name] ??
      (AS_HEADERS.has(name) || HEADER_PREFIXES.some((p) => name.startsWith(p)) ? name : undefined);
    if (header === undefined) continue;
    try {
      headers.set(header, value);
    } catch {
      throw new S3Error("InvalidArgument", `The value of the form field ${name} is not valid.`);
    }
  }
  return headers;
}

function tooLarge(): S3Error {
  return new S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size");
}

function tooSmall(): S3Error {
  return new S3Error(
    "EntityTooSmall",
    "Your proposed upload is smaller than the minimum allowed size",
  );
}

/**
 * The file as a body of known size when it ends within PEEK_BYTES, else of unknown size (-1);
 * either way it errors (so nothing is stored) once it leaves [min, max].
 */
async function boundedBody(
  file: ReadableStream<Uint8Array>,
  min: number,
  max: number,
): Promise<{ body: ReadableStream<Uint8Array>; size: number }> {
  const reader = file.getReader();
  const head: Uint8Array[] = [];
  let count = 0;
  try {
    while (count <= PEEK_BYTES) {
      const { done, value } = await reader.read();
      if (done) {
        if (count < min) throw tooSmall();
        if (count > max) throw tooLarge();
        return { body: ReadableStream.from(head), size: count };
      }
      head.push(value);
      count += value.length;
      if (count > max) throw tooLarge();
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  }
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const first = head.shift();
      if (first !== undefined) return controller.enqueue(first);
      const { done, value } = await reader.read();
      if (done) {
        if (count < min) throw tooSmall();
        return controller.close();
      }
      count += value.length;
      if (count > max) {
        await reader.cancel(tooLarge()).catch(() => {});
        throw tooLarge();
      }
      controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
  return { body, size: -1 };
}

/** The URL of the stored object: the request's own URL (path or virtual-host style) + key. */
function objectLocation(request: Request, key: string): string {
  const url = new URL(request.url);
  const base = url.pathname.replace(/\/+$/, "");
  const path = key.split("/").map(encodeURIComponent).join("/");
  return `${url.origin}${base}/${path}`;
}

/** success_action_redirect (303), else success_action_status 200, 201 (PostResponse) or 204. */
async function success(
  ctx: S3Context,
  fields: Map<string, string>,
  key: string,
  info: ObjectInfo,
): Promise<Response> {
  const quoted = `"${info.etag}"`;
  const version = await versionHeader(ctx, info.versionId);
  const location = objectLocation(ctx.request, key);
  const redirect = fields.get("success_action_redirect") ?? fields.get("redirect");
  // As S3, a redirect that is not a URL is ignored in favour of the status.
  if (redirect !== undefined && URL.canParse(redirect)) {
    const query = `bucket=${encodeURIComponent(ctx.bucket)}&key=${encodeURIComponent(key)}` +
      `&etag=${encodeURIComponent(quoted)}`;
    const separator = redirect.includes("?") ? "&" : "?";
    return new Response(null, {
      status: 303,
      headers: { location: `${redirect}${separator}${query}`, etag: quoted, ...version },
    });
  }
  const headers = { etag: quoted, location, ...version };
  const status = fields.get("success_action_status");
  if (status === "201") {
    return xmlResponse("PostResponse", {
      Location: location,
      Bucket: ctx.bucket,
      Key: key,
      ETag: quoted,
    }, { status: 201, headers });
  }
  return new Response(null, { status: status === "200" ? 200 : 204, headers });
}

async function store(ctx: S3Context, form: Form): Promise<Response> {
  const fields = new Map([...form.fields].map(([name, value]) => [name.toLowerCase(), value]));
  const rawKey = fields.get("key");
  if (rawKey === undefined) {
    throw new S3Error(
      "InvalidArgument",
      "Bucket POST must contain a field named 'key'. If it is specified, please check the order of the fields.",
    );
  }
  const key = rawKey.replaceAll("${filename}", form.file.filename);
  if (key === "") {
    throw new S3Error("InvalidArgument", "User key must have a length greater than 0.");
  }
  checkKey(key);
  fields.set("key", key);
  const signed = Object.fromEntries(
    [...form.fields].map(([name, value]) => [name, name.toLowerCase() === "key" ? key : value]),
  );
  const policy = await verifyPostPolicy(signed, ctx.bucket, ctx.authOptions);
  // Authorized once the form's signature names who uploads (unsigned: anonymous).
  if (!await ctx.access.allowed("s3:PutObject", ctx.bucket, key, policy.principal)) {
    throw accessDenied();
  }
  const headers = fieldHeaders(fields);
  const settings = await requestedObjectSettings(ctx, "post", {
    key,
    headers,
    principal: policy.principal,
  });
  const metadata = withObjectAcl(
    settings(metadataFromHeaders(headers)),
    await requestedObjectAcl(ctx, { key, headers, principal: policy.principal }),
  );
  const objectKey = await newObjectKey(
    ctx,
    ctx.bucket,
    key,
    requestedEncryption(ctx, headers),
    policy.principal,
  );
  const verifier = checksumVerifier(requestChecksumSpec(headers, NO_TRAILERS));
  const range = policy.contentLengthRange;
  const { body, size } = await boundedBody(
    form.file.body,
    range?.min ?? 0,
    Math.min(range?.max ?? MAX_POST_SIZE, MAX_POST_SIZE),
  );
  const stored = storedBody(body.pipeThrough(verifier.transform), size, objectKey);
  const info = await ctx.layer.putObject(ctx.bucket, key, stored.body, {
    ...stored,
    metadata: withSealedKey(metadata, objectKey),
    finalMetadata: verifier.result,
  });
  return await success(ctx, fields, key, info);
}

export async function postObject(ctx: S3Context): Promise<Response> {
  const boundary = formBoundary(ctx.headers.get("content-type"));
  if (boundary === undefined) {
    throw new S3Error(
      "PreconditionFailed",
      "At least one of the pre-conditions you specified did not hold",
      { Condition: "Bucket POST must be of the enclosure-type multipart/form-data" },
    );
  }
  if (ctx.auth.body === null) throw new S3Error("MalformedPOSTRequest", "The POST has no body.");
  const form = await readForm(ctx.auth.body, boundary);
  try {
    return await store(ctx, form);
  } catch (err) {
    // Unread file bytes are not wanted once the upload has failed.
    await form.file.body.cancel(err).catch(() => {});
    throw err;
  }
}
