/**
 * rclone (Debian's, at /usr/bin/rclone) against a real server, configured only through
 * RCLONE_CONFIG_FS_* environment variables (an s3 remote, provider Minio, path style): mkdir,
 * copy of a tree and of a 20 MiB file in 5 MiB parts, lsf/ls, check (hash comparison both when
 * equal and when a file differs), md5sum, cat with ranges, copy back, server-side multipart copy,
 * touch (a copy onto itself with new metadata), moveto, sync, delete, purge.
 * The environment is cleared, so AWS_CA_BUNDLE (which breaks rclone's plain-HTTP client) is unset.
 */

import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import {
  clientPresent,
  md5Hex,
  MiB,
  multipartEtag,
  patterned,
  readTree,
  run,
  runOk,
  type RunResult,
  TREE,
  writeTree,
} from "./helpers/clients.ts";
import { ACCESS_KEY, s3Client, SECRET_KEY, startServer } from "./helpers/server.ts";

const RCLONE = "/usr/bin/rclone";
const present = clientPresent("client_rclone_test", RCLONE);

const BIG = patterned(20 * MiB, 31);
const MULTIPART = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"];

const lines = (text: string) => text.split("\n").filter((line) => line !== "");

Deno.test({
  name:
    "rclone: mkdir, copy (multipart), lsf/ls, check, md5sum, cat, server-side copy, sync, purge",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const work = await Deno.makeTempDir({ prefix: "flashstor-rclone-" });
    await Deno.writeTextFile(`${work}/rclone.conf`, "");
    const env = {
      HOME: work,
      RCLONE_CONFIG: `${work}/rclone.conf`,
      RCLONE_CONFIG_FS_TYPE: "s3",
      RCLONE_CONFIG_FS_PROVIDER: "Minio",
      RCLONE_CONFIG_FS_ENDPOINT: server.endpoint,
      RCLONE_CONFIG_FS_ACCESS_KEY_ID: ACCESS_KEY,
      RCLONE_CONFIG_FS_SECRET_ACCESS_KEY: SECRET_KEY,
      RCLONE_CONFIG_FS_REGION: "us-east-1",
      RCLONE_CONFIG_FS_FORCE_PATH_STYLE: "true",
      // The same server as a generic S3 provider: ListObjects v1, listings not URL-encoded.
      RCLONE_CONFIG_OTHER_TYPE: "s3",
      RCLONE_CONFIG_OTHER_PROVIDER: "Other",
      RCLONE_CONFIG_OTHER_ENDPOINT: server.endpoint,
      RCLONE_CONFIG_OTHER_ACCESS_KEY_ID: ACCESS_KEY,
      RCLONE_CONFIG_OTHER_SECRET_ACCESS_KEY: SECRET_KEY,
      RCLONE_CONFIG_OTHER_REGION: "us-east-1",
    };
    const common = ["--retries", "1", "--low-level-retries", "1"];
    const rclone = (...args: string[]) => runOk(RCLONE, [...common, ...args], env);
    const rcloneFails = async (...args: string[]): Promise<RunResult> => {
      const result = await run(RCLONE, [...common, ...args], env);
      assert(result.code !== 0, `rclone ${args.join(" ")} should fail:\n${result.stdout}`);
      return result;
    };
    await writeTree(`${work}/tree`, TREE);
    await Deno.writeFile(`${work}/big.bin`, BIG);
    try {
      await t.step("mkdir creates the bucket; lsf lists it", async () => {
        await rclone("mkdir", "fs:rcl");
        assertEquals(lines(await rclone("lsf", "fs:")), ["rcl/"]);
      });

      await t.step("copy a tree and a 20 MiB file (5 MiB parts); lsf, ls", async () => {
        await rclone("copy", `${work}/tree`, "fs:rcl/tree");
        await rclone("copy", ...MULTIPART, `${work}/big.bin`, "fs:rcl/big");
        const head = await s3Client(server).send(
          new HeadObjectCommand({ Bucket: "rcl", Key: "big/big.bin" }),
        );
        assertEquals(head.ETag, `"${multipartEtag(BIG, 5 * MiB)}"`, "uploaded in four 5 MiB parts");
        assertEquals(
          lines(await rclone("lsf", "-R", "--files-only", "fs:rcl")).sort(),
          ["big/big.bin", ...Object.keys(TREE).map((path) => `tree/${path}`)].sort(),
        );
        assertEquals(lines(await rclone("lsf", "fs:rcl/tree")), ["a/", "c/", "top.txt"]);
        const sizes = lines(await rclone("ls", "fs:rcl")).map((line) => {
          const [, size, path] = /^\s*(\d+) (.*)$/.exec(line)!;
          return [path, Number(size)];
        });
        assertEquals(
          sizes.sort(),
          [
            ["big/big.bin", BIG.length],
            ...Object.entries(TREE).map(([path, text]) => [
              `tree/${path}`,
              new TextEncoder().encode(text).length,
            ]),
          ].sort(),
        );
      });

      await t.step(
        "provider Other (ListObjects v1, raw keys in XML): lsf, check, copy",
        async () => {
          assertEquals(
            lines(await rclone("lsf", "-R", "--files-only", "other:rcl/tree")).sort(),
            Object.keys(TREE).sort(),
          );
          assertEquals(await rclone("check", `${work}/tree`, "other:rcl/tree"), "");
          await rclone("copyto", "other:rcl/tree/c/ü.txt", "other:rcl/other/ü <&>.txt");
          assertEquals(await rclone("cat", "fs:rcl/other/ü <&>.txt"), TREE["c/ü.txt"]);
          assertEquals(lines(await rclone("lsf", "other:rcl/other")), ["ü <&>.txt"]);
          await rclone("purge", "other:rcl/other");
          assertEquals(lines(await rclone("lsf", "fs:rcl")), ["big/", "tree/"]);
        },
      );

      await t.step("check compares hashes: equal, then one file differs", async () => {
        const same = await rclone("check", `${work}/tree`, "fs:rcl/tree");
        assertEquals(same, "");
        await rclone("check", `${work}/big.bin`, "fs:rcl/big");
        // rclone keeps the MD5 of a multipart upload in its own metadata (X-Amz-Meta-Md5chksum).
        assertEquals(lines(await rclone("md5sum", "fs:rcl/big")), [`${md5Hex(BIG)}  big.bin`]);
        await Deno.writeTextFile(`${work}/tree/a/one.txt`, "FIRST\n");
        const differs = await rcloneFails("check", `${work}/tree`, "fs:rcl/tree");
        assertStringIncludes(differs.stderr, "1 differences found");
        assertStringIncludes(differs.stderr, "a/one.txt");
        await Deno.writeTextFile(`${work}/tree/a/one.txt`, TREE["a/one.txt"]);
      });

      await t.step("cat whole and ranged; copy back byte for byte", async () => {
        assertEquals(await rclone("cat", "fs:rcl/tree/a/b/two.txt"), TREE["a/b/two.txt"]);
        const range = await new Deno.Command(RCLONE, {
          args: [
            ...common,
            "cat",
            "--offset",
            String(5 * MiB - 7),
            "--count",
            "100",
            "fs:rcl/big/big.bin",
          ],
          clearEnv: true,
          env: { PATH: "/usr/bin:/bin", ...env },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assertEquals(range.code, 0, new TextDecoder().decode(range.stderr));
        assertEquals(range.stdout, BIG.subarray(5 * MiB - 7, 5 * MiB + 93));
        await rclone("copy", "fs:rcl", `${work}/back`);
        assertEquals(md5Hex(await Deno.readFile(`${work}/back/big/big.bin`)), md5Hex(BIG));
        assertEquals(await readTree(`${work}/back/tree`), TREE);
        // On bucket remotes rclone takes a missing path for an empty directory, not an error.
        assertEquals(await rclone("lsf", "fs:rcl/none/"), "");
        const forged = await rcloneFails("lsf", "--s3-secret-access-key", "wrong-secret", "fs:rcl");
        assertStringIncludes(forged.stderr, "SignatureDoesNotMatch");
      });

      await t.step("server-side copyto (multipart copy), touch, moveto, sync", async () => {
        await rclone(
          "copyto",
          "--s3-copy-cutoff",
          "5M",
          "fs:rcl/big/big.bin",
          "fs:rcl/copies/big.bin",
        );
        const head = await s3Client(server).send(
          new HeadObjectCommand({ Bucket: "rcl", Key: "copies/big.bin" }),
        );
        assertEquals(head.ETag, `"${multipartEtag(BIG, 5 * MiB)}"`, "copied in four 5 MiB parts");
        assertEquals(lines(await rclone("md5sum", "fs:rcl/copies")), [`${md5Hex(BIG)}  big.bin`]);
        await rclone("copyto", "fs:rcl/copies/big.bin", `${work}/copy.get`);
        assertEquals(md5Hex(await Deno.readFile(`${work}/copy.get`)), md5Hex(BIG));

        await rclone("touch", "-t", "2020-01-02T03:04:05", "fs:rcl/tree/top.txt");
        assertStringIncludes(
          await rclone("lsl", "fs:rcl/tree/top.txt"),
          "2020-01-02 03:04:05.000000000 top.txt",
        );
        assertEquals(await rclone("cat", "fs:rcl/tree/top.txt"), TREE["top.txt"]);

        await rclone("moveto", "fs:rcl/copies/big.bin", "fs:rcl/moved.bin");
        assertEquals(lines(await rclone("lsf", "fs:rcl")), ["big/", "moved.bin", "tree/"]);

        await Deno.remove(`${work}/tree/a/b/with space.txt`);
        await Deno.writeTextFile(`${work}/tree/top.txt`, "top level, synced\n");
        await rclone("sync", `${work}/tree`, "fs:rcl/tree");
        assertEquals(
          lines(await rclone("lsf", "-R", "--files-only", "fs:rcl/tree")).sort(),
          ["a/b/two.txt", "a/one.txt", "c/ü.txt", "top.txt"],
        );
        assertEquals(await rclone("cat", "fs:rcl/tree/top.txt"), "top level, synced\n");
        assertEquals(await rclone("check", `${work}/tree`, "fs:rcl/tree"), "");
      });

      await t.step("delete files by filter, then purge the bucket", async () => {
        await rclone("delete", "--include", "*.txt", "fs:rcl/tree/a");
        assertEquals(
          lines(await rclone("lsf", "-R", "--files-only", "fs:rcl")).sort(),
          ["big/big.bin", "moved.bin", "tree/c/ü.txt", "tree/top.txt"],
        );
        await rclone("purge", "fs:rcl");
        assertEquals(lines(await rclone("lsf", "fs:")), []);
        await rcloneFails("lsf", "fs:rcl");
      });
    } finally {
      await server.cleanup();
      await Deno.remove(work, { recursive: true });
    }
  },
});
