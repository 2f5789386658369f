import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";
import { ConfigError, parseAddress, parseReserve, parseServerArgs } from "../src/config.ts";
import {
  defaultParity,
  EndpointError,
  expandEllipsis,
  resolveDrives,
  setLayout,
} from "../src/cluster/endpoints.ts";

const noEnv = () => undefined;

Deno.test("ellipsis expands ranges, keeps zero padding and nests left to right", () => {
  assertEquals(expandEllipsis("/mnt/d{1...3}"), ["/mnt/d1", "/mnt/d2", "/mnt/d3"]);
  assertEquals(expandEllipsis("/d{01...02}"), ["/d01", "/d02"]);
  assertEquals(expandEllipsis("/n{1...2}/d{1...2}"), ["/n1/d1", "/n1/d2", "/n2/d1", "/n2/d2"]);
  assertEquals(expandEllipsis("/plain"), ["/plain"]);
  assertThrows(() => expandEllipsis("/d{3...1}"), EndpointError);
});

Deno.test("set layout follows MinIO: equal sets of 2-16 drives, default parity by size", () => {
  assertEquals(setLayout(4), { setCount: 1, setDriveCount: 4, parity: 2 });
  assertEquals(setLayout(8), { setCount: 1, setDriveCount: 8, parity: 4 });
  assertEquals(setLayout(32), { setCount: 2, setDriveCount: 16, parity: 4 });
  assertEquals(setLayout(20), { setCount: 2, setDriveCount: 10, parity: 4 });
  assertEquals(setLayout(6), { setCount: 1, setDriveCount: 6, parity: 3 });
  assertEquals(setLayout(3), { setCount: 1, setDriveCount: 3, parity: 1 });
  assertEquals(setLayout(1), { setCount: 1, setDriveCount: 1, parity: 0 });
  assertEquals(setLayout(4, 1).parity, 1);
  assertEquals([2, 3, 4, 5, 6, 7, 8, 16].map(defaultParity), [1, 1, 2, 2, 3, 3, 4, 4]);
  assertThrows(() => setLayout(17), EndpointError);
  assertThrows(() => setLayout(4, 3), EndpointError);
  assertThrows(() => setLayout(4, 0), EndpointError);
});

Deno.test("drives: duplicates and a mix of paths and URLs are refused; URLs expand", () => {
  assertThrows(() => resolveDrives(["/d{1...2}", "/d1"]), EndpointError, "listed twice");
  assertThrows(() => resolveDrives(["/d1", "http://n1:9000/d2"]), EndpointError, "not a mix");
  assertThrows(
    () => resolveDrives(["http://n1:9000/d1", "http://n1:9000/d1/"]),
    EndpointError,
    "listed twice",
  );
  assertEquals(resolveDrives(["http://n{1...2}:9000/d{1...2}"]), [
    "http://n1:9000/d1",
    "http://n1:9000/d2",
    "http://n2:9000/d1",
    "http://n2:9000/d2",
  ]);
});

Deno.test("config: cluster drive URLs are accepted, sets laid out evenly over the nodes", () => {
  const config = parseServerArgs(
    ["--address", "127.0.0.1:9001", "http://127.0.0.1:{9001...9006}/srv/d{1...3}"],
    noEnv,
    "/home",
  );
  assertEquals(config.drives.length, 18);
  // 18 drives on 6 nodes: sets of 6 (one drive per node), not 9 (unevenly spread).
  assertEquals(config.layout, { setCount: 3, setDriveCount: 6, parity: 3 });
  assertEquals(setLayout(18), { setCount: 2, setDriveCount: 9, parity: 4 });
});

Deno.test("server args: defaults, flags and environment", () => {
  const config = parseServerArgs(["./data/d{1...4}"], noEnv, "/home/u");
  assertEquals(config.hostname, "0.0.0.0");
  assertEquals(config.port, 9000);
  assertEquals(config.drives.length, 4);
  assertEquals(config.defaultCredentials, true);
  assertEquals(config.certsDir, "/home/u/.flashstor/certs");
  assertEquals(config.httpEngine, "flashstor");

  const env: Record<string, string> = {
    FLASHSTOR_ROOT_USER: "admin",
    FLASHSTOR_ROOT_PASSWORD: "password123",
    FLASHSTORE_RUN_USER: "flashstor",
  };
  const custom = parseServerArgs(
    ["--address=127.0.0.1:0", "--parity", "1", "--domain", "s3.local", "/a", "/b", "/c", "/d"],
    (name) => env[name],
  );
  assertEquals([custom.hostname, custom.port], ["127.0.0.1", 0]);
  assertEquals(custom.layout.parity, 1);
  assertEquals(custom.domains, ["s3.local"]);
  assertEquals(custom.defaultCredentials, false);
  assertEquals(custom.runUser, "flashstor");
  assertEquals(parseAddress("[::1]:9000"), { hostname: "::1", port: 9000 });
});

