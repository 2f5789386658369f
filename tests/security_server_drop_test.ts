/**
 * The privilege drop of the real server (scripts/flashstor under its least-privilege Deno flags),
 * started as root with FLASHSTORE_RUN_USER=nobody: every thread of the process ends up with
 * nobody's uid/gid and NoNewPrivs set, it still serves S3 (the drives were handed over), it can
 * no longer read a root-owned 0600 file, and its audit log (opened as root) still gets written.
 * A run user that does not exist stops the start before the listener is bound. CI runs as root;
 * elsewhere the tests are skipped.
 */

import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { getuid } from "../ffi/libc.ts";
import { resolveIdentity } from "../src/security/privileges.ts";
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { FLASHSTOR, s3Client, startServer, type TestServer } from "./helpers/server.ts";

const isRoot = Deno.build.os === "linux" && getuid() === 0;
if (!isRoot) {
  console.log("security_server_drop_test: not root, so the server's privilege drop is skipped");
}

const BUCKET = "dropped";

/** The four ids of a "Uid:" or "Gid:" line of /proc/<pid>/status (real, effective, saved, fs). */
function ids(status: string, field: "Uid" | "Gid" | "Groups" | "NoNewPrivs"): string[] {
  const line = status.split("\n").find((l) => l.startsWith(`${field}:`));
  assert(line !== undefined, `no ${field} line`);
  return line.slice(field.length + 1).trim().split(/\s+/);
}

/** Status texts of every thread of `pid`: setuid must have reached them all. */
async function threadStatuses(pid: number): Promise<string[]> {
  const statuses: string[] = [];
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    statuses.push(await Deno.readTextFile(`/proc/${pid}/task/${task.name}/status`));
  }
  return statuses;
}

async function getStatus(server: TestServer, key: string): Promise<number> {
  const client = s3Client(server);
  try {
    const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    await out.Body!.transformToByteArray();
    return out.$metadata.httpStatusCode ?? 0;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? -1;
  } finally {
    client.destroy();
  }
}

/**
 * nobody, with nogroup as its group where that group exists (Debian, Ubuntu), in the variables
 * of `prefix` (FLASHSTORE is the old spelling, still accepted).
 */
async function runUserEnv(
  prefix: "FLASHSTOR" | "FLASHSTORE" = "FLASHSTORE",
): Promise<Record<string, string>> {
  const env: Record<string, string> = { [`${prefix}_RUN_USER`]: "nobody" };
  if (/^nogroup:/m.test(await Deno.readTextFile("/etc/group"))) {
    env[`${prefix}_RUN_GROUP`] = "nogroup";
  }
  return env;
}

/** Runs `fn` against the real server started as root with nobody as its run user. */
async function withDroppedServer(
  fn: (server: TestServer) => Promise<void>,
  env?: Record<string, string>,
): Promise<void> {
  env ??= await runUserEnv();
  const dir = await Deno.makeTempDir({ prefix: "flashstor-drop-" });
  // Deno makes temp dirs 0700: nobody must be able to reach the drives inside.
  await Deno.chmod(dir, 0o755);
  let server: TestServer | undefined;
  try {
    server = await startServer({ dir, env, args: ["--audit-log", `${dir}/audit.log`] });
    await fn(server);
  } catch (err) {
    if (server) console.error(server.output().slice(-4000));
    throw err;
  } finally {
    await server?.cleanup();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "real server started as root runs as nobody, serves, and cannot read root's 0600 files",
  ignore: !isRoot,
  fn: () =>
    withDroppedServer(async (server) => {
      const env = await runUserEnv();
      const nobody = resolveIdentity({ user: "nobody", group: env.FLASHSTORE_RUN_GROUP });
      assertStringIncludes(server.output(), `running as nobody (uid ${nobody.uid}`);

      // setuid/setgid reach every thread (glibc broadcasts them); the main thread ran the drop.
      const pid = server.process.pid;
      const statuses = await threadStatuses(pid);
      assert(statuses.length > 1, "Deno runs several threads");
      for (const status of statuses) {
        assertEquals(ids(status, "Uid"), Array(4).fill(String(nobody.uid)));
        assertEquals(ids(status, "Gid"), Array(4).fill(String(nobody.gid)));
        assertEquals(ids(status, "Groups"), [String(nobody.gid)]);
      }
      assertEquals(ids(await Deno.readTextFile(`/proc/${pid}/status`), "NoNewPrivs"), ["1"]);

      // It serves: the drives were handed to nobody before the drop.
      const client = s3Client(server);
      await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
      for (const key of ["readable", "secret"]) {
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `${key}\n` }));
      }
      client.destroy();
      assertEquals(await getStatus(server, "readable"), 200);
      for (const drive of server.drives) {
        assertEquals((await Deno.stat(`${drive}/${BUCKET}/readable/xl.meta`)).uid, nobody.uid);
      }

      // The observable: the object's metadata, the one file a GET of a small object must read on
      // every drive, becomes root's with mode 0600 — contents untouched. Were the server still
      // root (or holding CAP_DAC_OVERRIDE), the GET would succeed; as nobody it cannot open the
      // file on any drive, so the read quorum fails (503). Mode 0644 (still root's) is the control:
      // readable again, which shows that the permission bits, not the ownership change or the
      // contents, made the difference.
      const metas = server.drives.map((drive) => `${drive}/${BUCKET}/secret/xl.meta`);
      for (const meta of metas) {
        await Deno.chown(meta, 0, 0);
        await Deno.chmod(meta, 0o600);
      }
      const refused = await getStatus(server, "secret");
      assertEquals(refused, 503, "read quorum lost: no drive's metadata could be opened");
      assertEquals(await getStatus(server, "readable"), 200, "other objects still read");
      for (const meta of metas) await Deno.chmod(meta, 0o644);
      assertEquals(await getStatus(server, "secret"), 200, "root's 0644 file is readable");

      // The audit log was opened as root before the drop: the descriptor keeps working after
      // it, and SIGTERM still writes the log out.
      assertEquals((await server.stop()).code, 0);
      const audit = `${server.dir}/audit.log`;
      const info = await Deno.stat(audit);
      assertEquals([info.uid, info.mode! & 0o777], [0, 0o640]);
      const entries = (await Deno.readTextFile(audit)).trimEnd().split("\n")
        .map((line) => JSON.parse(line));
      assert(entries.length >= 7, `${entries.length} audit entries`);
      assertEquals(
        [entries.at(-1).operation, entries.at(-1).object, entries.at(-1).status],
        ["GetObject", "secret", 200],
      );
    }),
});

