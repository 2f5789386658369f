/**
 * Encryption at rest, the cipher: AES-256-GCM over 64 KiB packages for a 256 MiB stream with
 * each engine at hand (Web Crypto, node:crypto, OpenSSL's libcrypto and Intel's IPsec-MB through
 * FFI), then the package streams themselves, against a pass-through of the same stream in the
 * same run; and the cost of key derivation and key seals.
 * Run: .deno/bin/deno run -A bench/crypto.ts   (add --deny-ffi to see the Web Crypto engine)
 * MB/s count plaintext bytes (10^6 per MB).
 */

import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";
import { aesGcm } from "../src/crypto/engine.ts";
import { type GcmEngine, webCryptoGcm } from "../src/crypto/gcm.ts";
import { openSslGcm } from "../src/crypto/openssl-gcm.ts";
import { ipsecMbGcm } from "../src/crypto/ipsec-mb-gcm.ts";
import { partKey, sealObjectKey, unsealObjectKey } from "../src/crypto/object-key.ts";
import { decrypting, planDecryption } from "../src/crypto/object-stream.ts";
import { startCipherThread } from "../src/crypto/cipher-thread.ts";
import { PACKAGE_SIZE, packageAad } from "../src/crypto/packages.ts";
import { encryptingStream } from "../src/crypto/encrypting-stream.ts";

const TOTAL = 256 * 1024 * 1024;
const PACKAGES = TOTAL / PACKAGE_SIZE;

export interface Figure {
  name: string;
  mbps: number;
}

async function mbps(run: () => unknown): Promise<number> {
  const start = performance.now();
  await run();
  return TOTAL / 1e6 / ((performance.now() - start) / 1000);
}

function chunks(list: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < list.length) controller.enqueue(list[i++]);
      else controller.close();
    },
  });
}

async function sink(stream: ReadableStream<Uint8Array>, keep?: Uint8Array[]): Promise<void> {
  for await (const chunk of stream) keep?.push(chunk);
}

/** Seals (then opens) every package with `engine`, keeping `depth` operations in flight. */
async function engineFigures(engine: GcmEngine, depth: number, plain: Uint8Array) {
  const key = await engine.importKey(crypto.getRandomValues(new Uint8Array(32)));
  const nonce = new Uint8Array(12);
  const aad = packageAad(0, false);
  const sealed = await key.seal(nonce, aad, plain);
  const repeat = async (op: () => unknown) => {
    const inFlight: unknown[] = [];
    for (let i = 0; i < PACKAGES; i++) {
      inFlight.push(op());
      if (inFlight.length >= depth) await inFlight.shift();
    }
    await Promise.all(inFlight);
  };
  const label = `${engine.name}${depth > 1 ? `, ${depth} in flight` : ""}`;
  return [
    { name: `${label}: seal`, mbps: await mbps(() => repeat(() => key.seal(nonce, aad, plain))) },
    { name: `${label}: open`, mbps: await mbps(() => repeat(() => key.open(aad, sealed))) },
  ];
}

function nodeCryptoFigures(plain: Uint8Array): Promise<Figure[]> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = new Uint8Array(12);
  const aad = packageAad(0, false);
  const seal = () => {
    const cipher = createCipheriv("aes-256-gcm", key, nonce).setAAD(aad);
    return [cipher.update(plain), cipher.final(), cipher.getAuthTag()];
  };
  const [ciphertext, , tag] = seal();
  const open = () => {
    const decipher = createDecipheriv("aes-256-gcm", key, nonce).setAAD(aad).setAuthTag(tag);
    return [decipher.update(ciphertext), decipher.final()];
  };
  const loop = (op: () => unknown) => () => {
    for (let i = 0; i < PACKAGES; i++) op();
  };
  return Promise.all([
    mbps(loop(seal)).then((v) => ({ name: "node:crypto: seal", mbps: v })),
  ]).then(async (figures) => [
    ...figures,
    { name: "node:crypto: open", mbps: await mbps(loop(open)) },
  ]);
}

