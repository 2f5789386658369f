/**
 * Bucket versioning over HTTP: Put/GetBucketVersioning (the state lives in the bucket-metadata
 * store, where the object layer reads it on every write), the version a request names
 * (?versionId=) and the x-amz-version-id header of responses.
 */

import type { VersioningState } from "../object/layer.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import { checksummedBody, malformedXml } from "./bucket-settings.ts";
import { child, parseXml, xmlResponse } from "./xml.ts";

/** Far more than the largest legal document (a root, Status and MfaDelete). */
const MAX_VERSIONING_BYTES = 4096;
const MAX_VERSIONING_ELEMENTS = 8;
/** What a VersioningConfiguration may hold, each at most once. */
const ELEMENTS = new Set(["Status", "MfaDelete"]);

/** The state a VersioningConfiguration asks for; undefined: no Status (nothing to change). */
function parseVersioning(text: string): VersioningState | undefined {
  const root = parseXml(text, MAX_VERSIONING_ELEMENTS);
  if (root.name !== "VersioningConfiguration") {
    throw malformedXml("the root element is not VersioningConfiguration");
  }
  const names = root.children.map((element) => element.name);
  const unknown = names.find((name, i) => !ELEMENTS.has(name) || names.indexOf(name) !== i);
  if (unknown !== undefined) throw malformedXml(`unexpected or repeated element ${unknown}`);
  const mfaDelete = child(root, "MfaDelete")?.text.trim();
  if (mfaDelete === "Enabled") {
    throw new S3Error(
      "NotImplemented",
      "MFA delete cannot be enabled: this server has no MFA devices to authenticate deletions.",
    );
  }
  if (mfaDelete !== undefined && mfaDelete !== "Disabled") {
    throw malformedXml(`MfaDelete is ${mfaDelete.slice(0, 32)}, not Enabled or Disabled`);
  }
  const status = child(root, "Status")?.text.trim();
  if (status === undefined) return undefined;
  if (status !== "Enabled" && status !== "Suspended") {
    throw malformedXml(`Status is ${status.slice(0, 32)}, not Enabled or Suspended`);
  }
  return status;
}

export async function putBucketVersioning(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  // AWS requires Content-MD5 or an x-amz-checksum-* (the SDKs and the CLI send one).
  const text = await readRequestText(checksummedBody(ctx), MAX_VERSIONING_BYTES);
  if (text.trim() === "") throw new S3Error("MalformedXML");
  const state = parseVersioning(text);
  if (state === undefined) return new Response(null, { status: 200 });
  await ctx.buckets.update(ctx.bucket, (current) => {
    if (state === "Suspended" && current.objectLock !== undefined) {
      throw new S3Error(
        "InvalidBucketState",
        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
      );
    }
    return { ...current, versioning: state };
  });
  return new Response(null, { status: 200 });
}

export async function getBucketVersioning(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const state = await ctx.buckets.versioning(ctx.bucket);
  return xmlResponse("VersioningConfiguration", { Status: state });
}

/** The version a request names with ?versionId= (undefined: the current one). */
export function requestedVersionId(ctx: S3Context): string | undefined {
  const versionId = ctx.route.versionId;
  if (versionId === "") {
    throw new S3Error("InvalidArgument", "Version id cannot be the empty string", {
      ArgumentName: "versionId",
      ArgumentValue: "",
    });
  }
  return versionId;
}

/**
 * The x-amz-version-id header for a response about `versionId` of `bucket`: none in a bucket
 * that never had versioning (AWS), where every object is the null version.
 */
export async function versionHeader(
  ctx: S3Context,
  versionId: string | undefined,
  bucket = ctx.bucket,
): Promise<Record<string, string>> {
  if (versionId === undefined) return {};
  if (versionId === "null" && await ctx.buckets.versioning(bucket) === undefined) return {};
  return { "x-amz-version-id": versionId };
}