Deno.test({
  name: "FLASHSTOR_RUN_USER/GROUP, the spelling of every other variable, drop the real server too",
  ignore: !isRoot,
  fn: async () => {
    const env = await runUserEnv("FLASHSTOR");
    await withDroppedServer(async (server) => {
      const nobody = resolveIdentity({ user: "nobody", group: env.FLASHSTOR_RUN_GROUP });
      assertStringIncludes(server.output(), `running as nobody (uid ${nobody.uid}`);
      const status = await Deno.readTextFile(`/proc/${server.process.pid}/status`);
      assertEquals(ids(status, "Uid"), Array(4).fill(String(nobody.uid)));
    }, env);
  },
});

// PR_SET_NO_NEW_PRIVS is a per-thread flag, inherited only by threads created later, and Deno
// starts its V8 and tokio threads before main.ts runs: scripts/flashstor sets the flag before
// exec (setpriv --no-new-privs) so that every thread has it.
Deno.test({
  name: "every thread of the dropped server has NoNewPrivs",
  ignore: !isRoot,
  fn: () =>
    withDroppedServer(async (server) => {
      const statuses = await threadStatuses(server.process.pid);
      const without = statuses.filter((status) => ids(status, "NoNewPrivs")[0] !== "1");
      assertEquals(without.length, 0, `${without.length} of ${statuses.length} threads lack it`);
    }),
});

Deno.test({
  name: "real server refuses to start when the run user does not exist, or both spellings differ",
  ignore: !isRoot,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "flashstor-drop-" });
    try {
      const output = await new Deno.Command(FLASHSTOR, {
        args: ["server", "--address", "127.0.0.1:0", `${dir}/d{1...4}`],
        env: { FLASHSTORE_RUN_USER: "no-such-flashstor-user" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const text = new TextDecoder().decode(output.stdout) +
        new TextDecoder().decode(output.stderr);
      assert(output.code !== 0, `exit code ${output.code}:\n${text}`);
      assertStringIncludes(text, "refusing to run");
      assertStringIncludes(text, 'unknown user "no-such-flashstor-user"');
      assert(!text.includes("listening on"), `it must never serve:\n${text}`);
      const both = await new Deno.Command(FLASHSTOR, {
        args: ["server", "--address", "127.0.0.1:0", `${dir}/d{1...4}`],
        env: { FLASHSTOR_RUN_USER: "nobody", FLASHSTORE_RUN_USER: "root" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const bothText = new TextDecoder().decode(both.stderr);
      assertEquals(both.code, 2, bothText);
      assertStringIncludes(
        bothText,
        "FLASHSTOR_RUN_USER=nobody and FLASHSTORE_RUN_USER=root differ",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
