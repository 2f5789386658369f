/**
 * s3cmd (Debian's, at /usr/bin/s3cmd) against a real server, configured by a config file as a user
 * would write it (path style, plain HTTP, SigV4): mb, put (small, and 20 MiB in 5 MiB parts), get,
 * ls, la, info, sync up and back, cp/mv/modify, du, signurl, del --recursive, rb, and the exit
 * codes of failures.
 */

import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import {
  clientPresent,
  md5Hex,
  MiB,
  patterned,
  readTree,
  run,
  runOk,
  type RunResult,
  TREE,
  writeS3cmdConfig,
  writeTree,
} from "./helpers/clients.ts";
import { startServer } from "./helpers/server.ts";

const S3CMD = "/usr/bin/s3cmd";
const present = clientPresent("client_s3cmd_test", S3CMD);
// s3cmd's exit codes (S3/ExitCodes.py).
const EX_NOTFOUND = 12;
const EX_CONFLICT = 13;
const EX_USAGE = 64;

const SMALL = patterned(33_333, 21);
const BIG = patterned(20 * MiB, 22);

Deno.test({
  name: "s3cmd: mb, put (multipart), get, ls, la, info, sync, cp/mv/modify, du, signurl, del, rb",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const server = await startServer();
    const work = await Deno.makeTempDir({ prefix: "flashstor-s3cmd-" });
    await writeS3cmdConfig(`${work}/s3cfg`, server.port);
    const args = (cmd: string[]) => ["-c", `${work}/s3cfg`, "--no-progress", ...cmd];
    const env = { HOME: work };
    const s3cmd = (...cmd: string[]) => runOk(S3CMD, args(cmd), env);
    const s3cmdFails = async (...cmd: string[]): Promise<RunResult> => {
      const result = await run(S3CMD, args(cmd), env);
      assert(result.code !== 0, `s3cmd ${cmd.join(" ")} should fail:\n${result.stdout}`);
      return result;
    };
    await Deno.writeFile(`${work}/small.bin`, SMALL);
    await Deno.writeFile(`${work}/big.bin`, BIG);
    try {
      await t.step("mb, ls of buckets, mb of an existing bucket fails", async () => {
        await s3cmd("mb", "s3://s3c");
        assertStringIncludes(await s3cmd("ls"), "  s3://s3c\n");
        const again = await s3cmdFails("mb", "s3://s3c");
        assertEquals(again.code, EX_CONFLICT, again.stderr);
      });

      await t.step("put small and 20 MiB (5 MiB parts), get both back", async () => {
        await s3cmd("put", `${work}/small.bin`, "s3://s3c/files/small.bin");
        const put = await s3cmd(
          "put",
          "--progress",
          "--multipart-chunk-size-mb=5",
          `${work}/big.bin`,
          "s3://s3c/files/big.bin",
        );
        assertStringIncludes(put, "[part 4 of 4, 5MB]", "the progress meter shows four parts");
        await s3cmd("get", "s3://s3c/files/small.bin", `${work}/small.get`);
        await s3cmd("get", "s3://s3c/files/big.bin", `${work}/big.get`);
        assertEquals(await Deno.readFile(`${work}/small.get`), SMALL);
        assertEquals(md5Hex(await Deno.readFile(`${work}/big.get`)), md5Hex(BIG));
        // s3cmd lists before it gets, and reports a missing source as a usage error.
        const missing = await s3cmdFails("get", "s3://s3c/files/none", `${work}/none`);
        assertEquals(missing.code, EX_USAGE, missing.stderr);
        assertStringIncludes(missing.stderr, "'s3://s3c/files/none' does not exist");
      });

      await t.step("ls, la, info of an object and of the bucket", async () => {
        const listing = await s3cmd("ls", "s3://s3c/files/");
        const rows = listing.trim().split("\n").map((line) => line.trim().split(/\s+/));
        assertEquals(
          rows.map((row) => [row[2], row[3]]),
          [[String(BIG.length), "s3://s3c/files/big.bin"], [
            String(SMALL.length),
            "s3://s3c/files/small.bin",
          ]],
        );
        assertEquals((await s3cmd("ls", "s3://s3c/")).trim().split(/\s+/), [
          "DIR",
          "s3://s3c/files/",
        ]);
        assertEquals((await s3cmd("la")).trim().split(/\s+/), ["DIR", "s3://s3c/files/"]);
        const all = await s3cmd("la", "--recursive");
        assertStringIncludes(all, "s3://s3c/files/big.bin");
        assertStringIncludes(all, "s3://s3c/files/small.bin");

        const info = await s3cmd("info", "s3://s3c/files/big.bin");
        assert(new RegExp(`File size:\\s+${BIG.length}\\n`).test(info), info);
        // s3cmd records the whole file's MD5 in its own metadata for multipart uploads.
        assert(new RegExp(`MD5 sum:\\s+${md5Hex(BIG)}\\n`).test(info), info);
        // For a multipart ETag ("…-4") s3cmd shows the MD5 it stored in its x-amz-meta-s3cmd-attrs.
        const md5s = await s3cmd("ls", "--list-md5", "s3://s3c/files/");
        assertEquals(
          md5s.trim().split("\n").map((line) => line.trim().split(/\s+/).slice(2)),
          [
            [String(BIG.length), md5Hex(BIG), "s3://s3c/files/big.bin"],
            [String(SMALL.length), md5Hex(SMALL), "s3://s3c/files/small.bin"],
          ],
        );
        const small = await s3cmd("info", "s3://s3c/files/small.bin");
        assert(new RegExp(`MD5 sum:\\s+${md5Hex(SMALL)}\\n`).test(small), small);
        const bucket = await s3cmd("info", "s3://s3c");
        assert(/Location:\s+us-east-1\n/.test(bucket), bucket);
      });

      await t.step("sync a directory up and back; a second sync sends nothing", async () => {
        await writeTree(`${work}/tree`, TREE);
        await s3cmd("sync", `${work}/tree/`, "s3://s3c/tree/");
        const listing = await s3cmd("ls", "--recursive", "s3://s3c/tree/");
        const keys = listing.trim().split("\n").map((line) => line.split("s3://s3c/tree/")[1]);
        assertEquals(keys.sort(), Object.keys(TREE).sort());
        await s3cmd("sync", "s3://s3c/tree/", `${work}/back/`);
        assertEquals(await readTree(`${work}/back`), TREE);
        await Deno.writeTextFile(`${work}/tree/a/one.txt`, "first, changed\n");
        const again = await s3cmd("sync", `${work}/tree/`, "s3://s3c/tree/");
        const uploads = again.split("\n").filter((line) => line.startsWith("upload:"));
        assertEquals(uploads.length, 1, again);
        assertStringIncludes(uploads[0], "s3://s3c/tree/a/one.txt");
        await s3cmd("get", "--force", "s3://s3c/tree/a/one.txt", `${work}/one.txt`);
        assertEquals(await Deno.readTextFile(`${work}/one.txt`), "first, changed\n");
      });

      await t.step("cp, mv and modify (server-side copies), du", async () => {
        await s3cmd("cp", "s3://s3c/files/big.bin", "s3://s3c/copies/big.bin");
        await s3cmd("mv", "s3://s3c/copies/big.bin", "s3://s3c/moved/big.bin");
        assertEquals((await s3cmd("ls", "s3://s3c/copies/")).trim(), "");
        await s3cmd("get", "s3://s3c/moved/big.bin", `${work}/moved.get`);
        assertEquals(md5Hex(await Deno.readFile(`${work}/moved.get`)), md5Hex(BIG));
        await s3cmd(
          "modify",
          "--add-header=x-amz-meta-stage:modified",
          "--mime-type=text/x-modified",
          "s3://s3c/files/small.bin",
        );
        const info = await s3cmd("info", "s3://s3c/files/small.bin");
        assert(/MIME type:\s+text\/x-modified\n/.test(info), info);
        assertStringIncludes(info, "x-amz-meta-stage: modified");
        await s3cmd("get", "--force", "s3://s3c/files/small.bin", `${work}/small.get`);
        assertEquals(await Deno.readFile(`${work}/small.get`), SMALL);
        const treeBytes = Object.values(TREE).reduce(
          (sum, text) => sum + new TextEncoder().encode(text).length,
          "first, changed\n".length - "first\n".length,
        );
        const total = 2 * BIG.length + SMALL.length + treeBytes;
        const count = 3 + Object.keys(TREE).length;
        assertEquals((await s3cmd("du", "s3://s3c")).trim().split(/\s+/), [
          String(total),
          String(count),
          "objects",
          "s3://s3c/",
        ]);
      });

      await t.step("signurl (s3cmd signs query URLs with SigV2, which is accepted)", async () => {
        const url = (await s3cmd("signurl", "s3://s3c/files/small.bin", "+300")).trim();
        assert(new URL(url).searchParams.has("AWSAccessKeyId"), url);
        const response = await fetch(url);
        const body = new Uint8Array(await response.arrayBuffer());
        assertEquals(response.status, 200, `${url}\n${new TextDecoder().decode(body)}`);
        assertEquals(body, SMALL);
        const tampered = await fetch(url.replace("small.bin", "big.bin"));
        assertEquals(tampered.status, 403);
        assertStringIncludes(await tampered.text(), "<Code>SignatureDoesNotMatch</Code>");
      });

      await t.step("del --recursive, rb of a non-empty bucket fails, rb", async () => {
        const full = await s3cmdFails("rb", "s3://s3c");
        assertEquals(full.code, EX_CONFLICT, full.stderr);
        assertStringIncludes(full.stderr, "BucketNotEmpty");
        await s3cmd("del", "--recursive", "--force", "s3://s3c/tree/");
        assertEquals(
          (await s3cmd("ls", "--recursive", "s3://s3c/")).trim().split("\n").length,
          3,
        );
        await s3cmd("del", "--recursive", "--force", "s3://s3c/");
        assertEquals((await s3cmd("ls", "--recursive", "s3://s3c/")).trim(), "");
        await s3cmd("rb", "s3://s3c");
        assertEquals((await s3cmd("ls")).trim(), "");
        const gone = await s3cmdFails("ls", "s3://s3c/");
        assertEquals(gone.code, EX_NOTFOUND, gone.stderr);
      });
    } finally {
      await server.cleanup();
      await Deno.remove(work, { recursive: true });
    }
  },
});
