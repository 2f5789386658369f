/**
 * Object lock: the bucket's configuration, retention, legal hold (issue 13, helper C).
 */
import type { S3Context } from "./context.ts";
import { S3Error } from "./errors.ts";

const pending = (ctx: S3Context) =>
  Promise.reject(new S3Error("NotImplemented", `${ctx.route.op} is being built (issue 13)`));

export const getObjectLockConfiguration = pending;
export const putObjectLockConfiguration = pending;
export const getObjectRetention = pending;
export const putObjectRetention = pending;
export const getObjectLegalHold = pending;
export const putObjectLegalHold = pending;
