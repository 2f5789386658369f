/**
 * Payload checksums of S3 requests: Content-MD5 and x-amz-checksum-{crc32, crc32c, crc64nvme,
 * sha1, sha256}, base64 of the big-endian digest as S3 sends them. The value may come in a header
 * or, with aws-chunked bodies, in a trailer that is known only once the body has been read.
 *
 * Errors are AuthError (src/auth/errors.ts) carrying the S3 code: InvalidDigest (malformed
 * Content-MD5), BadDigest (either kind of mismatch), InvalidRequest (malformed or conflicting
 * checksum headers). Malformed header values throw at once, before any byte is read; mismatches
 * error the stream at its end, so nothing is committed.
 */
import { Buffer } from "node:buffer";
import { createHash, type Hash } from "node:crypto";
import { crc32, crc32c } from "../../ffi/isal.ts";
import { AuthError } from "../auth/errors.ts";
import { Crc64Nvme } from "./crc64nvme.ts";
import { toBase64 } from "../bytes.ts";

export type ChecksumAlgorithm = "CRC32" | "CRC32C" | "CRC64NVME" | "SHA1" | "SHA256";

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = [
  "CRC32",
  "CRC32C",
  "CRC64NVME",
  "SHA1",
  "SHA256",
];

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
};

/** A running checksum; digest() is base64, as in the x-amz-checksum-* headers. */
export interface ChecksumHasher {
  update(data: Uint8Array): void;
  digest(): string;
}

/** "x-amz-checksum-crc32" for "CRC32". */
export function checksumHeader(algorithm: ChecksumAlgorithm): string {
  return `x-amz-checksum-${algorithm.toLowerCase()}`;
}

class Crc32Hasher implements ChecksumHasher {
  private crc = 0;
  constructor(private readonly fn: (data: Uint8Array, previous: number) => number) {}
  update(data: Uint8Array): void {
    this.crc = this.fn(data, this.crc);
  }
  digest(): string {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, this.crc);
    return toBase64(out);
  }
}

class NodeHasher implements ChecksumHasher {
  private readonly hash: Hash;
  constructor(algorithm: string) {
    this.hash = createHash(algorithm);
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): string {
    return this.hash.digest("base64");
  }
}

class Crc64NvmeHasher implements ChecksumHasher {
  private readonly crc = new Crc64Nvme();
  update(data: Uint8Array): void {
    this.crc.update(data);
  }
  digest(): string {
    return toBase64(this.crc.digest());
  }
}

export function checksumHasher(algorithm: ChecksumAlgorithm): ChecksumHasher {
  switch (algorithm) {
    case "CRC32":
      return new Crc32Hasher(crc32);
    case "CRC32C":
      return new Crc32Hasher(crc32c);
    case "CRC64NVME":
      return new Crc64NvmeHasher();
    case "SHA1":
      return new NodeHasher("sha1");
    case "SHA256":
      return new NodeHasher("sha256");
  }
}

/** Decodes strict base64 of exactly `length` bytes, or undefined. */
function decodeDigest(value: string, length: number): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(value, "base64");
  return bytes.length === length ? bytes : undefined;
}

function invalidValue(algorithm: ChecksumAlgorithm): AuthError {
  return new AuthError(
    "InvalidRequest",
    `Value for ${checksumHeader(algorithm)} header is invalid.`,
  );
}

function parseAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const upper = name.toUpperCase();
  return CHECKSUM_ALGORITHMS.find((a) => a === upper);
}

/** What a request says about its checksums. */
export interface ChecksumRequest {
  algorithm?: ChecksumAlgorithm;
  /** The base64 value of an x-amz-checksum-* header. */
  expected?: string;
  /** The trailer that will carry the value (from x-amz-trailer), e.g. "x-amz-checksum-crc32". */
  trailer?: string;
  contentMd5?: string;
}

/**
 * Reads x-amz-checksum-*, x-amz-trailer, x-amz-sdk-checksum-algorithm and Content-MD5. More than
 * one algorithm, or an algorithm S3 does not know, is InvalidRequest. With only
 * x-amz-sdk-checksum-algorithm the checksum is computed and stored but not compared.
 */
