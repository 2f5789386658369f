/**
 * The TLS certificate of the server: `public.crt` and `private.key` in the certs dir (MinIO's
 * names). No certs dir, or an empty one, means plain HTTP; anything else that is not a
 * matching certificate and key is refused, naming the file, rather than silently serving plain
 * HTTP to clients that meant to use TLS.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { join } from "node:path";
import type { TlsFiles } from "../http/front-door.ts";

export const CERT_FILE = "public.crt";
export const KEY_FILE = "private.key";
/** MinIO's folder of trusted CAs beside the certificate; not ours to read, not a mistake. */
const CA_DIR = "CAs";

/** The certs dir holds something, but not a usable certificate: the server must not start. */
export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateError";
  }
}

/**
 * Reads and checks the certificate pair of `dir`; undefined when there is none to read (dir
 * missing or empty, or not readable under Deno's permissions: then the caller is told so).
 */
export async function loadCertificates(dir: string): Promise<TlsFiles | undefined> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!(entry.isDirectory && entry.name === CA_DIR)) names.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  if (names.length === 0) return undefined;
  const missing = [CERT_FILE, KEY_FILE].filter((name) => !names.includes(name));
  if (missing.length === 2) {
    throw new CertificateError(
      `certs dir ${dir} holds ${names.sort().join(", ")} but no ${CERT_FILE} and ${KEY_FILE}: ` +
        `TLS needs both (PEM); for plain HTTP leave the dir empty`,
    );
  }
  if (missing.length === 1) {
    throw new CertificateError(
      `${join(dir, missing[0])} is missing: TLS needs both ${CERT_FILE} and ${KEY_FILE} (PEM); ` +
        `for plain HTTP leave ${dir} empty`,
    );
  }
  const [cert, key] = await Promise.all([CERT_FILE, KEY_FILE].map((name) => readPem(dir, name)));
  const certificate = parse(dir, CERT_FILE, () => new X509Certificate(cert));
  const privateKey = parse(dir, KEY_FILE, (): KeyObject => createPrivateKey(key));
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new CertificateError(
      `${join(dir, KEY_FILE)} is not the key of ${join(dir, CERT_FILE)} (${certificate.subject})`,
    );
  }
  return { cert, key };
}

async function readPem(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  const info = await Deno.stat(path);
  if (!info.isFile) throw new CertificateError(`${path} is not a file`);
  return await Deno.readTextFile(path);
}

function parse<T>(dir: string, name: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    const what = name === CERT_FILE ? "a PEM certificate" : "a PEM private key";
    throw new CertificateError(
      `${join(dir, name)} is not ${what} (${err instanceof Error ? err.message : err})`,
    );
  }
}
