import { assertEquals, assertRejects } from "./helpers/assert.ts";
import { AuthError } from "../src/auth/errors.ts";
import { decodeAwsChunked } from "../src/auth/chunked.ts";
import {
  type ChecksumAlgorithm,
  checksumHasher,
  checksumVerifier,
  parseChecksumHeaders,
  requestChecksumSpec,
} from "../src/s3/checksum.ts";
import { crc64nvme } from "../src/s3/crc64nvme.ts";
import { pieces, readAll } from "./auth_vectors.ts";

const CHECK = new TextEncoder().encode("123456789");

/** Base64 of the digest of "123456789": the catalogue check values of each algorithm. */
const CHECK_VALUES: Record<ChecksumAlgorithm, string> = {
  CRC32: "y/Q5Jg==", // 0xCBF43926
  CRC32C: "4waSgw==", // 0xE3069283
  CRC64NVME: "rosUhgp5mIg=", // 0xAE8B14860A799888
  SHA1: "98O8HYCOBHMq32eZZczDTKeuNEE=", // f7c3bc1d808e04732adf679965ccc34ca7ae3441
  SHA256: "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=", // 15e2b0d3…8eb225
};

function digest(algorithm: ChecksumAlgorithm, data: Uint8Array, step = data.length): string {
  const hasher = checksumHasher(algorithm);
  for (let at = 0; at < data.length; at += step) hasher.update(data.subarray(at, at + step));
  return hasher.digest();
}