Deno.test("server args: mistakes are clear errors", () => {
  assertThrows(() => parseServerArgs([], noEnv), ConfigError, "no drives");
  assertThrows(() => parseServerArgs(["--bogus", "/d"], noEnv), ConfigError, "unknown flag");
  assertThrows(() => parseServerArgs(["--address", "9000", "/d"], noEnv), ConfigError);
  assertThrows(() => parseServerArgs(["--parity", "x", "/d"], noEnv), ConfigError);
  assertThrows(
    () => parseServerArgs(["/d"], (n) => n === "FLASHSTOR_ROOT_PASSWORD" ? "short" : undefined),
    ConfigError,
    "8 characters",
  );
});

Deno.test("run user: FLASHSTOR_RUN_* and the old FLASHSTORE_RUN_* spelling; both differing is refused", () => {
  const parse = (env: Record<string, string>) => parseServerArgs(["/d"], (name) => env[name]);
  assertEquals(parse({ FLASHSTOR_RUN_USER: "a", FLASHSTOR_RUN_GROUP: "g" }).runUser, "a");
  assertEquals(parse({ FLASHSTOR_RUN_USER: "a", FLASHSTOR_RUN_GROUP: "g" }).runGroup, "g");
  assertEquals(parse({ FLASHSTORE_RUN_USER: "b", FLASHSTORE_RUN_GROUP: "h" }).runGroup, "h");
  assertEquals(parse({ FLASHSTOR_RUN_USER: "a", FLASHSTORE_RUN_USER: "a" }).runUser, "a");
  assertEquals(parse({ FLASHSTOR_RUN_USER: "", FLASHSTORE_RUN_USER: "b" }).runUser, "b");
  assertThrows(
    () => parse({ FLASHSTOR_RUN_USER: "a", FLASHSTORE_RUN_USER: "b" }),
    ConfigError,
    "FLASHSTOR_RUN_USER=a and FLASHSTORE_RUN_USER=b differ",
  );
  assertThrows(
    () => parse({ FLASHSTOR_RUN_GROUP: "g", FLASHSTORE_RUN_GROUP: "h" }),
    ConfigError,
    "differ",
  );
});

Deno.test("--drive-reserve: a percentage or a size; 1 % by default", () => {
  assertEquals(parseServerArgs(["/d"], noEnv).driveReserve, { fraction: 0.01, bytes: 0 });
  assertEquals(parseReserve("5%"), { fraction: 0.05, bytes: 0 });
  assertEquals(parseReserve("2GiB"), { fraction: 0, bytes: 2 * 2 ** 30 });
  assertEquals(parseReserve("500MB"), { fraction: 0, bytes: 500e6 });
  assertEquals(parseReserve("4096"), { fraction: 0, bytes: 4096 });
  assertEquals(parseReserve("0"), { fraction: 0, bytes: 0 });
  assertEquals(
    parseServerArgs(["--drive-reserve=64MiB", "/d"], noEnv).driveReserve,
    { fraction: 0, bytes: 64 * 2 ** 20 },
  );
  for (const bad of ["100%", "-1", "5 parsecs", "", "%"]) {
    assertThrows(() => parseReserve(bad), ConfigError, "--drive-reserve");
  }
});

Deno.test("--drive-timeout and --drive-probe-interval (or FLASHSTOR_DRIVE_PROBE_INTERVAL): seconds, 5 by default", () => {
  const defaults = parseServerArgs(["/d"], noEnv);
  assertEquals([defaults.driveTimeoutMs, defaults.driveProbeIntervalMs], [5000, 5000]);
  const env = (name: string) => name === "FLASHSTOR_DRIVE_PROBE_INTERVAL" ? "0.5" : undefined;
  const set = parseServerArgs(["--drive-timeout", "2.5", "/d"], env);
  assertEquals([set.driveTimeoutMs, set.driveProbeIntervalMs], [2500, 500]);
  const flag = parseServerArgs(["--drive-probe-interval=30", "/d"], env);
  assertEquals(flag.driveProbeIntervalMs, 30_000);
  assertThrows(() => parseServerArgs(["--drive-timeout", "0", "/d"], noEnv), ConfigError);
  assertThrows(
    () =>
      parseServerArgs(["/d"], (n) => n === "FLASHSTOR_DRIVE_PROBE_INTERVAL" ? "soon" : undefined),
    ConfigError,
    "FLASHSTOR_DRIVE_PROBE_INTERVAL",
  );
});

