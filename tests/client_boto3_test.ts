/**
 * boto3 (Debian python3-boto3, run by /usr/bin/python3) against a real server, as a user's script
 * would use it: path-style and virtual-host-style clients, put/get/head/delete, upload_file and
 * download_file through s3transfer with multipart, a managed (UploadPartCopy) copy, the
 * list_objects(_v2) paginators, copy_object, delete_objects, presigned URLs fetched with urllib,
 * metadata, checksums, conditional GETs, awkward keys, and multipart calls made by hand.
 *
 * Each step runs one Python process that prints what it observed as JSON; the assertions are here.
 * Virtual-host style needs a name: the server runs with --domain DOMAIN and the script resolves
 * DOMAIN and its subdomains to 127.0.0.1 itself.
 */

import { assert, assertEquals } from "./helpers/assert.ts";
import {
  clientPresent,
  md5Hex,
  MiB,
  multipartEtag,
  patterned,
  runOk,
  sha256Hex,
} from "./helpers/clients.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";

const PYTHON = "/usr/bin/python3";
const BOTO3 = "/usr/lib/python3/dist-packages/boto3";
const DOMAIN = "s3.flashstor.test";
const present = clientPresent("client_boto3_test", PYTHON) &&
  clientPresent("client_boto3_test", BOTO3);

