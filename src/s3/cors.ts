/**
 * Bucket CORS configuration (issue 13, helper E).
 */
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";

const pending = (ctx: S3Context) =>
  Promise.reject(new S3Error("NotImplemented", `${ctx.route.op} is being built (issue 13)`));

export const getBucketCors = pending;
export const putBucketCors = pending;
export const deleteBucketCors = pending;
