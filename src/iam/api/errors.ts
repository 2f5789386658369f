/** IAM's error codes and statuses (all of type Sender), with AWS's messages. */
import { QueryError } from "../query-protocol.ts";

export const noSuchEntity = (message: string) => new QueryError("NoSuchEntity", message, 404);
export const entityExists = (message: string) =>
  new QueryError("EntityAlreadyExists", message, 409);
export const deleteConflict = (message: string) => new QueryError("DeleteConflict", message, 409);
export const limitExceeded = (message: string) => new QueryError("LimitExceeded", message, 409);
export const malformedPolicy = (message: string) =>
  new QueryError("MalformedPolicyDocument", message, 400);
export const validationError = (message: string) => new QueryError("ValidationError", message, 400);
export const invalidInput = (message: string) => new QueryError("InvalidInput", message, 400);
export const accessDenied = (message: string) => new QueryError("AccessDenied", message, 403);
