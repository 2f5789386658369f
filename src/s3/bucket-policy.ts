/**
 * Bucket policies: Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus. A policy is parsed
 * (the whole policy language, a Principal required) and checked to speak only of this bucket
 * before it is stored, as put, in the bucket-metadata store; the authorizer reads it from there.
 */

import { isPublicPolicy } from "../iam/public-policy.ts";
import type { PolicyDocument } from "../iam/policy/document.ts";
import { MalformedPolicy, parsePolicy } from "../iam/policy/parse.ts";
import { checksumVerifier, requestChecksumSpec } from "./checksum.ts";
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";
import { readRequestText } from "./multipart.ts";
import { xmlResponse } from "./xml.ts";

/** AWS's limit on a bucket policy's size. */
const MAX_POLICY_BYTES = 20 * 1024;

const tooLarge = () =>
  new S3Error("PolicyTooLarge", `Policies must be no larger than ${MAX_POLICY_BYTES} bytes.`);

async function policyText(ctx: S3Context): Promise<string> {
  if (ctx.auth.contentLength > MAX_POLICY_BYTES) throw tooLarge();
  // Content-MD5 / x-amz-checksum-* the SDKs send are checked as for any body.
  const verifier = checksumVerifier(requestChecksumSpec(ctx.headers, ctx.auth.trailers));
  const body = ctx.auth.body?.pipeThrough(verifier.transform) ?? null;
  try {
    return await readRequestText(body, MAX_POLICY_BYTES);
  } catch (err) {
    // The helper's only refusal of a readable body is its size.
    if (err instanceof S3Error && err.code === "MalformedXML") throw tooLarge();
    throw err;
  }
}

/** Every Resource and NotResource must be the bucket or objects in it, as AWS requires. */
function checkResources(policy: PolicyDocument, bucket: string): void {
  const arn = `arn:aws:s3:::${bucket}`;
  for (const statement of policy.statements) {
    for (const resource of [...statement.resource ?? [], ...statement.notResource ?? []]) {
      if (resource !== arn && !resource.startsWith(`${arn}/`)) {
        throw new MalformedPolicy(`Policy has invalid resource: ${resource}`);
      }
    }
  }
}

/** The parsed policy of a PUT; MalformedPolicy with the reason when it is not acceptable. */
function parseBucketPolicy(text: string, bucket: string): PolicyDocument {
  try {
    const policy = parsePolicy(text, "resource");
    checkResources(policy, bucket);
    return policy;
  } catch (err) {
    if (err instanceof MalformedPolicy) throw new S3Error("MalformedPolicy", err.message);
    throw err;
  }
}

export async function putBucketPolicy(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const text = await policyText(ctx);
  const policy = parseBucketPolicy(text, ctx.bucket);
  await ctx.buckets.update(ctx.bucket, (current) => {
    if (current.publicAccessBlock?.blockPublicPolicy && isPublicPolicy(policy)) {
      throw new S3Error("AccessDenied");
    }
    return { ...current, policy: text };
  });
  return new Response(null, { status: 204 });
}

async function storedPolicy(ctx: S3Context): Promise<string> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  const text = (await ctx.buckets.get(ctx.bucket)).policy;
  if (text === undefined) {
    throw new S3Error("NoSuchBucketPolicy", "The bucket policy does not exist", {
      BucketName: ctx.bucket,
    });
  }
  return text;
}

export async function getBucketPolicy(ctx: S3Context): Promise<Response> {
  const text = await storedPolicy(ctx);
  return new Response(text, { headers: { "content-type": "application/json" } });
}

export async function deleteBucketPolicy(ctx: S3Context): Promise<Response> {
  await ctx.layer.getBucketInfo(ctx.bucket);
  await ctx.buckets.update(ctx.bucket, (current) => ({ ...current, policy: undefined }));
  return new Response(null, { status: 204 });
}

export async function getBucketPolicyStatus(ctx: S3Context): Promise<Response> {
  const policy = parsePolicy(await storedPolicy(ctx), "resource");
  return xmlResponse("PolicyStatus", { IsPublic: isPublicPolicy(policy) });
}
