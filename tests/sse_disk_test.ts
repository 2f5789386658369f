/**
 * Encryption at rest, on disk: canary objects (a marker repeated, one per mode; inline in
 * xl.meta, in part files, and multipart) written with SSE-S3, SSE-KMS and SSE-C leave no trace
 * of their plaintext in any file of any drive, system areas included — while the same search
 * finds the plain canary, so it can fail. Neither the SSE-C customer key nor the key service's
 * root key (FLASHSTOR_KMS_SECRET_KEY) is stored either.
 */

import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { Buffer } from "node:buffer";
import { assert, assertEquals } from "./helpers/assert.ts";
import { client, equalBytes, MiB, snapshot } from "./fault_util.ts";
import { serving } from "./helpers/server.ts";
import {
  CUSTOMER_KEY,
  ENCRYPTED,
  getAs,
  KMS_ROOT_KEY,
  type Mode,
  putAs,
  putMultipartAs,
  startSseServer,
} from "./sse_fault_util.ts";

const BUCKET = "canary";

/** 32 bytes naming the mode, different on every run. */
function marker(mode: Mode): Uint8Array {
  const text = `canary:${mode}:${crypto.randomUUID()}`.slice(0, 32);
  return new TextEncoder().encode(text.padEnd(32, "#"));
}

function repeated(unit: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += unit.byteLength) out.set(unit.subarray(0, size - at), at);
  return out;
}

/** The byte strings that give a canary away: its marker, a 16-byte slice, its base64. */
function traces(canary: Uint8Array): Uint8Array[] {
  const text = (bytes: Uint8Array) =>
    new TextEncoder().encode(Buffer.from(bytes).toString("base64"));
  return [canary.subarray(0, 32), canary.subarray(8, 24), text(canary.subarray(0, 96))];
}

/** The byte strings that give a key away: the key, its base64 and hex. */
function keyTraces(key: Uint8Array): Uint8Array[] {
  const encode = (format: "base64" | "hex") =>
    new TextEncoder().encode(Buffer.from(key).toString(format));
  return [key, encode("base64"), encode("hex")];
}

/** The files (relative to the server's directory) that contain `needle`. */
function filesWith(files: Map<string, Uint8Array>, needle: Uint8Array): string[] {
  return [...files].filter(([, bytes]) => Buffer.from(bytes).indexOf(needle) >= 0)
    .map(([path]) => path);
}

Deno.test("sse on disk: no canary plaintext, customer key or root key in any file of any drive; the plain canary is found", async () => {
  await serving(await startSseServer(), async (server) => {
    const s3 = client(server);
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const canaries = new Map<Mode, Uint8Array>();
    for (const mode of ["plain", ...ENCRYPTED] as Mode[]) {
      const unit = marker(mode);
      canaries.set(mode, unit);
      const objects: [string, Uint8Array][] = [
        ["inline-1k", repeated(unit, 1024)],
        ["parts-300k", repeated(unit, 300 * 1024)],
      ];
      for (const [name, body] of objects) await putAs(s3, BUCKET, `${mode}/${name}`, body, mode);
      const parts = [repeated(unit, 5 * MiB), repeated(unit, 300 * 1024)];
      await putMultipartAs(s3, BUCKET, `${mode}/multipart`, parts, mode);
      // What was stored is what was meant: each canary reads back whole.
      for (const [name, body] of objects) {
        const got = await getAs(s3, BUCKET, `${mode}/${name}`, mode);
        assert(equalBytes(got, body), `${mode}/${name} reads back`);
      }
    }

    const files = await snapshot(server.dir);
    assert([...files.keys()].some((p) => p.includes("/.flashstor.sys/")), "system areas walked");

    // The control: the plain canary is found, inline in xl.meta and in part files.
    const plain = filesWith(files, traces(canaries.get("plain")!)[0]);
    assert(plain.some((p) => p.endsWith("/xl.meta")), `plain canary inline: ${plain}`);
    assert(plain.some((p) => /\/part\.\d+$/.test(p)), `plain canary in part files: ${plain}`);

    const leaks: string[] = [];
    for (const mode of ENCRYPTED) {
      for (const [i, needle] of traces(canaries.get(mode)!).entries()) {
        for (const path of filesWith(files, needle)) {
          leaks.push(`${mode} canary trace ${i}: ${path}`);
        }
      }
    }
    for (
      const [name, key] of [["SSE-C customer key", CUSTOMER_KEY], [
        "KMS root key",
        KMS_ROOT_KEY,
      ]] as const
    ) {
      for (const [i, needle] of keyTraces(key).entries()) {
        for (const path of filesWith(files, needle)) leaks.push(`${name} form ${i}: ${path}`);
      }
    }
    assertEquals(leaks, [], `found on the drives (${files.size} files searched)`);
  });
});
