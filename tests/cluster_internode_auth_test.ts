/**
 * The internode API refuses everyone but a node of the deployment: a real InternodeRouter on a
 * real Deno.serve, hostile requests made by hand (jose for tokens that are well signed but
 * outside the clock-skew window).
 */
import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { hkdfSync } from "node:crypto";
import { SignJWT } from "jose";
import { InternodeAuth, type RootCredentials } from "../src/cluster/internode-auth.ts";
import { INTERNODE_PREFIX, InternodeRouter } from "../src/cluster/internode.ts";
import { ACCESS_KEY, SECRET_KEY } from "./helpers/server.ts";
import { freePorts } from "./helpers/cluster.ts";
import { spawnNode } from "./helpers/cluster-node.ts";

const ROOT: RootCredentials = { accessKey: ACCESS_KEY, secretKey: SECRET_KEY };
const AUDIENCE = "flashstor-internode-v1";

/** The deployment's token key, derived as every node derives it from the root credentials. */
function tokenKey(root: RootCredentials): Uint8Array {
  const material = new TextEncoder().encode(`${root.accessKey}\n${root.secretKey}`);
  return new Uint8Array(hkdfSync("sha256", material, AUDIENCE, "internode-token", 32));
}

/** A token signed with the right key, issued `issuedAgoS` seconds ago, valid `ttlS` more. */
function tokenAt(issuedAgoS: number, ttlS: number, key = tokenKey(ROOT)): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer("127.0.0.1:1")
    .setAudience(AUDIENCE)
    .setIssuedAt(now - issuedAgoS)
    .setExpirationTime(now + ttlS)
    .sign(key);
}

/** A SigV4 Authorization header as an S3 client with the root credentials sends it. */
const SIGV4 = `AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/20261206/us-east-1/s3/aws4_request, ` +
  `SignedHeaders=host;x-amz-date, Signature=${"0".repeat(64)}`;

/**
 * Hostile requests a node must refuse with a 403 JSON InternodeAccessDenied: what each sends
 * as Authorization, and a phrase of the reason it gets.
 */
async function forgedRequests(): Promise<[string, string | undefined, string][]> {
  const other = new InternodeAuth({ accessKey: "intruder", secretKey: "intruder-secret" }, "x:1");
  const guessed = crypto.getRandomValues(new Uint8Array(32));
  return [
    ["anonymous", undefined, "missing internode token"],
    ["garbage token", "Bearer not-a-jwt", "malformed"],
    ["not a bearer token", "Basic dGVzdDp0ZXN0", "malformed"],
    ["oversized token", `Bearer ${"a".repeat(4096)}`, "malformed"],
    ["S3 SigV4 root credentials", SIGV4, "S3 credentials"],
    ["S3 SigV2 root credentials", `AWS ${ACCESS_KEY}:c2lnbmF0dXJl`, "S3 credentials"],
    ["other root credentials", await other.authorization(), "other root credentials"],
    ["unsigned (alg none)", `Bearer ${unsignedToken()}`, "malformed"],
    ["issued 2 minutes ago, not expired", `Bearer ${await tokenAt(120, 60)}`, "clocks differ"],
    ["issued 30 s in the future", `Bearer ${await tokenAt(-30, 90)}`, "clocks differ"],
    ["expired 10 s ago", `Bearer ${await tokenAt(70, -10)}`, "clocks differ"],
    ["signed with a guessed key", `Bearer ${await tokenAt(0, 60, guessed)}`, "other root"],
  ];
}

function unsignedToken(): string {
  const b64 = (v: unknown) => btoa(JSON.stringify(v)).replace(/=+$/, "");
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: "none" })}.${b64({ iss: "x:1", aud: AUDIENCE, iat: now, exp: now + 60 })}.`;
}

async function withRouter(fn: (base: string, auth: InternodeAuth) => Promise<void>) {
  const auth = new InternodeAuth(ROOT, "127.0.0.1:0");
  const router = new InternodeRouter(auth);
  router.register("bootstrap", () => Promise.resolve(Response.json({ reached: true })));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => router.handle(request),
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}${INTERNODE_PREFIX}`, auth);
  } finally {
    await server.shutdown();
  }
}

Deno.test("internode API: forged, foreign, skewed, S3-signed and anonymous requests get 403 JSON", async () => {
  await withRouter(async (base, auth) => {
    for (const [name, authorization, reason] of await forgedRequests()) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      for (const method of ["GET", "POST"]) {
        const response = await fetch(`${base}bootstrap/verify`, {
          method,
          headers,
          body: method === "POST" ? "x".repeat(1000) : undefined,
        });
        const body = await response.json();
        assertEquals(response.status, 403, `${name} (${method})`);
        assertEquals(body.code, "InternodeAccessDenied", name);
        assertStringIncludes(body.message, reason, name);
      }
    }
    // The same endpoint with a node's token is reached.
    const ok = await fetch(`${base}bootstrap/verify`, {
      headers: { authorization: await auth.authorization() },
    });
    assertEquals(await ok.json(), { reached: true });
  });
});

Deno.test("internode API: a node's token reaches only the services that exist", async () => {
  await withRouter(async (base, auth) => {
    const authorization = await auth.authorization();
    for (const path of ["nosuch/x", "storage/readAll", "", "%zz/x"]) {
      const response = await fetch(`${base}${path}`, { headers: { authorization } });
      const body = await response.json();
      assertEquals(response.status, 404, path);
      assertEquals(typeof body.code, "string");
    }
  });
});

Deno.test("internode API of a real node (waiting for its peers): every forged request is a 403 JSON, the node lives on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flashstor-auth-" });
  const ports = freePorts(4);
  const drives = ports.map((p, i) => `http://127.0.0.1:${p}${dir}/n${i + 1}/d{1...2}`);
  const node = spawnNode(drives, ports[0]);
  try {
    await node.waitFor(/bootstrap: waiting for node/);
    const base = `${node.endpoint}${INTERNODE_PREFIX}`;
    for (const [name, authorization, reason] of await forgedRequests()) {
      for (const path of ["bootstrap/verify", "storage/readAll?drive=/etc", "lock/lock"]) {
        const response = await fetch(`${base}${path}`, {
          method: "POST",
          headers: authorization ? { authorization } : {},
          body: "{}",
        });
        const body = await response.json();
        assertEquals(response.status, 403, `${name}: ${path}`);
        assertEquals(body.code, "InternodeAccessDenied", name);
        assertStringIncludes(body.message, reason, name);
      }
    }
    assertEquals(node.alive(), true);
    // S3 meanwhile: a 503 that says what the node waits for; liveness answers.
    const s3 = await fetch(`${node.endpoint}/`);
    assertEquals(s3.status, 503);
    assertStringIncludes(await s3.text(), "waiting for 2 more of 4 nodes");
    const live = await fetch(`${node.endpoint}/flashstor/health/live`);
    await live.body?.cancel();
    assertEquals(live.status, 200);
    assertEquals(node.output().includes("    at "), false, "no stack trace in the log");
  } finally {
    await node.kill();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
