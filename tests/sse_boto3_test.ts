/**
 * Encryption at rest through boto3 (Debian python3-boto3, run by /usr/bin/python3) against the
 * real server: SSE-C, SSE-S3 and SSE-KMS (default and named key with an encryption context)
 * round trips at package boundaries and in multipart uploads, ranged GETs, copies between modes
 * and keys, UploadPartCopy out of an SSE-C object, AWS's errors for wrong, missing and
 * malformed keys — and SSE-C refused over plain HTTP unless the server allows it on loopback.
 *
 * The plan and the checks are tests/sse_util.ts (shared with the JS SDK test); the script runs
 * one step of the plan per Python process and prints what boto3 observed as JSON.
 */

import { assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { awsEnv, clientPresent, runOk, sha256Hex } from "./helpers/clients.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import {
  checkCopies,
  checkErrors,
  checkPartCopy,
  checkRanges,
  checkRoundTrip,
  createKmsKey,
  KMS_ENV,
  NAMED_KEYS,
  PLAN,
  SOURCE,
  SSE_C_LOOPBACK,
} from "./sse_util.ts";

const PYTHON = "/usr/bin/python3";
const BOTO3 = "/usr/lib/python3/dist-packages/boto3";
const present = clientPresent("sse_boto3_test", PYTHON) &&
  clientPresent("sse_boto3_test", BOTO3);