export async function measureCipher(): Promise<Figure[]> {
  const plain = crypto.getRandomValues(new Uint8Array(PACKAGE_SIZE));
  const input = Array.from({ length: PACKAGES }, () => plain);
  const figures: Figure[] = [
    {
      name: "baseline: memcpy of each 64 KiB chunk",
      mbps: await mbps(() => {
        for (const chunk of input) chunk.slice();
      }),
    },
    {
      name: "baseline: pass-through TransformStream",
      mbps: await mbps(() => sink(chunks(input).pipeThrough(new TransformStream()))),
    },
  ];
  figures.push(...await engineFigures(webCryptoGcm, 1, plain));
  figures.push(...await engineFigures(webCryptoGcm, 4, plain));
  figures.push(...await nodeCryptoFigures(plain));
  const openSsl = openSslGcm();
  if (openSsl) figures.push(...await engineFigures(openSsl, 1, plain));
  const ipsecMb = ipsecMbGcm();
  if (ipsecMb) figures.push(...await engineFigures(ipsecMb, 1, plain));

  const key = crypto.getRandomValues(new Uint8Array(32));
  // A known size under a MiB per stream keeps it on this thread.
  figures.push({
    name: `encryptingStream (${aesGcm.name}, this thread)`,
    mbps: await mbps(() => sink(chunks(input).pipeThrough(encryptingStream(key, 0)))),
  });
  if (await startCipherThread()) {
    figures.push({
      name: "encryptingStream (openssl, the cipher thread)",
      mbps: await mbps(() => sink(chunks(input).pipeThrough(encryptingStream(key)))),
    });
  }
  const stored: Uint8Array[] = [];
  await sink(chunks(input).pipeThrough(encryptingStream(key)), stored);
  const plan = planDecryption([{ number: 1, size: TOTAL }]);
  figures.push({
    // Once: with OpenSSL the packages are opened in place.
    name: `decrypting (${aesGcm.name})`,
    mbps: await mbps(() => sink(decrypting(chunks(stored), plan, () => Promise.resolve(key)))),
  });
  return figures;
}

/** Microseconds per call of the key operations. */
export async function measureKeys(count = 5000): Promise<Figure[]> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const label = new Uint8Array(8);
  const perCall = async (op: () => unknown) => {
    const start = performance.now();
    for (let i = 0; i < count; i++) await op();
    return ((performance.now() - start) * 1000) / count;
  };
  const hmacKey = () =>
    crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sealed = await sealObjectKey(key, key, "SSE-S3", "bucket/object");
  return [
    {
      name: `partKey (HMAC-SHA256, ${aesGcm.hmacSha256 ? "openssl" : "node:crypto"})`,
      mbps: await perCall(() => partKey(key, 1)),
    },
    {
      name: "HMAC-SHA256 node:crypto createHmac",
      mbps: await perCall(() => createHmac("sha256", key).update(label).digest()),
    },
    {
      name: "HMAC-SHA256 Web Crypto importKey + sign",
      mbps: await perCall(async () => crypto.subtle.sign("HMAC", await hmacKey(), label)),
    },
    {
      name: "sealObjectKey",
      mbps: await perCall(() => sealObjectKey(key, key, "SSE-S3", "bucket/object")),
    },
    {
      name: "unsealObjectKey",
      mbps: await perCall(() => unsealObjectKey(key, sealed, "SSE-S3", "bucket/object")),
    },
  ];
}

if (import.meta.main) {
  const cipher = await measureCipher();
  const [memcpy, passThrough] = cipher.map((f) => f.mbps);
  console.log(
    `AES-256-GCM, 64 KiB packages, ${TOTAL / 2 ** 20} MiB, engine in use: ${aesGcm.name}`,
  );
  console.log("| path | MB/s | × memcpy | × pass-through |\n| --- | --- | --- | --- |");
  for (const f of cipher) {
    const ratios = [memcpy, passThrough].map((base) => (f.mbps / base).toFixed(2)).join(" | ");
    console.log(`| ${f.name} | ${f.mbps.toFixed(0)} | ${ratios} |`);
  }
  console.log("\n| key operation | µs per call |\n| --- | --- |");
  for (const f of await measureKeys()) console.log(`| ${f.name} | ${f.mbps.toFixed(1)} |`);
}
