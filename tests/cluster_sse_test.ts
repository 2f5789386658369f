/**
 * Encryption at rest on a cluster (3 nodes × 2 drives, the same FLASHSTOR_KMS_SECRET_KEY on
 * every node): an object encrypted through one node reads through another in every mode; a
 * master key created through one node serves SSE-KMS on another at once; a rotation on one node
 * re-wraps what every node wrote, and all of it still reads through every node.
 */
import {
  CreateBucketCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { assertEquals } from "./helpers/assert.ts";
import { nodeClient, startCluster } from "./helpers/cluster.ts";
import { patterned } from "./helpers/clients.ts";
import { adminCall } from "./kms_util.ts";
import { waitUntil } from "./fault_util.ts";
import type { RewrapProgress } from "../src/kms/rewrap.ts";
import { KMS_ENV, SSE_C_LOOPBACK } from "./sse_util.ts";
import { toBase64 } from "../src/bytes.ts";

const BUCKET = "vault";
const CUSTOMER_KEY = crypto.getRandomValues(new Uint8Array(32));
const SSE_C = {
  SSECustomerAlgorithm: "AES256",
  SSECustomerKey: toBase64(CUSTOMER_KEY),
  SSECustomerKeyMD5: createHash("md5").update(CUSTOMER_KEY).digest("base64"),
};

type Fields = Partial<ConstructorParameters<typeof PutObjectCommand>[0]>;

async function read(s3: S3Client, key: string, fields: Fields = {}): Promise<Uint8Array> {
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...fields }));
  return await out.Body!.transformToByteArray();
}

Deno.test({
  name:
    "cluster: objects encrypted through one node read through every other; keys and rotations are shared",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cluster = await startCluster({ nodes: 3, env: { ...KMS_ENV, ...SSE_C_LOOPBACK } });
    const clients = cluster.nodes.map((n) => nodeClient(n!));
    const written = new Map<string, { bytes: Uint8Array; read: Fields }>();
    const write = async (via: number, key: string, bytes: Uint8Array, fields: Fields) => {
      await clients[via].send(
        new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes, ...fields }),
      );
      written.set(key, { bytes, read: "SSECustomerKey" in fields ? SSE_C : {} });
    };
    const readEverywhere = async () => {
      for (const [key, { bytes, read: fields }] of written) {
        for (const [i, s3] of clients.entries()) {
          assertEquals(await read(s3, key, fields), bytes, `${key} through node ${i + 1}`);
        }
      }
    };
    try {
      await clients[0].send(new CreateBucketCommand({ Bucket: BUCKET }));

      await t.step("SSE-S3, SSE-C and SSE-KMS written through different nodes", async () => {
        await write(0, "s3", patterned(300_000, 1), { ServerSideEncryption: "AES256" });
        await write(1, "c", patterned(70_000, 2), SSE_C);
        await write(2, "kms", patterned(1000, 3), { ServerSideEncryption: "aws:kms" });
        await readEverywhere();
      });

      await t.step("a key created through node 2 serves SSE-KMS through node 3", async () => {
        const created = await adminCall(cluster.node(1), "POST", "kms/keys/team");
        assertEquals(created.status, 200, created.text);
        await write(2, "team", patterned(200_000, 4), {
          ServerSideEncryption: "aws:kms",
          SSEKMSKeyId: "team",
        });
        await readEverywhere();
      });

      await t.step("a rotation through node 1 re-wraps what node 3 wrote", async () => {
        const rotated = await adminCall(cluster.node(0), "POST", "kms/keys/team/rotate");
        assertEquals(rotated.status, 200, rotated.text);
        let pass: RewrapProgress | undefined;
        await waitUntil("the re-wrap done", async () => {
          const progress = await adminCall(cluster.node(0), "GET", "kms/rewrap");
          const { passes } = progress.json as { passes: RewrapProgress[] };
          pass = passes.find((p) => p.keyId === "team");
          return pass?.state === "done";
        }, 30_000);
        // The object node 3 wrote under "team".
        assertEquals([pass!.versionsRewrapped, pass!.versionsFailed], [1, 0], JSON.stringify(pass));
        await readEverywhere();
      });
    } finally {
      for (const s3 of clients) s3.destroy();
      await cluster.cleanup();
    }
  },
});
