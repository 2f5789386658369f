/**
 * Flashstor's command line: `flashstor server [flags] DRIVES...`.
 * Parses the configuration, opens (and formats) the drives, builds the object layer and
 * hands it to the HTTP server; SIGTERM / SIGINT shut down gracefully.
 * Started as root with FLASHSTORE_RUN_USER set, it hands the drives to that user, binds, and
 * drops to it before serving a request; then it revokes the Deno permissions it is done with.
 * `flashstor healthcheck [--url URL]` probes a running server (the Docker HEALTHCHECK).
 */

import { loadIsal } from "./ffi/isal.ts";
import { ConfigError, parseServerArgs, USAGE } from "./src/config.ts";
import { EndpointError } from "./src/cluster/endpoints.ts";
import { XlStorage } from "./src/storage/xl-storage.ts";
import { loadOrInitFormat } from "./src/storage/format.ts";
import type { StorageAPI } from "./src/storage/api.ts";
import { Pools } from "./src/object/pools.ts";
import { startServer } from "./src/server.ts";
import { becomeRunUser, prepareRunUser, PrivilegeDropError } from "./src/security/privileges.ts";
import { revokeUnneeded } from "./src/security/permissions.ts";
import { runHealthcheck } from "./src/observe/health-probe.ts";
import { closeAuditLogs } from "./src/observe/audit.ts";

async function openDrive(path: string): Promise<StorageAPI | undefined> {
  try {
    return await XlStorage.open(path);
  } catch (err) {
    console.error(`flashstor: drive ${path} is offline: ${(err as Error).message}`);
    return undefined;
  }
}

async function serve(args: string[]): Promise<void> {
  const config = parseServerArgs(args, (name) => Deno.env.get(name), Deno.env.get("HOME") ?? "");
  loadIsal();
  if (config.defaultCredentials) {
    console.warn(
      "flashstor: WARNING: using the default root credentials " +
        "(FLASHSTOR_ROOT_USER / FLASHSTOR_ROOT_PASSWORD are unset). Anyone who knows them " +
        "controls every bucket: set your own before exposing this server.",
    );
  }
  const drives = await Promise.all(config.drives.map(openDrive));
  const { setCount, setDriveCount, parity } = config.layout;
  const format = await loadOrInitFormat(drives, { setCount, setDriveCount });
  const layer = new Pools(format.sets, { parity, deploymentId: format.deploymentId });
  console.log(
    `flashstor: ${config.drives.length} drive(s) in ${setCount} erasure set(s) of ` +
      `${setDriveCount} (${setDriveCount - parity} data + ${parity} parity)`,
  );
  const runIdentity = await prepareRunUser({
    user: config.runUser,
    group: config.runGroup,
    drives: config.drives,
  });
  const server = await startServer(config, layer);
  if (runIdentity) {
    // Synchronous, right after binding: no request is served before the drop.
    const report = becomeRunUser(runIdentity);
    console.log(`flashstor: running as ${report.user} (uid ${report.uid}, gid ${report.gid})`);
  }
  // Read of the certs dir goes too where Deno can revoke it (a scoped --allow-read, as in the
  // container); there a SIGHUP reload fails and keeps the loaded certificate.
  const revoked = revokeUnneeded({ keepRead: config.drives, certsDir: config.certsDir });
  if (revoked.notRevocable.length > 0) {
    const kept = revoked.notRevocable.map((p) => p.permission).join(", ");
    console.log(`flashstor: permissions still granted: ${kept}`);
  }

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("flashstor: shutting down");
    await server.shutdown();
    // The finished requests' audit entries are queued by now: write them out before exiting.
    await closeAuditLogs();
    await layer.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await server.finished;
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === "healthcheck") return await runHealthcheck(rest);
  if (command !== "server") {
    console.error(USAGE);
    return 2;
  }
  try {
    await serve(rest);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof EndpointError) {
      console.error(`flashstor: ${err.message}`);
      return 2;
    }
    if (err instanceof PrivilegeDropError) {
      console.error(`flashstor: refusing to run: ${err.message}`);
      return 1;
    }
    console.error(`flashstor: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
