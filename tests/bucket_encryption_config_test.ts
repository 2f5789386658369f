/**
 * Bucket default encryption in-process: ServerSideEncryptionConfiguration documents parsed with
 * AWS's schema and errors (one rule; AES256 or aws:kms; no KMSMasterKeyID with AES256;
 * aws:kms:dsse and SSE-C blocking refused as not implemented), rendered back for
 * GetBucketEncryption, key references (ids and ARNs) resolved to key ids, and the default the
 * object handlers apply.
 */

import {
  defaultEncryption,
  type EncryptionConfiguration,
  kmsKeyId,
  parseEncryptionConfiguration,
  renderEncryptionConfiguration,
  SSE_S3_DEFAULT,
} from "../src/bucket/encryption.ts";
import { S3Error } from "../src/s3/errors.ts";
import { parseXml, renderXml } from "../src/s3/xml.ts";
import { assertEquals, assertThrows } from "./helpers/assert.ts";

const ROOT = "ServerSideEncryptionConfiguration";

const parse = (body: string) =>
  parseEncryptionConfiguration(
    parseXml(`<${ROOT} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</${ROOT}>`),
  );

/** A document of one rule applying `apply`, with `extra` elements in the rule. */
const rule = (apply: string, extra = "") =>
  `<Rule><ApplyServerSideEncryptionByDefault>${apply}</ApplyServerSideEncryptionByDefault>${extra}</Rule>`;

function refused(body: string, code: string, includes?: string): S3Error {
  const err = assertThrows(() => parse(body), S3Error);
  assertEquals(err.code, code, err.message);
  if (includes !== undefined && !err.message.includes(includes)) {
    throw new Error(`"${err.message}" does not mention "${includes}"`);
  }
  return err;
}

Deno.test("encryption config: SSE-S3 and SSE-KMS rules parse, with and without BucketKeyEnabled", () => {
  assertEquals(parse(rule("<SSEAlgorithm>AES256</SSEAlgorithm>")), {
    algorithm: "AES256",
    bucketKeyEnabled: false,
  });
  assertEquals(
    parse(rule("<SSEAlgorithm>AES256</SSEAlgorithm>", "<BucketKeyEnabled>true</BucketKeyEnabled>")),
    { algorithm: "AES256", bucketKeyEnabled: true },
  );
  assertEquals(parse(rule("<SSEAlgorithm>aws:kms</SSEAlgorithm>")), {
    algorithm: "aws:kms",
    kmsMasterKeyId: undefined,
    bucketKeyEnabled: false,
  });
  assertEquals(
    parse(rule(
      " <SSEAlgorithm> aws:kms </SSEAlgorithm>\n<KMSMasterKeyID>my-key</KMSMasterKeyID> ",
      "<BucketKeyEnabled>false</BucketKeyEnabled>",
    )),
    { algorithm: "aws:kms", kmsMasterKeyId: "my-key", bucketKeyEnabled: false },
  );
  // AWS's newer BlockedEncryptionTypes blocking nothing is accepted (and not kept).
  assertEquals(
    parse(rule(
      "<SSEAlgorithm>AES256</SSEAlgorithm>",
      "<BlockedEncryptionTypes><EncryptionType>NONE</EncryptionType></BlockedEncryptionTypes>",
    )),
    { algorithm: "AES256", bucketKeyEnabled: false },
  );
});

Deno.test("encryption config: AWS's errors for documents that do not validate", () => {
  refused("", "MalformedXML", "exactly one Rule");
  refused(
    rule("<SSEAlgorithm>AES256</SSEAlgorithm>") + rule("<SSEAlgorithm>aws:kms</SSEAlgorithm>"),
    "MalformedXML",
    "exactly one Rule",
  );
  refused("<Rule></Rule>", "MalformedXML", "ApplyServerSideEncryptionByDefault");
  refused(rule(""), "MalformedXML", "SSEAlgorithm");
  refused(rule("<SSEAlgorithm>AES128</SSEAlgorithm>"), "MalformedXML", "AES256 or aws:kms");
  refused(rule("<SSEAlgorithm>aes256</SSEAlgorithm>"), "MalformedXML");
  refused(
    rule("<SSEAlgorithm>AES256</SSEAlgorithm><SSEAlgorithm>AES256</SSEAlgorithm>"),
    "MalformedXML",
    "more than one SSEAlgorithm",
  );
  refused(rule("<SSEAlgorithm>AES256</SSEAlgorithm><Extra/>"), "MalformedXML", "Extra");
  refused(`${rule("<SSEAlgorithm>AES256</SSEAlgorithm>")}<Other/>`, "MalformedXML", "Other");
  refused(
    rule("<SSEAlgorithm>AES256</SSEAlgorithm>", "<BucketKeyEnabled>yes</BucketKeyEnabled>"),
    "MalformedXML",
    "true or false",
  );
  refused(
    rule("<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID> </KMSMasterKeyID>"),
    "MalformedXML",
    "KMSMasterKeyID",
  );
  refused(
    rule(
      "<SSEAlgorithm>AES256</SSEAlgorithm>",
      "<BlockedEncryptionTypes><EncryptionType>SSE-KMS</EncryptionType></BlockedEncryptionTypes>",
    ),
    "MalformedXML",
  );
});