Deno.test("FLASHSTOR_REGION pins the signing region; FLASHSTOR_SIGV2=off refuses SigV2", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const unset = parseServerArgs(["/d"], env({}));
  assertEquals([unset.region, unset.signingRegion, unset.sigv2], ["us-east-1", undefined, true]);
  const pinned = parseServerArgs(
    ["/d"],
    env({ FLASHSTOR_REGION: "eu-west-1", FLASHSTOR_SIGV2: "off" }),
  );
  assertEquals([pinned.region, pinned.signingRegion, pinned.sigv2], [
    "eu-west-1",
    "eu-west-1",
    false,
  ]);
  assertThrows(() => parseServerArgs(["/d"], env({ FLASHSTOR_SIGV2: "no" })), ConfigError);
});

Deno.test("scanner flags: durations with units, 0 turns the scanner or upload expiry off", () => {
  assertEquals(parseServerArgs(["/d"], noEnv).scanner, {
    intervalMs: 5 * 60_000,
    deepEvery: 16,
    garbageAgeMs: 3_600_000,
    uploadExpiryMs: 7 * 86_400_000,
  });
  const set = parseServerArgs([
    "--scanner-interval=0.5",
    "--scanner-deep-every",
    "1",
    "--garbage-age",
    "90m",
    "--upload-expiry=0",
    "/d",
  ], noEnv).scanner;
  assertEquals(set, {
    intervalMs: 500,
    deepEvery: 1,
    garbageAgeMs: 90 * 60_000,
    uploadExpiryMs: 0,
  });
  assertEquals(
    parseServerArgs(["--upload-expiry", "2d", "/d"], noEnv).scanner.uploadExpiryMs,
    2 * 86_400_000,
  );
  assertEquals(parseServerArgs(["--scanner-interval", "0", "/d"], noEnv).scanner.intervalMs, 0);
  for (
    const [flag, bad] of [["--scanner-interval", "-1"], ["--garbage-age", "1w"], [
      "--upload-expiry",
      "",
    ], ["--scanner-deep-every", "1.5"]]
  ) {
    assertThrows(() => parseServerArgs([flag, bad, "/d"], noEnv), ConfigError, flag);
  }
});

Deno.test("encryption settings: FLASHSTOR_KMS_SECRET_KEY, --default-encryption, --sse-c-over-http", () => {
  const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)));
  const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
  const plain = parseServerArgs(["./d{1...4}"], noEnv);
  assertEquals(
    [plain.kmsSecretKey, plain.defaultBucketEncryption, plain.sseCOverHttp],
    [undefined, false, "refuse"],
  );
  const on = parseServerArgs(
    ["--default-encryption", "--sse-c-over-http", "loopback", "./d{1...4}"],
    envOf({ FLASHSTOR_KMS_SECRET_KEY: `my-key:${key}` }),
  );
  assertEquals(on.kmsSecretKey?.name, "my-key");
  assertEquals(on.kmsSecretKey?.key, new Uint8Array(32).fill(7));
  assertEquals([on.defaultBucketEncryption, on.sseCOverHttp], [true, "loopback"]);
  const fromEnv = parseServerArgs(
    ["./d{1...4}"],
    envOf({ FLASHSTOR_SSE_C_OVER_HTTP: "loopback" }),
  );
  assertEquals(fromEnv.sseCOverHttp, "loopback");
  for (
    const [args, vars, message] of [
      [[], { FLASHSTOR_KMS_SECRET_KEY: key }, "the name is missing"],
      [[], { FLASHSTOR_KMS_SECRET_KEY: "k:not base64!" }, "not base64"],
      [[], { FLASHSTOR_KMS_SECRET_KEY: `k:${btoa("short")}` }, "the key has 5 bytes"],
      [["--default-encryption"], {}, "needs FLASHSTOR_KMS_SECRET_KEY"],
      [["--sse-c-over-http", "always"], {}, "refuse or loopback"],
    ] as [string[], Record<string, string>, string][]
  ) {
    const err = assertThrows(
      () => parseServerArgs([...args, "./d{1...4}"], envOf(vars)),
      ConfigError,
    );
    assert(err.message.includes(message), err.message);
    // The key itself is never repeated in a message.
    assert(!err.message.includes(key), err.message);
  }
});
