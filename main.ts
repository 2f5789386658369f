/**
 * Flashstor's command line: `flashstor server [flags] DRIVES...`.
 * Parses the configuration, checks what a newcomer gets wrong first (certificates, a port in
 * use) before touching any drive, locks the drives for this process, opens (and formats)
 * them, builds the object layer and hands it to the HTTP server; SIGTERM / SIGINT shut down
 * gracefully. Started as root with FLASHSTOR_RUN_USER set, it hands the drives to that user,
 * binds, and drops to it before serving a request; then it revokes the Deno permissions it is
 * done with. `flashstor healthcheck [--url URL]` probes a running server (the Docker
 * HEALTHCHECK).
 */

import { loadIsal } from "./ffi/isal.ts";
import { type Config, ConfigError, parseServerArgs, USAGE } from "./src/config.ts";
import { EndpointError, resolveTopology } from "./src/cluster/endpoints.ts";
import { localPaths } from "./src/cluster/topology.ts";
import { joinCluster } from "./src/cluster/node.ts";
import { peerTrust } from "./src/cluster/peer-tls.ts";
import { ServiceGate } from "./src/service-gate.ts";
import { createApp } from "./src/s3/app.ts";
import { loadOrInitFormat } from "./src/storage/format.ts";
import { openLocalDrive } from "./src/storage/local-drive.ts";
import { DriveMonitor } from "./src/storage/drive-monitor.ts";
import { IamStore } from "./src/iam/store.ts";
import { BuiltinKeyService } from "./src/kms/builtin.ts";
import { aesGcm } from "./src/crypto/engine.ts";
import { startCipherThread } from "./src/crypto/cipher-thread.ts";
import { Pools } from "./src/object/pools.ts";
import { whenQuorum } from "./src/object/quorum-wait.ts";
import { ConfigBucketMetadataStore } from "./src/bucket/metadata-store.ts";
import { BucketLifecycle } from "./src/bucket/lifecycle-scanner.ts";
import { checkListenAddress, loadTls, type RunningServer, startServer } from "./src/server.ts";
import { CertificateError } from "./src/security/certs.ts";
import { VERSION } from "./src/version.ts";
import { becomeRunUser, prepareRunUser, PrivilegeDropError } from "./src/security/privileges.ts";
import { revokeUnneeded } from "./src/security/permissions.ts";
import { runHealthcheck } from "./src/observe/health-probe.ts";
import { runAdmin } from "./src/admin/cli.ts";
import { loadMetricsToken } from "./src/observe/metrics-token.ts";
import { closeAuditLogs, openAuditLog } from "./src/observe/audit.ts";
import { Observability } from "./src/observe/observer.ts";
import { requestLoad } from "./src/observe/load.ts";

const COMMANDS_USAGE = `Usage: flashstor COMMAND [flags]

Commands:
  server DRIVES...   run the S3 server on DRIVES (flashstor server --help for its flags)
  healthcheck        probe a running server (the container HEALTHCHECK; --url URL)
  admin info|heal|kms  ask a running server for its state, heal it, or manage its keys
                     (flashstor admin --help)

Flags:
  -h, --help         this help
  -v, --version      print the version`;

/** How to reach the server, printed once it serves: the endpoint and a first command. */
function connectionHelp(config: Config, server: RunningServer): string {
  const secret = config.defaultCredentials ? config.rootPassword : "<FLASHSTOR_ROOT_PASSWORD>";
  const anyAddress = config.hostname === "0.0.0.0" || config.hostname === "::";
  return [
    `flashstor ${VERSION}: S3 endpoint ${server.url}` +
    (anyAddress ? " (listening on every address: from elsewhere use this host's name)" : ""),
    `  connect with the AWS CLI:`,
    `    aws configure set aws_access_key_id ${config.rootUser}`,
    `    aws configure set aws_secret_access_key ${secret}`,
    `    aws --endpoint-url ${server.url} s3 ls`,
  ].join("\n");
}

