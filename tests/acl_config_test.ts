/** The server settings of ACLs: the Object Ownership and the public access block of new buckets. */

import { ConfigError, parseServerArgs } from "../src/config.ts";
import { assertEquals, assertThrows } from "./helpers/assert.ts";

const env = (vars: Record<string, string>) => (name: string) => vars[name];

Deno.test("--object-ownership / FLASHSTOR_OBJECT_OWNERSHIP: ObjectWriter by default", () => {
  assertEquals(parseServerArgs(["/d"], env({})).objectOwnership, "ObjectWriter");
  assertEquals(
    parseServerArgs(["--object-ownership", "BucketOwnerEnforced", "/d"], env({})).objectOwnership,
    "BucketOwnerEnforced",
  );
  assertEquals(
    parseServerArgs(["/d"], env({ FLASHSTOR_OBJECT_OWNERSHIP: "BucketOwnerPreferred" }))
      .objectOwnership,
    "BucketOwnerPreferred",
  );
  assertThrows(
    () => parseServerArgs(["--object-ownership=Enforced", "/d"], env({})),
    ConfigError,
    "--object-ownership",
  );
});

Deno.test("--block-public-access / FLASHSTOR_BLOCK_PUBLIC_ACCESS=on: off by default", () => {
  assertEquals(parseServerArgs(["/d"], env({})).blockPublicAccess, false);
  assertEquals(parseServerArgs(["--block-public-access", "/d"], env({})).blockPublicAccess, true);
  assertEquals(
    parseServerArgs(["/d"], env({ FLASHSTOR_BLOCK_PUBLIC_ACCESS: "on" })).blockPublicAccess,
    true,
  );
  assertThrows(
    () => parseServerArgs(["/d"], env({ FLASHSTOR_BLOCK_PUBLIC_ACCESS: "yes" })),
    ConfigError,
    "FLASHSTOR_BLOCK_PUBLIC_ACCESS",
  );
});
