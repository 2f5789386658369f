/**
 * The built-in policies MinIO users expect by name: `readonly`, `readwrite`, `writeonly`.
 * MinIO's documents, except that `readonly` also allows s3:ListBucket: MinIO's lets a user
 * read an object only if the key is known, and users (and this project's issue) expect
 * "read-only" to include listing.
 */

import type { PolicyDocument } from "./document.ts";
import { parsePolicy } from "./parse.ts";

const allowAll = (actions: string[]): string =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: actions, Resource: ["arn:aws:s3:::*"] }],
  });

export const BUILTIN_POLICIES: ReadonlyMap<string, PolicyDocument> = new Map([
  ["readonly", allowAll(["s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket"])],
  ["readwrite", allowAll(["s3:*"])],
  ["writeonly", allowAll(["s3:PutObject"])],
].map(([name, text]) => [name, parsePolicy(text, "identity")]));