export function parseChecksumHeaders(headers: Headers): ChecksumRequest {
  const found = new Set<ChecksumAlgorithm>();
  let expected: string | undefined;
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = headers.get(checksumHeader(algorithm));
    if (value !== null) {
      found.add(algorithm);
      expected = value.trim();
    }
  }
  let trailer: string | undefined;
  for (const name of (headers.get("x-amz-trailer") ?? "").split(",")) {
    const trimmed = name.trim().toLowerCase();
    if (!trimmed.startsWith("x-amz-checksum-")) continue;
    const algorithm = parseAlgorithm(trimmed.slice("x-amz-checksum-".length));
    if (algorithm === undefined) {
      throw new AuthError("InvalidRequest", `The trailer ${trimmed} is not a supported checksum.`);
    }
    found.add(algorithm);
    trailer = trimmed;
  }
  if (found.size + (expected !== undefined && trailer !== undefined ? 1 : 0) > 1) {
    throw new AuthError(
      "InvalidRequest",
      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
    );
  }
  let algorithm = [...found][0];
  const sdkHeader = headers.get("x-amz-sdk-checksum-algorithm");
  if (sdkHeader !== null) {
    const sdk = parseAlgorithm(sdkHeader.trim());
    if (sdk === undefined || (algorithm !== undefined && sdk !== algorithm)) {
      throw new AuthError(
        "InvalidRequest",
        "Value for x-amz-sdk-checksum-algorithm header is invalid.",
      );
    }
    algorithm = sdk;
  }
  return { algorithm, expected, trailer, contentMd5: headers.get("content-md5")?.trim() };
}

export interface ChecksumSpec {
  contentMd5?: string;
  algorithm?: ChecksumAlgorithm;
  /**
   * The value to compare with: a header value, or the trailer's, asked for only once the body
   * has ended (a promise derived earlier would reject unobserved when the body fails first).
   */
  expected?: string | (() => Promise<string | undefined>);
}

/** The spec for checksumVerifier from a request's headers and (aws-chunked) trailers. */
export function requestChecksumSpec(headers: Headers, trailers: Promise<Headers>): ChecksumSpec {
  const parsed = parseChecksumHeaders(headers);
  const trailer = parsed.trailer;
  const expected = trailer === undefined
    ? parsed.expected
    : async () => (await trailers).get(trailer) ?? undefined;
  return { contentMd5: parsed.contentMd5, algorithm: parsed.algorithm, expected };
}

/**
 * A pass-through transform that computes the requested checksums and, at the end of the
 * stream, compares them with the expected values. result() gives the checksum to store with the
 * object ({"x-amz-checksum-crc32": "…"}) once the stream has ended; {} without an algorithm.
 */
export function checksumVerifier(spec: ChecksumSpec): {
  transform: TransformStream<Uint8Array, Uint8Array>;
  result: () => Record<string, string>;
} {
  let md5Expected: Uint8Array | undefined;
  if (spec.contentMd5 !== undefined) {
    md5Expected = decodeDigest(spec.contentMd5, 16);
    if (md5Expected === undefined) {
      throw new AuthError("InvalidDigest", "The Content-MD5 you specified was not valid.");
    }
  }
  const algorithm = spec.algorithm;
  if (algorithm !== undefined && typeof spec.expected === "string") {
    if (decodeDigest(spec.expected, DIGEST_BYTES[algorithm]) === undefined) {
      throw invalidValue(algorithm);
    }
  }
  const md5 = md5Expected ? createHash("md5") : undefined;
  const hasher = algorithm ? checksumHasher(algorithm) : undefined;
  let stored: Record<string, string> = {};
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    transform(piece, controller) {
      md5?.update(piece);
      hasher?.update(piece);
      controller.enqueue(piece);
    },
    async flush() {
      if (md5 && md5Expected && !Buffer.from(md5.digest()).equals(md5Expected)) {
        throw new AuthError(
          "BadDigest",
          "The Content-MD5 you specified did not match what we received.",
        );
      }
      if (!algorithm || !hasher) return;
      const computed = hasher.digest();
      const expected = typeof spec.expected === "function" ? await spec.expected() : spec.expected;
      if (expected !== undefined) {
        if (decodeDigest(expected, DIGEST_BYTES[algorithm]) === undefined) {
          throw invalidValue(algorithm);
        }
        if (expected !== computed) {
          throw new AuthError(
            "BadDigest",
            `The ${algorithm} you specified did not match the calculated checksum.`,
          );
        }
      }
      stored = { [checksumHeader(algorithm)]: computed };
    },
  });
  return { transform, result: () => stored };
}
