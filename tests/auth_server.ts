/**
 * A tiny S3 endpoint for client round trips: Deno.serve on 127.0.0.1 running authenticate() and
 * the checksum verifier, keeping PUT bodies in memory and recording every request it accepted.
 */
import { type Credentials, rootPrincipal } from "../src/auth/credentials.ts";
import { AuthError } from "../src/auth/errors.ts";
import { authenticate } from "../src/auth/sigv4.ts";
import { checksumVerifier, requestChecksumSpec } from "../src/s3/checksum.ts";
import { readAll } from "./auth_vectors.ts";

export const KEYS: Credentials = {
  accessKey: "flashstortestkey",
  secretKey: "flashstor/test+secret/key0123456789",
  principal: rootPrincipal("123456789012", "flashstortestkey"),
};
export const REGION = "us-east-1";

export interface Received {
  method: string;
  target: string;
  contentSha256: string | null;
  data: Uint8Array<ArrayBuffer>;
  checksums: Record<string, string>;
}

function errorResponse(err: AuthError): Response {
  const status =
    ["BadDigest", "InvalidDigest", "InvalidRequest", "IncompleteBody"].includes(err.code)
      ? 400
      : 403;
  const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${err.code}</Code>` +
    `<Message>${err.message.replace(/[<&]/g, "")}</Message></Error>`;
  return new Response(xml, { status, headers: { "content-type": "application/xml" } });
}

export async function withServer(fn: (endpoint: string, received: Received[]) => Promise<void>) {
  const received: Received[] = [];
  const stored = new Map<string, Uint8Array<ArrayBuffer>>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    // Deno.serve keeps the raw request target in req.url; new URL() would normalise it.
    const target = req.url.slice(req.url.indexOf("/", "http://".length));
    try {
      const auth = await authenticate(
        { method: req.method, target, headers: req.headers, body: req.body },
        { lookup: (key) => key === KEYS.accessKey ? KEYS : undefined, region: REGION },
      );
      const verifier = checksumVerifier(requestChecksumSpec(req.headers, auth.trailers));
      const data = await readAll(auth.body?.pipeThrough(verifier.transform) ?? null);
      received.push({
        method: req.method,
        target,
        contentSha256: req.headers.get("x-amz-content-sha256"),
        data,
        checksums: verifier.result(),
      });
      const path = target.split("?")[0];
      if (req.method === "PUT") stored.set(path, data);
      const object = stored.get(path) ?? new Uint8Array();
      const headers = {
        etag: '"0"',
        "last-modified": "Sun, 22 Nov 2026 00:00:00 GMT",
        "content-length": String(object.length),
      };
      if (req.method === "GET") return new Response(object, { headers });
      if (req.method === "HEAD") return new Response(null, { headers });
      if (req.method === "POST") {
        return new Response('<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>');
      }
      return new Response(null, { headers: { etag: '"0"' } });
    } catch (err) {
      if (err instanceof AuthError) return errorResponse(err);
      throw err;
    }
  });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, received);
  } finally {
    await server.shutdown();
  }
}