/** Bit-at-a-time CRC-64/NVME, straight from the definition, to check the sliced tables. */
function crc64Reference(data: Uint8Array): bigint {
  const poly = 0x9a6c9329ac4bc9b5n; // 0xAD93D23594C93659 bit-reversed
  let crc = 0xffffffffffffffffn;
  for (const byte of data) {
    crc ^= BigInt(byte);
    for (let bit = 0; bit < 8; bit++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
  }
  return crc ^ 0xffffffffffffffffn;
}

Deno.test("check values of every algorithm, in one piece and in odd pieces", () => {
  for (const [algorithm, value] of Object.entries(CHECK_VALUES) as [ChecksumAlgorithm, string][]) {
    assertEquals(digest(algorithm, CHECK), value, algorithm);
    assertEquals(digest(algorithm, CHECK, 2), value, `${algorithm} in pieces`);
  }
  assertEquals(crc64nvme(CHECK), 0xae8b14860a799888n);
});

Deno.test("CRC64NVME tables agree with the bitwise definition at every length and split", () => {
  const data = new Uint8Array(300).map((_, i) => (i * 131 + 7) & 0xff);
  for (let length = 0; length <= data.length; length += 13) {
    const expected = crc64Reference(data.subarray(0, length)).toString(16).padStart(16, "0");
    const bytes = Uint8Array.from(expected.match(/../g)!.map((h) => parseInt(h, 16)));
    const b64 = btoa(String.fromCharCode(...bytes));
    assertEquals(digest("CRC64NVME", data.subarray(0, length), 5), b64, `length ${length}`);
  }
});

Deno.test("CRC32C of the AWS trailer example (66560 × 'a') is the documented sOO8/Q==", () => {
  assertEquals(digest("CRC32C", new Uint8Array(66560).fill(0x61), 4096), "sOO8/Q==");
});

async function verify(data: Uint8Array, spec: Parameters<typeof checksumVerifier>[0]) {
  const verifier = checksumVerifier(spec);
  const out = await readAll(pieces(data, 3).pipeThrough(verifier.transform));
  return { out, result: verifier.result() };
}

Deno.test("header checksums: matching values pass and are returned for storage", async () => {
  for (const [algorithm, value] of Object.entries(CHECK_VALUES) as [ChecksumAlgorithm, string][]) {
    const { out, result } = await verify(CHECK, { algorithm, expected: value });
    assertEquals(out, CHECK);
    assertEquals(result, { [`x-amz-checksum-${algorithm.toLowerCase()}`]: value });
  }
  const md5 = await verify(CHECK, { contentMd5: "JfnnlDI7RTiF9RgfG2JNCw==" });
  assertEquals(md5.result, {});
  const computedOnly = await verify(CHECK, { algorithm: "CRC32" });
  assertEquals(computedOnly.result, { "x-amz-checksum-crc32": CHECK_VALUES.CRC32 });
});

Deno.test("mismatches are BadDigest at the end of the stream", async () => {
  const wrong = await assertRejects(
    () => verify(CHECK, { algorithm: "CRC32", expected: "AAAAAA==" }),
    AuthError,
  );
  assertEquals(
    [wrong.code, wrong.message],
    ["BadDigest", "The CRC32 you specified did not match the calculated checksum."],
  );
  const md5 = await assertRejects(
    () => verify(CHECK, { contentMd5: "AAAAAAAAAAAAAAAAAAAAAA==" }),
    AuthError,
  );
  assertEquals(md5.code, "BadDigest");
});

Deno.test("malformed values are refused before the body is read", () => {
  for (const contentMd5 of ["nope", "AAAA", ""]) {
    try {
      checksumVerifier({ contentMd5 });
      throw new Error("accepted");
    } catch (err) {
      assertEquals((err as AuthError).code, "InvalidDigest");
    }
  }
  try {
    checksumVerifier({ algorithm: "SHA256", expected: "y/Q5Jg==" });
    throw new Error("accepted");
  } catch (err) {
    assertEquals((err as AuthError).code, "InvalidRequest");
  }
});

Deno.test("parseChecksumHeaders: headers, trailers, SDK algorithm, conflicts", () => {
  assertEquals(
    parseChecksumHeaders(new Headers({ "x-amz-checksum-crc32c": "4waSgw==", "content-md5": "x" })),
    { algorithm: "CRC32C", expected: "4waSgw==", trailer: undefined, contentMd5: "x" },
  );
  assertEquals(
    parseChecksumHeaders(
      new Headers({
        "x-amz-trailer": "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm": "CRC32",
      }),
    ),
    {
      algorithm: "CRC32",
      expected: undefined,
      trailer: "x-amz-checksum-crc32",
      contentMd5: undefined,
    },
  );
  assertEquals(parseChecksumHeaders(new Headers()).algorithm, undefined);
  const conflicts: Record<string, string>[] = [
    { "x-amz-checksum-crc32": "y/Q5Jg==", "x-amz-checksum-sha1": "98O8HYCOBHMq32eZZczDTKeuNEE=" },
    { "x-amz-checksum-crc32": "y/Q5Jg==", "x-amz-trailer": "x-amz-checksum-crc32" },
    { "x-amz-checksum-crc32": "y/Q5Jg==", "x-amz-sdk-checksum-algorithm": "SHA256" },
    { "x-amz-sdk-checksum-algorithm": "MD5" },
    { "x-amz-trailer": "x-amz-checksum-md5" },
  ];
  for (const headers of conflicts) {
    try {
      parseChecksumHeaders(new Headers(headers));
      throw new Error(`accepted ${JSON.stringify(headers)}`);
    } catch (err) {
      assertEquals((err as AuthError).code, "InvalidRequest", JSON.stringify(headers));
    }
  }
});

function trailerBody(value: string): Uint8Array {
  return new TextEncoder().encode(`9\r\n123456789\r\n0\r\nx-amz-checksum-crc32:${value}\r\n\r\n`);
}

Deno.test("a trailer checksum is verified once the aws-chunked body has been read", async () => {
  const headers = new Headers({ "x-amz-trailer": "x-amz-checksum-crc32" });
  for (const [value, ok] of [[CHECK_VALUES.CRC32, true], ["AAAAAA==", false]] as const) {
    const decoded = decodeAwsChunked(pieces(trailerBody(value), 4), {
      trailerNames: ["x-amz-checksum-crc32"],
      decodedLength: 9,
    });
    const verifier = checksumVerifier(requestChecksumSpec(headers, decoded.trailers));
    const read = readAll(decoded.body.pipeThrough(verifier.transform));
    if (ok) {
      assertEquals(await read, CHECK);
      assertEquals(verifier.result(), { "x-amz-checksum-crc32": value });
    } else {
      assertEquals((await assertRejects(() => read, AuthError)).code, "BadDigest");
    }
  }
});