const SCRIPT = String.raw`
import base64, hashlib, json, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint, work, step = sys.argv[1:4]
with open(work + "/plan.json") as f:
    plan = json.load(f)
with open(work + "/source.bin", "rb") as f:
    source = f.read()

def client():
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

s3 = client()
BUCKET = plan["bucket"]
KEYS = [base64.b64decode(k) for k in plan["customerKeys"]]
FIELDS = ("ServerSideEncryption", "SSEKMSKeyId", "SSEKMSEncryptionContext",
          "SSECustomerAlgorithm", "SSECustomerKeyMD5", "ETag")
KEY0 = {"mode": "SSE-C", "customerKey": 0}
KEY1 = {"mode": "SSE-C", "customerKey": 1}

def customer(enc, prefix=""):
    """The SSE-C parameters of a request on an object encrypted as enc (boto3 adds the MD5)."""
    if enc["mode"] != "SSE-C":
        return {}
    return {prefix + "SSECustomerAlgorithm": "AES256",
            prefix + "SSECustomerKey": KEYS[enc["customerKey"]]}

def writing(enc):
    """The parameters of a write that encrypts as enc."""
    if enc["mode"] == "SSE-S3":
        return {"ServerSideEncryption": "AES256"}
    if enc["mode"] == "SSE-KMS":
        params = {"ServerSideEncryption": "aws:kms"}
        if "keyId" in enc:
            params["SSEKMSKeyId"] = enc["keyId"]
        if "context" in enc:
            params["SSEKMSEncryptionContext"] = base64.b64encode(
                json.dumps(enc["context"]).encode()).decode()
        return params
    return customer(enc)

def reported(response, **extra):
    seen = {k: response[k] for k in FIELDS if k in response}
    seen.update(extra)
    return seen

def data(offset, size):
    return source[offset:offset + size]

def read(key, enc, **kwargs):
    got = s3.get_object(Bucket=BUCKET, Key=key, **customer(enc), **kwargs)
    body = got["Body"].read()
    return reported(got, length=got["ContentLength"], size=len(body),
                    sha256=hashlib.sha256(body).hexdigest())

def head(key, enc):
    got = s3.head_object(Bucket=BUCKET, Key=key, **customer(enc))
    return reported(got, length=got["ContentLength"])

def error_of(call):
    try:
        call()
    except ClientError as e:
        return {"status": e.response["ResponseMetadata"]["HTTPStatusCode"],
                "code": e.response["Error"]["Code"]}
    return None

def attempt(run):
    """What run() returns, or how it failed (one item's failure does not stop the others)."""
    try:
        return run()
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}

def complete(key, upload_id, etags):
    parts = [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]
    return s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})

def round_trip(o):
    enc = o["encryption"]
    put = s3.put_object(Bucket=BUCKET, Key=o["key"], Body=data(o["offset"], o["size"]),
                        **writing(enc))
    return {"put": reported(put), "get": read(o["key"], enc), "head": head(o["key"], enc)}

def multipart(m):
    enc = m["encryption"]
    create = s3.create_multipart_upload(Bucket=BUCKET, Key=m["key"], **writing(enc))
    offset, parts = m["offset"], []
    for n, size in enumerate(m["parts"], 1):
        # SSE-C: the key on every part; SSE-S3 / SSE-KMS: given on Create only.
        parts.append(reported(s3.upload_part(
            Bucket=BUCKET, Key=m["key"], UploadId=create["UploadId"], PartNumber=n,
            Body=data(offset, size), **customer(enc))))
        offset += size
    done = complete(m["key"], create["UploadId"], [p["ETag"] for p in parts])
    return {"create": reported(create), "parts": parts, "complete": reported(done),
            "get": read(m["key"], enc), "head": head(m["key"], enc)}

def roundtrip():
    s3.create_bucket(Bucket=BUCKET)
    objects = {o["key"]: attempt(lambda: round_trip(o)) for o in plan["objects"]}
    uploads = {m["key"]: attempt(lambda: multipart(m)) for m in plan["multipart"]}
    listing = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            listing[o["Key"]] = {"size": o["Size"], "etag": o["ETag"]}
    return {"objects": objects, "multipart": uploads, "listing": listing}

def ranged(r):
    got = s3.get_object(Bucket=BUCKET, Key=r["key"], Range=r["range"],
                        **customer(r["encryption"]))
    body = got["Body"].read()
    return {"status": got["ResponseMetadata"]["HTTPStatusCode"],
            "contentRange": got["ContentRange"], "length": got["ContentLength"],
            "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}

def ranges():
    return [attempt(lambda: ranged(r)) for r in plan["ranges"]]

def copy_case(c):
    source_enc, enc = c["source"]["encryption"], c["encryption"]
    copied = s3.copy_object(Bucket=BUCKET, Key=c["target"],
                            CopySource={"Bucket": BUCKET, "Key": c["source"]["key"]},
                            **customer(source_enc, "CopySource"), **writing(enc))
    seen = {"copy": reported(copied, ETag=copied["CopyObjectResult"]["ETag"]),
            "get": read(c["target"], enc), "head": head(c["target"], enc)}
    if enc["mode"] == "SSE-C" and source_enc["mode"] == "SSE-C":
        seen["staleKey"] = error_of(lambda: read(c["target"], source_enc))
    return seen

def part_copy():
    p = plan["partCopy"]
    create = s3.create_multipart_upload(Bucket=BUCKET, Key=p["target"], **writing(p["encryption"]))
    parts = []
    for n, (first, last) in enumerate(p["ranges"], 1):
        copied = s3.upload_part_copy(
            Bucket=BUCKET, Key=p["target"], UploadId=create["UploadId"], PartNumber=n,
            CopySource={"Bucket": BUCKET, "Key": p["source"]["key"]},
            CopySourceRange="bytes=%d-%d" % (first, last),
            **customer(p["source"]["encryption"], "CopySource"), **customer(p["encryption"]))
        parts.append(reported(copied, ETag=copied["CopyPartResult"]["ETag"]))
    done = complete(p["target"], create["UploadId"], [x["ETag"] for x in parts])
    return {"create": reported(create), "parts": parts, "complete": reported(done),
            "get": read(p["target"], p["encryption"]), "head": head(p["target"], p["encryption"])}

def copies():
    return {"copies": {c["name"]: attempt(lambda: copy_case(c)) for c in plan["copies"]},
            "partCopy": attempt(part_copy)}

def errors():
    sse_c, sse_s3, plain = (plan["errors"][k]["key"] for k in ("sseC", "sseS3", "plain"))
    def put(key, **params):
        return lambda: s3.put_object(Bucket=BUCKET, Key="errors/" + key, Body=b"secret", **params)
    def copy(**params):
        return lambda: s3.copy_object(Bucket=BUCKET, Key="errors/copy",
                                      CopySource={"Bucket": BUCKET, "Key": sse_c}, **params)
    # A client that sends another key's MD5 (boto3 computes the right one itself).
    tampering = client()
    def tamper(request, **kwargs):
        name = "x-amz-server-side-encryption-customer-key-MD5"
        del request.headers[name]  # setting alone would add a second header
        request.headers[name] = base64.b64encode(hashlib.md5(KEYS[1]).digest()).decode()
    tampering.meta.events.register("before-sign.s3.PutObject", tamper)
    cases = {
        "getWithoutKey": error_of(lambda: s3.get_object(Bucket=BUCKET, Key=sse_c)),
        "headWithoutKey": error_of(lambda: s3.head_object(Bucket=BUCKET, Key=sse_c)),
        "getWrongKey": error_of(lambda: read(sse_c, KEY1)),
        "headWrongKey": error_of(lambda: head(sse_c, KEY1)),
        "rangeWrongKey": error_of(lambda: read(sse_c, KEY1, Range="bytes=65530-65540")),
        "putWrongKeyMd5": error_of(lambda: tampering.put_object(
            Bucket=BUCKET, Key="errors/md5", Body=b"secret", **customer(KEY0))),
        "putShortKey": error_of(put("short", SSECustomerAlgorithm="AES256",
                                    SSECustomerKey=base64.b64decode(plan["shortKey"]))),
        "putAlgorithm": error_of(put("algorithm", SSECustomerAlgorithm="AES128",
                                     SSECustomerKey=KEYS[0])),
        "putSseCAndSseS3": error_of(put("both", ServerSideEncryption="AES256", **customer(KEY0))),
        "putDsse": error_of(put("dsse", ServerSideEncryption="aws:kms:dsse")),
        "putUnknownKmsKey": error_of(put("kms", ServerSideEncryption="aws:kms",
                                         SSEKMSKeyId=plan["unknownKmsKey"])),
        "getSseS3WithKey": error_of(lambda: read(sse_s3, KEY0)),
        "getPlainWithKey": error_of(lambda: read(plain, KEY0)),
        "copyWithoutSourceKey": error_of(copy()),
        "copyWrongSourceKey": error_of(copy(**customer(KEY1, "CopySource"))),
    }
    u = plan["errorUpload"]
    def upload():
        upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=u["key"],
                                               **writing(KEY0))["UploadId"]
        bodies = [data(u["offset"], u["parts"][0]),
                  data(u["offset"] + u["parts"][0], u["parts"][1])]
        def part(n, enc):
            return s3.upload_part(Bucket=BUCKET, Key=u["key"], UploadId=upload_id, PartNumber=n,
                                  Body=bodies[n - 1], **customer(enc))
        cases["partWrongKey"] = error_of(lambda: part(1, KEY1))
        cases["partWithoutKey"] = error_of(lambda: part(1, {"mode": "plain"}))
        complete(u["key"], upload_id, [part(n, KEY0)["ETag"] for n in (1, 2)])
        return {"get": read(u["key"], KEY0)}
    return {"cases": cases, "upload": attempt(upload)}

def refused():
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="plain", Body=b"plain bytes")
    try:
        s3.put_object(Bucket=BUCKET, Key="sse-c", Body=b"secret", **customer(KEY0))
        put = None
    except ClientError as e:
        put = {"status": e.response["ResponseMetadata"]["HTTPStatusCode"],
               "code": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}
    s3.put_object(Bucket=BUCKET, Key="sse-s3", Body=b"sse-s3 bytes", ServerSideEncryption="AES256")
    return {"put": put,
            "get": error_of(lambda: read("plain", KEY0)),
            "head": error_of(lambda: head("plain", KEY0)),
            "stored": error_of(lambda: s3.head_object(Bucket=BUCKET, Key="sse-c")),
            "plain": read("plain", {"mode": "plain"}),
            "sseS3": read("sse-s3", {"mode": "plain"})}

print(json.dumps(globals()[step]()))
`;