Deno.test("encryption config: a KMSMasterKeyID with AES256 is InvalidArgument, as AWS answers", () => {
  const err = refused(
    rule("<SSEAlgorithm>AES256</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>"),
    "InvalidArgument",
  );
  assertEquals(
    err.message,
    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms",
  );
  assertEquals(err.extra, { ArgumentName: "ApplyServerSideEncryptionByDefault" });
  assertEquals(err.status, 400);
});

Deno.test("encryption config: what this server does not implement is refused, 501, not stored", () => {
  const dsse = refused(
    rule("<SSEAlgorithm>aws:kms:dsse</SSEAlgorithm><KMSMasterKeyID>k</KMSMasterKeyID>"),
    "NotImplemented",
    "aws:kms:dsse",
  );
  assertEquals(dsse.status, 501);
  const blocking = refused(
    rule(
      "<SSEAlgorithm>AES256</SSEAlgorithm>",
      "<BlockedEncryptionTypes><EncryptionType>SSE-C</EncryptionType></BlockedEncryptionTypes>",
    ),
    "NotImplemented",
    "SSE-C",
  );
  assertEquals(blocking.status, 501);
});

Deno.test("encryption config: renders back in GetBucketEncryption's form", () => {
  const render = (config: EncryptionConfiguration) =>
    renderXml(ROOT, renderEncryptionConfiguration(config), "");
  assertEquals(
    render(SSE_S3_DEFAULT),
    `<?xml version="1.0" encoding="UTF-8"?>\n<${ROOT}><Rule><ApplyServerSideEncryptionByDefault>` +
      "<SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>" +
      `<BucketKeyEnabled>false</BucketKeyEnabled></Rule></${ROOT}>`,
  );
  const arn = "arn:aws:kms:us-east-1:123456789012:key/my-key";
  const kms = parse(
    rule(
      `<SSEAlgorithm>aws:kms</SSEAlgorithm><KMSMasterKeyID>${arn}</KMSMasterKeyID>`,
      "<BucketKeyEnabled>true</BucketKeyEnabled>",
    ),
  );
  // The reference is given back as it was put; a parse of the rendering is the same.
  const xml = render(kms);
  assertEquals(xml.includes(`<KMSMasterKeyID>${arn}</KMSMasterKeyID>`), true, xml);
  assertEquals(parseEncryptionConfiguration(parseXml(xml)), kms);
});

Deno.test("encryption config: key references name key ids (AWS's key ARN, MinIO's short ARN)", () => {
  assertEquals(kmsKeyId("my-key"), "my-key");
  assertEquals(kmsKeyId("arn:aws:kms:us-east-1:123456789012:key/my-key"), "my-key");
  assertEquals(kmsKeyId("arn:aws:kms:eu-west-3:123456789012:key/a/b:c"), "a/b:c");
  assertEquals(kmsKeyId("arn:aws:kms:my-key"), "my-key");
  assertEquals(kmsKeyId("alias/aws/s3"), "alias/aws/s3");
});

Deno.test("encryption config: the default an object written without SSE headers gets", () => {
  assertEquals(defaultEncryption({}), undefined);
  assertEquals(defaultEncryption({ encryption: SSE_S3_DEFAULT }), { algorithm: "AES256" });
  assertEquals(
    defaultEncryption({ encryption: { algorithm: "aws:kms", bucketKeyEnabled: true } }),
    { algorithm: "aws:kms", bucketKeyEnabled: true },
  );
  assertEquals(
    defaultEncryption({
      encryption: {
        algorithm: "aws:kms",
        kmsMasterKeyId: "arn:aws:kms:us-east-1:123456789012:key/k1",
        bucketKeyEnabled: false,
      },
    }),
    { algorithm: "aws:kms", keyId: "k1", bucketKeyEnabled: false },
  );
});
