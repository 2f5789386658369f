/**
 * What the key-service tests share: root keys, the search of every file below a directory for
 * secrets (raw, base64, hex), and signed admin API calls.
 */
import { Buffer } from "node:buffer";
import type { KmsSecretKey } from "../src/config.ts";
import { signRequest } from "../src/auth/sign-request.ts";
import { snapshot } from "./fault_util.ts";
import { ACCESS_KEY, SECRET_KEY, type TestServer } from "./helpers/server.ts";

export const ADMIN = "/flashstor/admin/v1/";

/** A fresh root key named `name`. */
export function rootKey(name = "test-root"): KmsSecretKey {
  return { name, key: crypto.getRandomValues(new Uint8Array(32)) };
}

/** The server environment that gives it `root` as FLASHSTOR_KMS_SECRET_KEY. */
export function kmsEnv(root: KmsSecretKey): Record<string, string> {
  return { FLASHSTOR_KMS_SECRET_KEY: `${root.name}:${Buffer.from(root.key).toString("base64")}` };
}

/**
 * Where any of `secrets` (by name) is found in the files below `dir`, raw or as base64 or hex:
 * "name form: path" lines, empty when nowhere.
 */
export async function foundUnder(
  dir: string,
  secrets: Record<string, Uint8Array>,
): Promise<string[]> {
  const files = await snapshot(dir);
  if (files.size === 0) throw new Error(`no files below ${dir}`);
  const found: string[] = [];
  for (const [name, secret] of Object.entries(secrets)) {
    const forms = {
      raw: secret,
      base64: new TextEncoder().encode(Buffer.from(secret).toString("base64")),
      hex: new TextEncoder().encode(Buffer.from(secret).toString("hex")),
    };
    for (const [form, needle] of Object.entries(forms)) {
      for (const [path, bytes] of files) {
        if (Buffer.from(bytes).indexOf(needle) >= 0) found.push(`${name} ${form}: ${path}`);
      }
    }
  }
  return found;
}

export interface AdminAnswer {
  status: number;
  text: string;
  /** The parsed body of a 2xx answer. */
  json?: Record<string, unknown>;
}

/** A root-signed admin API call; `api` is the path after ADMIN (raw: encode key ids). */
export async function adminCall(
  server: TestServer,
  method: string,
  api: string,
): Promise<AdminAnswer> {
  const target = {
    endpoint: server.endpoint,
    accessKey: ACCESS_KEY,
    secretKey: SECRET_KEY,
    region: "us-east-1",
  };
  const headers = signRequest(target, method, ADMIN + api);
  const response = await fetch(server.endpoint + ADMIN + api, { method, headers });
  const text = await response.text();
  return { status: response.status, text, json: response.ok ? JSON.parse(text) : undefined };
}