interface Driver {
  // deno-lint-ignore no-explicit-any -- JSON printed by the script; the checks verify its shape
  step(name: string): Promise<any>;
  cleanup(): Promise<void>;
}

/** A work directory with the script, the plan and the source bytes, for `server`. */
async function boto3Driver(server: TestServer): Promise<Driver> {
  const work = await Deno.makeTempDir({ prefix: "flashstor-sse-boto3-" });
  await Deno.writeTextFile(`${work}/steps.py`, SCRIPT);
  await Deno.writeTextFile(`${work}/plan.json`, JSON.stringify(PLAN));
  await Deno.writeFile(`${work}/source.bin`, SOURCE);
  return {
    step: async (name) =>
      JSON.parse(
        await runOk(PYTHON, [`${work}/steps.py`, server.endpoint, work, name], {
          HOME: work,
          ...awsEnv(),
        }),
      ),
    cleanup: () => Deno.remove(work, { recursive: true }),
  };
}

Deno.test({
  name: "boto3: SSE-C, SSE-S3, SSE-KMS round trips, ranges, copies between modes, errors",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer({ env: { ...KMS_ENV, ...SSE_C_LOOPBACK } });
    const boto3 = await boto3Driver(server);
    try {
      for (const id of NAMED_KEYS) await createKmsKey(server, id);
      await t.step("round trips of 0 B … 5 MiB + 7 and 3-part uploads, each mode", async () => {
        checkRoundTrip(await boto3.step("roundtrip"));
      });
      await t.step("ranged GETs across package and part boundaries", async () => {
        checkRanges(await boto3.step("ranges"));
      });
      await t.step("CopyObject between modes and keys, UploadPartCopy from SSE-C", async () => {
        const seen = await boto3.step("copies");
        checkCopies(seen.copies);
        checkPartCopy(seen.partCopy);
      });
      await t.step("missing, wrong and malformed keys and modes", async () => {
        checkErrors(await boto3.step("errors"));
      });
    } finally {
      await boto3.cleanup();
      await server.cleanup();
    }
  },
});

Deno.test({
  name: "boto3: SSE-C over plain HTTP is refused unless the server allows it on loopback",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startServer({ env: KMS_ENV });
    const boto3 = await boto3Driver(server);
    try {
      const seen = await boto3.step("refused");
      assertEquals([seen.put?.status, seen.put?.code], [400, "InvalidRequest"], seen.put);
      assertStringIncludes(seen.put.message, "must be made over a secure connection");
      assertEquals(seen.get, { status: 400, code: "InvalidRequest" });
      assertEquals(seen.head?.status, 400);
      assertEquals(seen.stored?.status, 404, "the refused PUT stored nothing");
      const bytes = (text: string) => new TextEncoder().encode(text);
      assertEquals(seen.plain.sha256, sha256Hex(bytes("plain bytes")));
      assertEquals(seen.sseS3.ServerSideEncryption, "AES256");
      assertEquals(seen.sseS3.sha256, sha256Hex(bytes("sse-s3 bytes")));
    } finally {
      await boto3.cleanup();
      await server.cleanup();
    }
  },
});
