/**
 * Object and bucket tagging (issue 13, helper C).
 */
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";

const pending = (ctx: S3Context) =>
  Promise.reject(new S3Error("NotImplemented", `${ctx.route.op} is being built (issue 13)`));

export const putObjectTagging = pending;
export const deleteObjectTagging = pending;
export const getBucketTagging = pending;
export const putBucketTagging = pending;
export const deleteBucketTagging = pending;