const SCRIPT = String.raw`
import base64, datetime, hashlib, json, socket, sys, time, urllib.error, urllib.request, zlib
import boto3, botocore
from botocore.config import Config
from botocore.exceptions import ClientError
from boto3.s3.transfer import TransferConfig

endpoint, domain, work, step = sys.argv[1:5]
port = endpoint.rsplit(":", 1)[1]
MiB = 1024 * 1024

resolve = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if host == domain or host.endswith("." + domain):
        host = "127.0.0.1"
    return resolve(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo

def client(style="path", **config):
    url = endpoint if style == "path" else "http://%s:%s" % (domain, port)
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        config=Config(s3={"addressing_style": style},
                                      retries={"max_attempts": 1}, **config))

s3 = client()
vhost = client("virtual")

def read(name):
    with open(work + "/" + name, "rb") as f:
        return f.read()

def write(name, data):
    with open(work + "/" + name, "wb") as f:
        f.write(data)

def error_of(call):
    try:
        call()
    except ClientError as e:
        return {"code": e.response["Error"]["Code"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
    return None

def fetch(url, method="GET", data=None):
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request) as response:
            return {"status": response.status, "body": response.read().hex()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode("utf-8", "replace")}

def buckets():
    s3.create_bucket(Bucket="boto")
    vhost.create_bucket(Bucket="boto-vhost")
    s3.head_bucket(Bucket="boto-vhost")
    vhost.head_bucket(Bucket="boto")
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    return {"names": names,
            "missing": error_of(lambda: s3.head_bucket(Bucket="no-such-bucket")),
            "missing_get": error_of(lambda: s3.get_object(Bucket="no-such-bucket", Key="k"))}

def objects():
    data = read("small.bin")
    put = s3.put_object(Bucket="boto", Key="dir/small.bin", Body=data,
                        ContentType="application/x-test", CacheControl="max-age=60",
                        Metadata={"color": "blue", "Mixed-Case": "Value With Spaces"})
    got = s3.get_object(Bucket="boto", Key="dir/small.bin")
    write("small.get", got["Body"].read())
    head = s3.head_object(Bucket="boto", Key="dir/small.bin")
    ranged = s3.get_object(Bucket="boto", Key="dir/small.bin", Range="bytes=100-1099")
    write("small.range", ranged["Body"].read())
    vhost.put_object(Bucket="boto-vhost", Key="v/key with space+plus.bin", Body=data)
    write("vhost.get", vhost.get_object(Bucket="boto-vhost", Key="v/key with space+plus.bin")["Body"].read())
    vhost.delete_object(Bucket="boto-vhost", Key="v/key with space+plus.bin")
    s3.delete_object(Bucket="boto", Key="dir/small.bin")
    return {"put_etag": put["ETag"], "get_etag": got["ETag"], "get_length": got["ContentLength"],
            "head": {"length": head["ContentLength"], "etag": head["ETag"],
                     "type": head["ContentType"], "cache": head.get("CacheControl"),
                     "metadata": head["Metadata"]},
            "range": {"status": ranged["ResponseMetadata"]["HTTPStatusCode"],
                      "content_range": ranged["ContentRange"], "length": ranged["ContentLength"]},
            "after_delete": error_of(lambda: s3.head_object(Bucket="boto", Key="dir/small.bin")),
            "get_after_delete": error_of(lambda: s3.get_object(Bucket="boto", Key="dir/small.bin")),
            "vhost_after_delete": error_of(lambda: vhost.head_object(Bucket="boto-vhost", Key="v/key with space+plus.bin"))}

def transfer():
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=2)
    s3.upload_file(work + "/big.bin", "boto", "big/big.bin", Config=config)
    head = s3.head_object(Bucket="boto", Key="big/big.bin")
    s3.download_file("boto", "big/big.bin", work + "/big.get", Config=config)
    vhost.upload_file(work + "/big.bin", "boto-vhost", "big.bin", Config=config)
    vhost.download_file("boto-vhost", "big.bin", work + "/big.vhost", Config=config)
    vhost.delete_object(Bucket="boto-vhost", Key="big.bin")
    return {"etag": head["ETag"], "length": head["ContentLength"]}

def listing():
    keys = ["dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "dir/sub/d.txt", "dir2/e.txt", "other.txt"]
    for key in keys:
        s3.put_object(Bucket="boto", Key=key, Body=key.encode())
    paginator = s3.get_paginator("list_objects_v2")
    def walk(c, **kwargs):
        pages = list(c.get_paginator("list_objects_v2").paginate(Bucket="boto", **kwargs))
        return {"pages": len(pages),
                "keys": [o["Key"] for p in pages for o in p.get("Contents", [])],
                "prefixes": [x["Prefix"] for p in pages for x in p.get("CommonPrefixes", [])],
                "sizes": [o["Size"] for p in pages for o in p.get("Contents", [])]}
    return {"all": walk(s3, PaginationConfig={"PageSize": 2}),
            "dir": walk(s3, Prefix="dir/", Delimiter="/", PaginationConfig={"PageSize": 2}),
            "root": walk(vhost, Delimiter="/", PaginationConfig={"PageSize": 1}),
            "start_after": walk(s3, StartAfter="dir/sub/c.txt"),
            "none": walk(s3, Prefix="nothing/")}

def copy_delete():
    data = read("small.bin")
    s3.put_object(Bucket="boto", Key="src.bin", Body=data, Metadata={"origin": "source"},
                  ContentType="text/x-source")
    kept = s3.copy_object(Bucket="boto-vhost", Key="copy-kept.bin",
                          CopySource={"Bucket": "boto", "Key": "src.bin"})
    replaced = s3.copy_object(Bucket="boto", Key="copy-replaced.bin",
                              CopySource={"Bucket": "boto", "Key": "src.bin"},
                              MetadataDirective="REPLACE", Metadata={"origin": "replaced"},
                              ContentType="text/x-replaced")
    write("copy.get", s3.get_object(Bucket="boto-vhost", Key="copy-kept.bin")["Body"].read())
    heads = {k: s3.head_object(Bucket=b, Key=k) for b, k in
             [("boto-vhost", "copy-kept.bin"), ("boto", "copy-replaced.bin")]}
    deleted = s3.delete_objects(Bucket="boto", Delete={"Objects": [
        {"Key": "src.bin"}, {"Key": "copy-replaced.bin"}, {"Key": "never-existed"}]})
    quiet = s3.delete_objects(Bucket="boto", Delete={"Quiet": True, "Objects": [
        {"Key": "dir/a.txt"}, {"Key": "dir/b.txt"}]})
    s3.delete_object(Bucket="boto-vhost", Key="copy-kept.bin")
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket="boto").get("Contents", [])]
    return {"kept_etag": kept["CopyObjectResult"]["ETag"],
            "replaced_etag": replaced["CopyObjectResult"]["ETag"],
            "metadata": {k: h["Metadata"] for k, h in heads.items()},
            "types": {k: h["ContentType"] for k, h in heads.items()},
            "deleted": sorted(d["Key"] for d in deleted.get("Deleted", [])),
            "errors": deleted.get("Errors", []) + quiet.get("Errors", []),
            "quiet_deleted": quiet.get("Deleted", []),
            "remaining": remaining,
            "copy_missing": error_of(lambda: s3.copy_object(Bucket="boto", Key="x",
                                      CopySource={"Bucket": "boto", "Key": "no-such-key"}))}

def presign():
    data = read("small.bin")
    s3.put_object(Bucket="boto", Key="pre/signed file.bin", Body=data)
    signed_at = time.monotonic()
    expiring = client(signature_version="s3v4").generate_presigned_url(
        "get_object", ExpiresIn=1, Params={"Bucket": "boto", "Key": "pre/signed file.bin"})
    results = {}
    for name, c in [("s3v4", client(signature_version="s3v4")),
                    ("vhost", client("virtual", signature_version="s3v4"))]:
        url = c.generate_presigned_url("get_object", ExpiresIn=300,
                                       Params={"Bucket": "boto", "Key": "pre/signed file.bin"})
        results[name] = {"url": url, "get": fetch(url)}
    url = results["s3v4"]["url"]
    results["tampered"] = fetch(url.replace("pre/signed", "pre/other"))
    time.sleep(max(0, signed_at + 2.1 - time.monotonic()))
    results["expired"] = fetch(expiring)
    put_url = client(signature_version="s3v4").generate_presigned_url(
        "put_object", ExpiresIn=300, Params={"Bucket": "boto", "Key": "pre/uploaded.bin"})
    results["put"] = fetch(put_url, "PUT", data[:1000])
    write("presigned-put.get", s3.get_object(Bucket="boto", Key="pre/uploaded.bin")["Body"].read())
    return results

def presign_default():
    # With no signature_version configured, botocore (1.43 too) presigns us-east-1 URLs with
    # SigV2; both that URL and an s3v4 one must work.
    params = {"Bucket": "boto", "Key": "pre/signed file.bin"}
    url = s3.generate_presigned_url("get_object", ExpiresIn=300, Params=params)
    v4_url = client(signature_version="s3v4").generate_presigned_url(
        "get_object", ExpiresIn=300, Params=params)
    return {"botocore": botocore.__version__, "url": url, "get": fetch(url),
            "v4_get": fetch(v4_url)}

def checksums():
    data = read("small.bin")
    sent = []
    def capture(request, **kwargs):
        sent.append({k.lower(): (v.decode() if isinstance(v, bytes) else v)
                     for k, v in request.headers.items()})
    s3.meta.events.register("before-send.s3.PutObject", capture)
    s3.put_object(Bucket="boto", Key="sum/default.bin", Body=data)
    s3.meta.events.unregister("before-send.s3.PutObject", capture)
    default_headers = sent[0]
    crc32 = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    sha256 = base64.b64encode(hashlib.sha256(data).digest()).decode()
    put_crc = s3.put_object(Bucket="boto", Key="sum/crc32.bin", Body=data, ChecksumAlgorithm="CRC32")
    put_sha = s3.put_object(Bucket="boto", Key="sum/sha256.bin", Body=data, ChecksumAlgorithm="SHA256")
    head_crc = s3.head_object(Bucket="boto", Key="sum/crc32.bin", ChecksumMode="ENABLED")
    get_sha = s3.get_object(Bucket="boto", Key="sum/sha256.bin", ChecksumMode="ENABLED")
    get_sha_body = get_sha["Body"].read()
    wrong_crc = error_of(lambda: s3.put_object(Bucket="boto", Key="sum/wrong-crc.bin", Body=data,
                                               ChecksumCRC32="AAAAAA=="))
    wrong_md5 = error_of(lambda: s3.put_object(Bucket="boto", Key="sum/wrong-md5.bin", Body=data,
                                               ContentMD5=base64.b64encode(b"0" * 16).decode()))
    right_md5 = s3.put_object(Bucket="boto", Key="sum/right-md5.bin", Body=data,
                              ContentMD5=base64.b64encode(hashlib.md5(data).digest()).decode())
    return {"botocore": botocore.__version__,
            "default_sent": {k: v for k, v in default_headers.items()
                             if k.startswith("x-amz-checksum") or k in
                             ("content-md5", "x-amz-content-sha256", "x-amz-sdk-checksum-algorithm",
                              "x-amz-trailer", "content-encoding")},
            "default_get": hashlib.sha256(s3.get_object(Bucket="boto", Key="sum/default.bin")["Body"].read()).hexdigest(),
            "expected": {"crc32": crc32, "sha256": sha256},
            "put_crc32": put_crc.get("ChecksumCRC32"), "put_sha256": put_sha.get("ChecksumSHA256"),
            "head_crc32": head_crc.get("ChecksumCRC32"), "get_sha256": get_sha.get("ChecksumSHA256"),
            "get_sha_body": hashlib.sha256(get_sha_body).hexdigest(),
            "wrong_crc": wrong_crc, "wrong_md5": wrong_md5, "right_md5_etag": right_md5["ETag"],
            "after_wrong": [error_of(lambda k=k: s3.head_object(Bucket="boto", Key=k))
                            for k in ("sum/wrong-crc.bin", "sum/wrong-md5.bin")]}

def extras():
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=2)
    s3.copy({"Bucket": "boto", "Key": "big/big.bin"}, "boto-vhost", "big-copy.bin", Config=config)
    head = s3.head_object(Bucket="boto-vhost", Key="big-copy.bin")
    s3.download_file("boto-vhost", "big-copy.bin", work + "/big-copy.get")
    part = s3.head_object(Bucket="boto-vhost", Key="big-copy.bin", PartNumber=2)
    etag = head["ETag"]
    def get(**kwargs):
        return s3.get_object(Bucket="boto-vhost", Key="big-copy.bin", Range="bytes=0-0", **kwargs)
    conditions = {
        "if_match": get(IfMatch=etag)["ResponseMetadata"]["HTTPStatusCode"],
        "if_none_match": error_of(lambda: get(IfNoneMatch=etag)),
        "if_match_other": error_of(lambda: get(IfMatch='"0123456789abcdef0123456789abcdef"')),
        "if_modified_since_future": error_of(lambda: get(IfModifiedSince=datetime.datetime(2100, 1, 1))),
        "if_unmodified_since_past": error_of(lambda: get(IfUnmodifiedSince=datetime.datetime(2000, 1, 1)))}
    s3.delete_object(Bucket="boto-vhost", Key="big-copy.bin")
    overridden = s3.get_object(Bucket="boto", Key="other.txt", ResponseContentType="text/plain",
                               ResponseContentDisposition='attachment; filename="o.txt"',
                               ResponseCacheControl="no-store")
    with open(work + "/keys.json", encoding="utf-8") as f:
        keys = json.load(f)
    for key in keys:
        s3.put_object(Bucket="boto", Key="k/" + key, Body=key.encode())
    awkward = {"got": [s3.get_object(Bucket="boto", Key="k/" + key)["Body"].read().decode()
                       for key in keys],
               "v1": [o["Key"] for p in s3.get_paginator("list_objects").paginate(
                          Bucket="boto", Prefix="k/", PaginationConfig={"PageSize": 2})
                      for o in p.get("Contents", [])],
               "copied": s3.copy_object(Bucket="boto", Key="k-copy", CopySource={
                   "Bucket": "boto", "Key": "k/" + keys[0]})["CopyObjectResult"]["ETag"]}
    for key in keys:
        s3.delete_object(Bucket="boto", Key="k/" + key)
    s3.delete_object(Bucket="boto", Key="k-copy")
    return {"copy": {"etag": etag, "length": head["ContentLength"],
                     "part2": [part["ContentLength"], part.get("PartsCount")]},
            "conditions": conditions,
            "overridden": [overridden["ContentType"], overridden["ContentDisposition"],
                           overridden["CacheControl"]],
            "awkward": awkward}

def multipart():
    big = read("big.bin")
    up = s3.create_multipart_upload(Bucket="boto", Key="mp/done.bin", ContentType="text/x-mp",
                                    Metadata={"stage": "multipart"})
    parts = []
    for number, chunk in [(1, big[:5 * MiB]), (2, big[5 * MiB:5 * MiB + 1000])]:
        r = s3.upload_part(Bucket="boto", Key="mp/done.bin", UploadId=up["UploadId"],
                           PartNumber=number, Body=chunk)
        parts.append({"PartNumber": number, "ETag": r["ETag"]})
    listed_parts = s3.list_parts(Bucket="boto", Key="mp/done.bin", UploadId=up["UploadId"])
    other = s3.create_multipart_upload(Bucket="boto", Key="mp/aborted.bin")
    small = s3.create_multipart_upload(Bucket="boto", Key="mp/small.bin")
    small_parts = [{"PartNumber": n, "ETag": s3.upload_part(
        Bucket="boto", Key="mp/small.bin", UploadId=small["UploadId"], PartNumber=n,
        Body=b"x" * 100)["ETag"]} for n in (1, 2)]
    uploads = sorted(u["Key"] for u in s3.list_multipart_uploads(Bucket="boto", Prefix="mp/")["Uploads"])
    wrong = [dict(parts[0]), dict(parts[1], ETag='"0123456789abcdef0123456789abcdef"')]
    results = {
        "uploads": uploads,
        "parts": [[p["PartNumber"], p["Size"], p["ETag"]] for p in listed_parts["Parts"]],
        "invalid_part": error_of(lambda: s3.complete_multipart_upload(
            Bucket="boto", Key="mp/done.bin", UploadId=up["UploadId"],
            MultipartUpload={"Parts": wrong})),
        "too_small": error_of(lambda: s3.complete_multipart_upload(
            Bucket="boto", Key="mp/small.bin", UploadId=small["UploadId"],
            MultipartUpload={"Parts": small_parts}))}
    done = s3.complete_multipart_upload(Bucket="boto", Key="mp/done.bin", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": parts})
    s3.abort_multipart_upload(Bucket="boto", Key="mp/aborted.bin", UploadId=other["UploadId"])
    s3.abort_multipart_upload(Bucket="boto", Key="mp/small.bin", UploadId=small["UploadId"])
    head = s3.head_object(Bucket="boto", Key="mp/done.bin")
    write("mp.get", s3.get_object(Bucket="boto", Key="mp/done.bin")["Body"].read())
    s3.delete_object(Bucket="boto", Key="mp/done.bin")
    results.update({
        "etag": done["ETag"], "head": [head["ETag"], head["ContentType"], head["Metadata"]],
        "after_abort": error_of(lambda: s3.list_parts(Bucket="boto", Key="mp/aborted.bin",
                                                      UploadId=other["UploadId"])),
        "left": s3.list_multipart_uploads(Bucket="boto").get("Uploads", [])})
    return results

def teardown():
    for bucket in ("boto", "boto-vhost"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        keys = [{"Key": o["Key"]} for p in pages for o in p.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=bucket)
    return {"names": [b["Name"] for b in s3.list_buckets()["Buckets"]],
            "deleted_head": error_of(lambda: s3.head_bucket(Bucket="boto"))}

print(json.dumps(globals()[step]()))
`;

