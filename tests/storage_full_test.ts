/**
 * A full drive set (issue 11 defect 7), with the real server on four small tmpfs drives: a PUT
 * that no longer fits is 507 XMinioStorageFull (was 503 "0 shard writers left"), every drive
 * keeps its free-space reserve, and metadata writes and deletes still work; once objects are
 * deleted, PUTs fit again. Mounting needs root: elsewhere the test is ignored.
 */
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
} from "@aws-sdk/client-s3";
import { statfs } from "node:fs/promises";
import { assert, assertEquals } from "./helpers/assert.ts";
import { ignoreWithout, mountsUnavailable } from "./helpers/capabilities.ts";
import { mountTmpfs, unmount } from "./helpers/mounts.ts";
import { startServer, type TestServer } from "./helpers/server.ts";
import { client, type Expected, expectExact, failure, MiB, pattern, put } from "./fault_util.ts";

const DRIVE_MIB = 32;
const RESERVE_MIB = 8;

const fullDrivesTest =
  "full drives: 507 XMinioStorageFull, the reserve holds, metadata writes and deletes work";
Deno.test({
  name: fullDrivesTest,
  ignore: ignoreWithout(fullDrivesTest, await mountsUnavailable()),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "flashstor-full-" });
    const drives = [1, 2, 3, 4].map((i) => `${dir}/d${i}`);
    const mounted: string[] = [];
    let server: TestServer | undefined;
    try {
      for (const d of drives) {
        await Deno.mkdir(d);
        await mountTmpfs(d, DRIVE_MIB);
        mounted.push(d);
      }
      server = await startServer({ drives, args: ["--drive-reserve", `${RESERVE_MIB}MiB`] });
      const s3 = client(server);
      await s3.send(new CreateBucketCommand({ Bucket: "full" }));
      // 2+2: each 8 MiB object puts 4 MiB (and checksums) on every drive, so a 32 MiB drive
      // with 8 MiB in reserve takes five at most.
      const stored = new Map<string, Expected>();
      let refused: { status: number; code: string } | undefined;
      for (let i = 0; i < 10 && !refused; i++) {
        const bytes = pattern(8 * MiB, i);
        const attempt = put(s3, "full", `o${i}`, bytes);
        const etag = await attempt.catch(() => undefined);
        if (etag === undefined) refused = await failure(attempt);
        else stored.set(`o${i}`, { bytes, etag });
      }
      assert(stored.size > 0 && refused, `${stored.size} objects stored, then no refusal`);
      assertEquals(refused, { status: 507, code: "XMinioStorageFull" });

      for (const d of drives) {
        const fs = await statfs(d);
        // What metadata the refused writes' commits and rollbacks wrote may dip below.
        assert(fs.bavail * fs.bsize > (RESERVE_MIB - 1) * MiB, `${d}: the reserve was eaten`);
      }
      // Metadata writes: a bucket, an upload record; small objects replaced in place.
      await s3.send(new CreateBucketCommand({ Bucket: "still-writable" }));
      const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: "full", Key: "m" }));
      await s3.send(
        new AbortMultipartUploadCommand({ Bucket: "full", Key: "m", UploadId: upload.UploadId }),
      );
      // Deletes work, and make room again.
      for (const key of [...stored.keys()].slice(0, 2)) {
        await s3.send(new DeleteObjectCommand({ Bucket: "full", Key: key }));
        stored.delete(key);
      }
      const again = pattern(8 * MiB, 99);
      stored.set("again", { bytes: again, etag: await put(s3, "full", "again", again) });
      for (const [key, want] of stored) await expectExact(s3, "full", key, want);
    } catch (err) {
      console.error(server?.output().slice(-4000));
      throw err;
    } finally {
      await server?.cleanup();
      for (const d of mounted) await unmount(d);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