async function serve(args: string[]): Promise<void> {
  const config = parseServerArgs(args, (name) => Deno.env.get(name), Deno.env.get("HOME") ?? "");
  console.log(`flashstor ${VERSION} (Deno ${Deno.version.deno})`);
  loadIsal();
  if (config.defaultCredentials) {
    console.warn(
      "flashstor: WARNING: using the default root credentials " +
        "(FLASHSTOR_ROOT_USER / FLASHSTOR_ROOT_PASSWORD are unset). Anyone who knows them " +
        "controls every bucket: set your own before exposing this server.",
    );
  }
  // Mistakes that must stop the start before any drive is opened (whose temp area is emptied)
  // or formatted.
  const tls = await loadTls(config);
  checkListenAddress(config);
  const topology = await resolveTopology(config.drives, { ...config, tls: !!tls }, config.layout);
  const localDrivePaths = localPaths(topology);
  // Read now: the certs dir may not stay readable after the start.
  const peerCAs = topology.distributed && tls
    ? await peerTrust(config.certsDir, tls.cert)
    : undefined;
  // Any drive failure but another server holding it leaves that drive offline: the deployment
  // starts if the others make a quorum, and the drive monitor keeps probing it.
  const localDrives = new Map(
    await Promise.all(localDrivePaths.map(async (path) =>
      [
        path,
        await openLocalDrive(path, {
          lock: true,
          reserve: config.driveReserve,
          timeoutMs: config.driveTimeoutMs,
        }),
      ] as const
    )),
  );
  // Bound (and dropped to the run user) before the drives are formatted: peers reach a cluster
  // node's internode API while it bootstraps; S3 clients get 503s until the gate opens.
  const runIdentity = await prepareRunUser({
    user: config.runUser,
    group: config.runGroup,
    drives: localDrivePaths,
  });
  // Opened as root: the audit log may live where the run user cannot create files.
  const audit = openAuditLog(config.auditLog);
  const gate = new ServiceGate(config.domains);
  const server = startServer(config, gate.fetch, tls);
  if (runIdentity) {
    // Synchronous, right after binding: no request is served before the drop.
    const report = becomeRunUser(runIdentity);
    console.log(`flashstor: running as ${report.user} (uid ${report.uid}, gid ${report.gid})`);
  }
  // The cipher thread binds libcrypto on its own, so while ffi is still granted.
  const cipherThread = await startCipherThread();
  // Read of the certs dir goes too where Deno can revoke it (a scoped --allow-read, as in the
  // container); there a SIGHUP reload fails and keeps the loaded certificate.
  const revoked = revokeUnneeded({ keepRead: localDrivePaths, certsDir: config.certsDir });
  // Not errors: grants the launcher made too wide for Deno to take back.
  for (const { reason } of revoked.notRevocable) console.log(`flashstor: note: ${reason}`);

  const rootCredentials = { accessKey: config.rootUser, secretKey: config.rootPassword };
  const cluster = topology.distributed
    ? await joinCluster({
      topology,
      root: rootCredentials,
      gate,
      localDrives,
      driveTimeoutMs: config.driveTimeoutMs,
      lockExpiryMs: config.lockExpiryMs,
      caCerts: peerCAs,
    })
    : undefined;
  const drives = cluster?.drives ?? [...localDrives.values()];
  const { setCount, setDriveCount, parity } = config.layout;
  const format = cluster
    ? await cluster.format({ setCount, setDriveCount })
    : await loadOrInitFormat(drives, { setCount, setDriveCount });
  const layer = new Pools(format.sets, {
    parity,
    deploymentId: format.deploymentId,
    locker: cluster?.locker,
  });
  // One store of bucket settings: the object layer reads versioning where the S3 API sets it.
  const buckets = new ConfigBucketMetadataStore(layer);
  layer.setBucketVersioning(buckets);
  // A drive formatted into its slot (at start, or by the monitor) is rebuilt by a full heal.
  const healDrive = (set: number, drive: number) => void layer.healDrive(set, drive);
  const monitor = new DriveMonitor(format.sets, format.reference, {
    probeIntervalMs: config.driveProbeIntervalMs,
    onDriveFormatted: healDrive,
    local: topology.drives.map((d) => d.local),
  });
  for (const i of format.formatted) healDrive(Math.floor(i / setDriveCount), i % setDriveCount);
  monitor.start();
  // The heal queue's journal and drive heals a previous run left unfinished.
  await layer.resumeMaintenance();
  config.metricsToken = await whenQuorum(
    "metrics token",
    () => loadMetricsToken(config.metricsToken, format.sets.flat(), layer),
  );
  console.log(
    `flashstor: ${drives.length} drive(s) in ${setCount} erasure set(s) of ` +
      `${setDriveCount} (${setDriveCount - parity} data + ${parity} parity)` +
      (cluster ? ` on ${topology.nodes.length} nodes` : ""),
  );
  // The root key is only ever in this process's memory; the master keys it seals are on the
  // drives (src/kms/builtin.ts).
  const kmsRoot = config.kmsSecretKey;
  const keys = kmsRoot
    ? await whenQuorum("key service", () => BuiltinKeyService.open(layer, kmsRoot))
    : undefined;
  console.log(
    keys
      ? `flashstor: key service on (default key ${keys.defaultKeyId}): SSE-S3 and SSE-KMS ` +
        `served; AES-GCM by ${aesGcm.name}` +
        (cipherThread ? `, large bodies sealed by ${cipherThread} on a thread of their own` : "")
      : "flashstor: no key service (FLASHSTOR_KMS_SECRET_KEY unset): SSE-S3 and SSE-KMS refused",
  );
  const iam = await whenQuorum(
    "IAM",
    () => IamStore.load(layer, rootCredentials, format.deploymentId, keys),
  );
  console.log(`flashstor: IAM account ${iam.accountId}, ${iam.list("user").length} user(s)`);
  cluster?.metadata.attach({ iam, buckets });
  const observability = new Observability(layer, audit);
  gate.open(createApp({ config, layer, iam, identities: iam, buckets, observability, keys }));
  server.announce();
  console.log(connectionHelp(config, server));

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.log("flashstor: shutting down");
    await server.shutdown();
    // The finished requests' audit entries are queued by now: write them out before exiting.
    await closeAuditLogs();
    await monitor.close();
    await layer.close();
    await cluster?.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await layer.startScanner({
    ...config.scanner,
    busy: requestLoad.busy,
    lifecycle: new BucketLifecycle(buckets, layer, { dayMs: config.lifecycleDayMs }),
  });
  await server.finished;
}

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const help = (a: string) => a === "--help" || a === "-h";
  if (command === "--version" || command === "-v" || command === "version") {
    console.log(`flashstor ${VERSION} (Deno ${Deno.version.deno})`);
    return 0;
  }
  if (command === "server" && rest.some(help)) {
    console.log(USAGE);
    return 0;
  }
  if (command === "healthcheck") return await runHealthcheck(rest);
  if (command === "admin") return await runAdmin(rest);
  if (command !== "server") {
    const asked = command === undefined ? false : help(command) || command === "help";
    (asked ? console.log : console.error)(COMMANDS_USAGE);
    return asked ? 0 : 2;
  }
  try {
    await serve(rest);
    return 0;
  } catch (err) {
    if (
      err instanceof ConfigError || err instanceof EndpointError ||
      err instanceof CertificateError
    ) {
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