const SMALL = patterned(70_000, 1);
/** Keys users do write: spaces, reserved and non-ASCII characters, a tab, a folder marker. */
const AWKWARD_KEYS = [
  "sp ace/üñí/a+b=c&d?e#f%g",
  "~!@$^*()_-'\";:,<>[]{}|\\`",
  "tab\there",
  "日本語/キー",
  "folder/",
];
const BIG = patterned(20 * MiB, 2);

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

interface ErrorSeen {
  code: string;
  status: number;
}

Deno.test({
  name: "boto3: buckets, objects, multipart transfer, listing, copy, delete, presign, checksums",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server: TestServer = await startServer({ args: ["--domain", DOMAIN] });
    const work = await Deno.makeTempDir({ prefix: "flashstor-boto3-" });
    await Deno.writeTextFile(`${work}/steps.py`, SCRIPT);
    await Deno.writeFile(`${work}/small.bin`, SMALL);
    await Deno.writeFile(`${work}/big.bin`, BIG);
    await Deno.writeTextFile(`${work}/keys.json`, JSON.stringify(AWKWARD_KEYS));
    // deno-lint-ignore no-explicit-any -- JSON printed by the script; each step checks its shape
    const step = async (name: string): Promise<any> => {
      const stdout = await runOk(
        PYTHON,
        [`${work}/steps.py`, server.endpoint, DOMAIN, work, name],
        {
          HOME: work,
          AWS_ACCESS_KEY_ID: ACCESS_KEY,
          AWS_SECRET_ACCESS_KEY: SECRET_KEY,
          AWS_CONFIG_FILE: "/dev/null",
          AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
        },
      );
      return JSON.parse(stdout);
    };
    const file = (name: string) => Deno.readFile(`${work}/${name}`);
    try {
      await t.step(
        "create_bucket path- and virtual-host-style, head_bucket, list_buckets",
        async () => {
          const seen = await step("buckets");
          assert(seen.names.includes("boto") && seen.names.includes("boto-vhost"), seen.names);
          assertEquals(seen.missing, { code: "404", status: 404 });
          assertEquals(seen.missing_get, { code: "NoSuchBucket", status: 404 });
        },
      );

      await t.step("put/get/head/delete, ranged get, metadata, virtual-host keys", async () => {
        const seen = await step("objects");
        const etag = `"${md5Hex(SMALL)}"`;
        assertEquals([seen.put_etag, seen.get_etag, seen.head.etag], [etag, etag, etag]);
        assertEquals(seen.get_length, SMALL.length);
        assertEquals(await file("small.get"), SMALL);
        assertEquals(seen.head, {
          length: SMALL.length,
          etag,
          type: "application/x-test",
          cache: "max-age=60",
          metadata: { color: "blue", "mixed-case": "Value With Spaces" },
        });
        assertEquals(seen.range, {
          status: 206,
          content_range: `bytes 100-1099/${SMALL.length}`,
          length: 1000,
        });
        assertEquals(await file("small.range"), SMALL.subarray(100, 1100));
        assertEquals(await file("vhost.get"), SMALL);
        assertEquals(seen.after_delete, { code: "404", status: 404 });
        assertEquals(seen.get_after_delete, { code: "NoSuchKey", status: 404 });
        assertEquals(seen.vhost_after_delete, { code: "404", status: 404 });
      });

      await t.step("upload_file/download_file: 20 MiB in 8 MiB parts, both styles", async () => {
        const seen = await step("transfer");
        assertEquals(seen, { etag: `"${multipartEtag(BIG, 8 * MiB)}"`, length: BIG.length });
        assertEquals(sha256Hex(await file("big.get")), sha256Hex(BIG));
        assertEquals(sha256Hex(await file("big.vhost")), sha256Hex(BIG));
      });

      await t.step(
        "list_objects_v2 paginator: prefix, delimiter, page size, StartAfter",
        async () => {
          const seen = await step("listing");
          const keys = ["dir/a.txt", "dir/b.txt", "dir/sub/c.txt", "dir/sub/d.txt", "dir2/e.txt"];
          assertEquals(seen.all, {
            pages: 4,
            keys: ["big/big.bin", ...keys, "other.txt"],
            prefixes: [],
            sizes: [BIG.length, ...keys.map((k) => k.length), "other.txt".length],
          });
          assertEquals(seen.dir, {
            pages: 2,
            keys: ["dir/a.txt", "dir/b.txt"],
            prefixes: ["dir/sub/"],
            sizes: [9, 9],
          });
          assertEquals(seen.root, {
            pages: 4,
            keys: ["other.txt"],
            prefixes: ["big/", "dir/", "dir2/"],
            sizes: [9],
          });
          assertEquals(seen.start_after.keys, ["dir/sub/d.txt", "dir2/e.txt", "other.txt"]);
          assertEquals(seen.none, { pages: 1, keys: [], prefixes: [], sizes: [] });
        },
      );

      await t.step("copy_object COPY and REPLACE, delete_objects verbose and quiet", async () => {
        const seen = await step("copy_delete");
        const etag = `"${md5Hex(SMALL)}"`;
        assertEquals([seen.kept_etag, seen.replaced_etag], [etag, etag]);
        assertEquals(await file("copy.get"), SMALL);
        assertEquals(seen.metadata, {
          "copy-kept.bin": { origin: "source" },
          "copy-replaced.bin": { origin: "replaced" },
        });
        assertEquals(seen.types, {
          "copy-kept.bin": "text/x-source",
          "copy-replaced.bin": "text/x-replaced",
        });
        assertEquals(seen.deleted, ["copy-replaced.bin", "never-existed", "src.bin"]);
        assertEquals(seen.errors, []);
        assertEquals(seen.quiet_deleted, []);
        assertEquals(seen.remaining, [
          "big/big.bin",
          "dir/sub/c.txt",
          "dir/sub/d.txt",
          "dir2/e.txt",
          "other.txt",
        ]);
        assertEquals(seen.copy_missing, { code: "NoSuchKey", status: 404 });
      });

      await t.step(
        "generate_presigned_url: GET (s3v4, virtual host), PUT, tampered, expired",
        async () => {
          const seen = await step("presign");
          for (const name of ["s3v4", "vhost"]) {
            assertEquals(
              seen[name].get.status,
              200,
              `${name}: ${seen[name].url}\n${seen[name].get.body}`,
            );
            assert(
              seen[name].get.body === hex(SMALL),
              `${name}: presigned GET returned other bytes`,
            );
          }
          assert(seen.vhost.url.startsWith(`http://boto.${DOMAIN}:`), seen.vhost.url);
          assertEquals(seen.tampered.status, 403, seen.tampered.body);
          assert(seen.tampered.body.includes("SignatureDoesNotMatch"), seen.tampered.body);
          assertEquals(seen.expired.status, 403, seen.expired.body);
          assert(seen.expired.body.includes("AccessDenied"), seen.expired.body);
          assertEquals(seen.put.status, 200, seen.put.body);
          assertEquals(await file("presigned-put.get"), SMALL.subarray(0, 1000));
        },
      );

      await t.step(
        "generate_presigned_url with the installed botocore's default signer",
        async () => {
          const seen = await step("presign_default");
          const sigV2 = new URL(seen.url).searchParams.has("AWSAccessKeyId");
          console.log(`botocore ${seen.botocore} presigns with ${sigV2 ? "SigV2" : "SigV4"}`);
          // SigV2 and SigV4 URLs alike are accepted.
          assertEquals(seen.get.status, 200, `${seen.url}\n${seen.get.body}`);
          assert(seen.get.body === hex(SMALL), "presigned GET returned other bytes");
          assertEquals(seen.v4_get.status, 200, seen.v4_get.body);
          assert(seen.v4_get.body === hex(SMALL), "s3v4 presigned GET returned other bytes");
        },
      );

      await t.step(
        "checksums: the installed botocore's default, CRC32, SHA256, Content-MD5",
        async () => {
          const seen = await step("checksums");
          console.log(
            `botocore ${seen.botocore} PutObject sends ${JSON.stringify(seen.default_sent)}`,
          );
          assertEquals(seen.default_get, sha256Hex(SMALL));
          assertEquals(seen.put_crc32, seen.expected.crc32);
          assertEquals(seen.put_sha256, seen.expected.sha256);
          assertEquals(seen.head_crc32, seen.expected.crc32);
          assertEquals(seen.get_sha256, seen.expected.sha256);
          assertEquals(seen.get_sha_body, sha256Hex(SMALL));
          const badDigest: ErrorSeen = { code: "BadDigest", status: 400 };
          assertEquals(seen.wrong_crc, badDigest);
          assertEquals(seen.wrong_md5, badDigest);
          assertEquals(seen.right_md5_etag, `"${md5Hex(SMALL)}"`);
          assertEquals(seen.after_wrong, [{ code: "404", status: 404 }, {
            code: "404",
            status: 404,
          }]);
        },
      );

      await t.step(
        "managed copy (UploadPartCopy), conditional GETs, overrides, awkward keys",
        async () => {
          const seen = await step("extras");
          assertEquals(seen.copy, {
            etag: `"${multipartEtag(BIG, 8 * MiB)}"`,
            length: BIG.length,
            part2: [8 * MiB, 3],
          });
          assertEquals(sha256Hex(await file("big-copy.get")), sha256Hex(BIG));
          assertEquals(seen.conditions, {
            if_match: 206,
            if_none_match: { code: "304", status: 304 },
            if_match_other: { code: "PreconditionFailed", status: 412 },
            if_modified_since_future: { code: "304", status: 304 },
            if_unmodified_since_past: { code: "PreconditionFailed", status: 412 },
          });
          assertEquals(seen.overridden, ["text/plain", 'attachment; filename="o.txt"', "no-store"]);
          assertEquals(seen.awkward.got, AWKWARD_KEYS);
          assertEquals(seen.awkward.v1, AWKWARD_KEYS.map((key) => `k/${key}`).sort());
          assertEquals(
            seen.awkward.copied,
            `"${md5Hex(new TextEncoder().encode(AWKWARD_KEYS[0]))}"`,
          );
        },
      );

      await t.step(
        "multipart by hand: list uploads/parts, InvalidPart, EntityTooSmall, abort",
        async () => {
          const seen = await step("multipart");
          const part1 = BIG.subarray(0, 5 * MiB);
          const part2 = BIG.subarray(5 * MiB, 5 * MiB + 1000);
          assertEquals(seen.uploads, ["mp/aborted.bin", "mp/done.bin", "mp/small.bin"]);
          assertEquals(seen.parts, [[1, 5 * MiB, `"${md5Hex(part1)}"`], [
            2,
            1000,
            `"${md5Hex(part2)}"`,
          ]]);
          assertEquals(seen.invalid_part, { code: "InvalidPart", status: 400 });
          assertEquals(seen.too_small, { code: "EntityTooSmall", status: 400 });
          const etag = `"${multipartEtag(BIG.subarray(0, 5 * MiB + 1000), 5 * MiB)}"`;
          assertEquals(seen.etag, etag);
          assertEquals(seen.head, [etag, "text/x-mp", { stage: "multipart" }]);
          assertEquals(await file("mp.get"), BIG.subarray(0, 5 * MiB + 1000));
          assertEquals(seen.after_abort, { code: "NoSuchUpload", status: 404 });
          assertEquals(seen.left, []);
        },
      );

      await t.step("empty and delete both buckets", async () => {
        const seen = await step("teardown");
        assertEquals(seen.names, []);
        assertEquals(seen.deleted_head, { code: "404", status: 404 });
      });
    } finally {
      await server.cleanup();
      await Deno.remove(work, { recursive: true });
    }
  },
});
