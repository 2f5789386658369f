/**
 * Shared steps of the versioning tests (tests/versioning_*_test.ts) against a real server: a
 * versioned bucket, puts and gets that report version ids, the order of a ListObjectVersions
 * document, and signed raw requests whose version headers are the point.
 */

import {
  CreateBucketCommand,
  GetObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { assertEquals } from "./assert.ts";
import type { TestServer } from "./server.ts";
import { signedFetch, xmlField } from "../s3_raw.ts";

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function text(client: S3Client, bucket: string, key: string, versionId?: string) {
  const got = await client.send(
    new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }),
  );
  return [await got.Body!.transformToString(), got.VersionId];
}

export async function put(client: S3Client, bucket: string, key: string, body: string) {
  const { VersionId } = await client.send(
    new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }),
  );
  return VersionId!;
}

export async function setVersioning(
  client: S3Client,
  bucket: string,
  status: "Enabled" | "Suspended",
) {
  await client.send(
    new PutBucketVersioningCommand({
      Bucket: bucket,
      VersioningConfiguration: { Status: status },
    }),
  );
}

export async function versionedBucket(client: S3Client, bucket: string) {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  await setVersioning(client, bucket, "Enabled");
}

/** [key, versionId, isLatest, deleteMarker] of every entry, in the order of the document. */
export async function listing(server: TestServer, bucket: string, query: [string, string][] = []) {
  const response = await signedFetch(server, {
    method: "GET",
    path: `/${bucket}`,
    query: [["versions", ""], ...query],
  });
  const xml = await response.text();
  assertEquals(response.status, 200, xml);
  const entries = [...xml.matchAll(/<(Version|DeleteMarker)>(.*?)<\/\1>/g)].map((m) => [
    xmlField(m[2], "Key"),
    xmlField(m[2], "VersionId"),
    xmlField(m[2], "IsLatest") === "true",
    m[1] === "DeleteMarker",
  ]);
  return { xml, entries };
}

/** A signed raw request's status, error code and version headers. */
export async function raw(
  server: TestServer,
  method: string,
  path: string,
  query: [string, string][] = [],
  body?: string,
  headers?: Record<string, string>,
) {
  const response = await signedFetch(server, { method, path, query, body, headers });
  const xml = await response.text();
  return {
    status: response.status,
    code: xmlField(xml, "Code"),
    versionId: response.headers.get("x-amz-version-id"),
    deleteMarker: response.headers.get("x-amz-delete-marker"),
  };
}
