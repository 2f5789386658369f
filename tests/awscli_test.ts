/**
 * The AWS CLI (Debian's awscli at /usr/bin/aws, installed by `scripts/setup --test`) against a
 * real server: `s3 cp` both ways (small, and 64 MiB which the CLI sends as multipart and reads
 * back with ranged GETs), `s3 sync` of a tree up and back, `s3 ls`, `s3 rm --recursive`, and
 * `s3api` calls. Each CLI run is a Python process, so the steps are few and coarse.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "./helpers/assert.ts";
import { awsEnv, readTree, TREE, writeTree } from "./helpers/clients.ts";
import { startServer, type TestServer } from "./helpers/server.ts";

const AWS = "/usr/bin/aws";
const MiB = 1024 * 1024;

const awsMissing = await Deno.stat(AWS).then(() => false, () => true);
if (awsMissing) {
  console.log(`awscli_test: skipped, ${AWS} is absent (run scripts/setup --test to install it)`);
}

async function aws(server: TestServer, home: string, ...args: string[]): Promise<string> {
  const output = await new Deno.Command(AWS, {
    args: ["--endpoint-url", server.endpoint, ...args],
    clearEnv: true,
    env: {
      PATH: "/usr/bin:/bin",
      HOME: home,
      LANG: "C.UTF-8",
      ...awsEnv(),
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assertEquals(output.code, 0, `aws ${args.join(" ")} failed:\n${stderr}\n${stdout}`);
  return stdout;
}

const json = async (run: Promise<string>) => JSON.parse(await run);

async function fileMd5(path: string): Promise<string> {
  const hash = createHash("md5");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

async function writePatterned(path: string, size: number): Promise<void> {
  const block = new Uint8Array(MiB);
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (let offset = 0; offset < size; offset += block.length) {
    for (let i = 0; i < block.length; i++) block[i] = (offset / MiB * 31 + i * 7 + (i >> 9)) & 0xff;
    await file.write(block.subarray(0, Math.min(block.length, size - offset)));
  }
}

Deno.test({
  name: "the AWS CLI: s3 cp/sync/ls/rm and s3api",
  ignore: awsMissing,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const work = await Deno.makeTempDir({ prefix: "flashstor-awscli-" });
    const run = (...args: string[]) => aws(server, work, ...args);
    try {
      await t.step("s3api create-bucket and s3 ls of buckets", async () => {
        await run("s3api", "create-bucket", "--bucket", "cli");
        const listing = await run("s3", "ls");
        assert(/\scli\n/.test(listing), listing);
      });

      await t.step("s3 cp up and down, small and 64 MiB (multipart)", async () => {
        await Deno.writeTextFile(`${work}/small.txt`, "a small file\n");
        await run("s3", "cp", `${work}/small.txt`, "s3://cli/files/small.txt");
        await run("s3", "cp", "s3://cli/files/small.txt", `${work}/small.back`);
        assertEquals(await Deno.readTextFile(`${work}/small.back`), "a small file\n");

        await writePatterned(`${work}/big.bin`, 64 * MiB);
        await run("s3", "cp", `${work}/big.bin`, "s3://cli/files/big.bin");
        const head = await json(
          run(
            "s3api",
            "head-object",
            "--bucket",
            "cli",
            "--key",
            "files/big.bin",
            "--output",
            "json",
          ),
        );
        assertEquals(head.ContentLength, 64 * MiB);
        assert(/^"[0-9a-f]{32}-\d+"$/.test(head.ETag), `a multipart ETag, got ${head.ETag}`);
        await run("s3", "cp", "s3://cli/files/big.bin", `${work}/big.back`);
        assertEquals(await fileMd5(`${work}/big.back`), await fileMd5(`${work}/big.bin`));
        await Deno.remove(`${work}/big.back`);
        await Deno.remove(`${work}/big.bin`);
      });

      await t.step("s3 sync a tree up and back, s3 ls --recursive", async () => {
        await writeTree(`${work}/tree`, TREE);
        await run("s3", "sync", `${work}/tree`, "s3://cli/tree");
        const listing = await run("s3", "ls", "--recursive", "s3://cli/");
        const keys = listing.trim().split("\n").map((line) => line.split(/\s+/).slice(3).join(" "));
        assertEquals(
          keys.sort(),
          ["files/small.txt", "files/big.bin", ...Object.keys(TREE).map((p) => `tree/${p}`)]
            .sort(),
        );
        await run("s3", "sync", "s3://cli/tree", `${work}/back`);
        assertEquals(await readTree(`${work}/back`), TREE);
        const again = await run("s3", "sync", `${work}/tree`, "s3://cli/tree");
        assertEquals(again.trim(), "", "a second sync uploads nothing");
      });

      await t.step("s3api put-object with metadata, get-object, list-objects-v2", async () => {
        await Deno.writeTextFile(`${work}/doc.json`, '{"hello": "world"}');
        await run(
          "s3api",
          "put-object",
          "--bucket",
          "cli",
          "--key",
          "docs/doc.json",
          "--body",
          `${work}/doc.json`,
          "--content-type",
          "application/json",
          "--metadata",
          "author=flashstor,stage=test",
        );
        const head = await json(
          run(
            "s3api",
            "head-object",
            "--bucket",
            "cli",
            "--key",
            "docs/doc.json",
            "--output",
            "json",
          ),
        );
        assertEquals(head.Metadata, { author: "flashstor", stage: "test" });
        assertEquals(head.ContentType, "application/json");
        const got = await json(
          run(
            "s3api",
            "get-object",
            "--bucket",
            "cli",
            "--key",
            "docs/doc.json",
            `${work}/doc.back`,
            "--output",
            "json",
          ),
        );
        assertEquals(got.ContentLength, 18);
        assertEquals(await Deno.readTextFile(`${work}/doc.back`), '{"hello": "world"}');
        const listed = await json(
          run(
            "s3api",
            "list-objects-v2",
            "--bucket",
            "cli",
            "--prefix",
            "tree/a/",
            "--delimiter",
            "/",
            "--output",
            "json",
          ),
        );
        assertEquals(listed.Contents.map((c: { Key: string }) => c.Key), ["tree/a/one.txt"]);
        assertEquals(listed.CommonPrefixes, [{ Prefix: "tree/a/b/" }]);
      });

      await t.step("s3api delete-objects, s3 rm --recursive, list-object-versions", async () => {
        const deleted = await json(
          run(
            "s3api",
            "delete-objects",
            "--bucket",
            "cli",
            "--delete",
            JSON.stringify({ Objects: [{ Key: "docs/doc.json" }, { Key: "files/small.txt" }] }),
            "--output",
            "json",
          ),
        );
        assertEquals(
          deleted.Deleted.map((d: { Key: string }) => d.Key).sort(),
          ["docs/doc.json", "files/small.txt"],
        );
        await run("s3", "rm", "--recursive", "s3://cli/tree");
        const rest = await json(
          run("s3api", "list-objects-v2", "--bucket", "cli", "--output", "json"),
        );
        assertEquals(rest.Contents.map((c: { Key: string }) => c.Key), ["files/big.bin"]);
        // How tools empty a bucket that may be versioned: every version, then delete them all.
        const versions = await json(
          run("s3api", "list-object-versions", "--bucket", "cli", "--output", "json"),
        );
        const objects = versions.Versions.map((v: { Key: string; VersionId: string }) => ({
          Key: v.Key,
          VersionId: v.VersionId,
        }));
        assertEquals(objects, [{ Key: "files/big.bin", VersionId: "null" }]);
        await run(
          "s3api",
          "delete-objects",
          "--bucket",
          "cli",
          "--delete",
          JSON.stringify({ Objects: objects }),
        );
        await run("s3api", "delete-bucket", "--bucket", "cli");
        assert(!/\scli\n/.test(await run("s3", "ls")));
      });
    } finally {
      await server.cleanup();
      await Deno.remove(work, { recursive: true });
    }
  },
});
