/**
 * The ACL model (src/iam/acl.ts) in process: canned ACL expansion, x-amz-grant-* headers and
 * AccessControlPolicy bodies with AWS's errors, rendering, and which actions each permission
 * allows to whom.
 */

import {
  type Acl,
  aclAllows,
  AclError,
  aclFromHeaders,
  aclFromXml,
  aclResourceOf,
  aclVerdict,
  ALL_USERS,
  AUTHENTICATED_USERS,
  cannedAcl,
  decodeAcl,
  encodeAcl,
  isOwnerOnly,
  isPublicAcl,
  LOG_DELIVERY,
  OBJECT_ACL_KEY,
  renderAcl,
  withoutPublicGrants,
} from "../src/iam/acl.ts";
import type { Principal, PrincipalKind } from "../src/iam/principal.ts";
import { parseXml } from "../src/s3/xml.ts";
import { assert, assertEquals, assertThrows } from "./helpers/assert.ts";

const OWNER = "a".repeat(64);

function principal(kind: PrincipalKind): Principal {
  return {
    kind,
    accountId: "123456789012",
    arn: kind === "anonymous" ? "" : "arn:aws:iam::123456789012:user/alice",
    userId: "AIDAEXAMPLE",
    accessKey: kind === "anonymous" ? "" : "AKIAEXAMPLE",
    temporary: false,
  };
}

function aclError(fn: () => unknown, code: string): AclError {
  const err = assertThrows(fn);
  assert(err instanceof AclError, String(err));
  assertEquals(err.code, code, err.message);
  return err;
}

const owner = { type: "CanonicalUser" as const, id: OWNER };

Deno.test("canned ACLs expand as AWS's table says", () => {
  assertEquals(cannedAcl("private", OWNER, true).grants, [
    { grantee: owner, permission: "FULL_CONTROL" },
  ]);
  assertEquals(cannedAcl("public-read-write", OWNER, true).grants, [
    { grantee: owner, permission: "FULL_CONTROL" },
    { grantee: { type: "Group", uri: ALL_USERS }, permission: "READ" },
    { grantee: { type: "Group", uri: ALL_USERS }, permission: "WRITE" },
  ]);
  assertEquals(cannedAcl("authenticated-read", OWNER, false).grants[1], {
    grantee: { type: "Group", uri: AUTHENTICATED_USERS },
    permission: "READ",
  });
  assertEquals(cannedAcl("log-delivery-write", OWNER, true).grants.slice(1), [
    { grantee: { type: "Group", uri: LOG_DELIVERY }, permission: "WRITE" },
    { grantee: { type: "Group", uri: LOG_DELIVERY }, permission: "READ_ACP" },
  ]);
  for (const name of ["bucket-owner-read", "bucket-owner-full-control"] as const) {
    assert(isOwnerOnly(cannedAcl(name, OWNER, false)), name);
  }
  assert(isPublicAcl(cannedAcl("public-read", OWNER, false)));
  assert(isPublicAcl(cannedAcl("authenticated-read", OWNER, false)));
  assert(!isPublicAcl(cannedAcl("log-delivery-write", OWNER, true)));
});

Deno.test("x-amz-acl and x-amz-grant-* headers", () => {
  assertEquals(aclFromHeaders(new Headers(), OWNER, false), undefined);
  assertEquals(
    aclFromHeaders(new Headers({ "x-amz-acl": "public-read" }), OWNER, false),
    cannedAcl("public-read", OWNER, false),
  );
  const acl = aclFromHeaders(
    new Headers({
      "x-amz-grant-read": `uri="${ALL_USERS}", uri=${AUTHENTICATED_USERS}`,
      "x-amz-grant-full-control": `id="${OWNER}"`,
    }),
    OWNER,
    true,
  );
  assertEquals(acl?.grants, [
    { grantee: owner, permission: "FULL_CONTROL" },
    { grantee: { type: "Group", uri: ALL_USERS }, permission: "READ" },
    { grantee: { type: "Group", uri: AUTHENTICATED_USERS }, permission: "READ" },
  ]);
  aclError(
    () =>
      aclFromHeaders(
        new Headers({ "x-amz-acl": "private", "x-amz-grant-read": `id="${OWNER}"` }),
        OWNER,
        false,
      ),
    "InvalidRequest",
  );
  const unknownId = aclError(
    () =>
      aclFromHeaders(new Headers({ "x-amz-grant-read": `id="${"b".repeat(64)}"` }), OWNER, false),
    "InvalidArgument",
  );
  assertEquals(unknownId.extra.ArgumentName, "CanonicalUser/ID");
  aclError(
    () =>
      aclFromHeaders(
        new Headers({ "x-amz-grant-read": 'uri="http://example.com/g"' }),
        OWNER,
        false,
      ),
    "InvalidArgument",
  );
  aclError(
    () => aclFromHeaders(new Headers({ "x-amz-grant-read": 'emailAddress="a@b.c"' }), OWNER, false),
    "UnresolvableGrantByEmailAddress",
  );
  aclError(
    () => aclFromHeaders(new Headers({ "x-amz-grant-read": 'name="x"' }), OWNER, false),
    "InvalidArgument",
  );
  aclError(
    () => aclFromHeaders(new Headers({ "x-amz-acl": "world-readable" }), OWNER, false),
    "InvalidArgument",
  );
});

function policy(grants: string, ownerId = OWNER): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner><ID>${ownerId}</ID></Owner>
  <AccessControlList>${grants}</AccessControlList>
</AccessControlPolicy>`;
}

const grant = (type: string, inner: string, permission: string) =>
  `<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="${type}">` +
  `${inner}</Grantee><Permission>${permission}</Permission></Grant>`;

Deno.test("AccessControlPolicy bodies, their xsi:type and AWS's errors", () => {
  const acl = aclFromXml(
    policy(
      grant("CanonicalUser", `<ID>${OWNER}</ID><DisplayName>x</DisplayName>`, "FULL_CONTROL") +
        grant("Group", `<URI>${ALL_USERS}</URI>`, "READ"),
    ),
    OWNER,
  );
  assertEquals(acl, cannedAcl("public-read", OWNER, false));
  aclError(() => aclFromXml("<AccessControlPolicy>", OWNER), "MalformedACLError");
  aclError(() => aclFromXml("<Tagging/>", OWNER), "MalformedACLError");
  aclError(
    () => aclFromXml(policy(grant("Group", `<URI>${ALL_USERS}</URI>`, "EVERYTHING")), OWNER),
    "MalformedACLError",
  );
  aclError(
    () =>
      aclFromXml(
        policy(`<Grant><Grantee><ID>${OWNER}</ID></Grantee><Permission>READ</Permission></Grant>`),
        OWNER,
      ),
    "MalformedACLError",
  );
  aclError(
    () => aclFromXml(policy(grant("Group", `<ID>${OWNER}</ID>`, "READ")), OWNER),
    "MalformedACLError",
  );
  aclError(
    () =>
      aclFromXml(
        policy(grant("AmazonCustomerByEmail", "<EmailAddress>a@b.c</EmailAddress>", "READ")),
        OWNER,
      ),
    "UnresolvableGrantByEmailAddress",
  );
  aclError(
    () => aclFromXml(policy(grant("CanonicalUser", `<ID>${"c".repeat(64)}</ID>`, "READ")), OWNER),
    "InvalidArgument",
  );
  aclError(
    () =>
      aclFromXml(policy(grant("Group", `<URI>${ALL_USERS}</URI>`, "READ"), "d".repeat(64)), OWNER),
    "AccessDenied",
  );
  aclError(
    () =>
      aclFromXml(
        policy(grant("Group", `<URI>${ALL_USERS}</URI>`, "READ").repeat(101)),
        OWNER,
      ),
    "MalformedACLError",
  );
});

Deno.test("Get*Acl's document parses back to the same ACL; stored form round-trips", () => {
  const acl: Acl = cannedAcl("public-read-write", OWNER, true);
  const xml = renderAcl(acl, "flashstor");
  const root = parseXml(xml);
  assertEquals(root.children[1].children[0].children[0].attributes?.type, "CanonicalUser");
  assertEquals(aclFromXml(xml, OWNER), acl);
  assertEquals(decodeAcl(encodeAcl(acl)), acl);
  assertEquals(decodeAcl("not json"), undefined);
  assertEquals(decodeAcl(undefined), undefined);
});

Deno.test("aclAllows maps permissions to S3 actions for each grantee", () => {
  const anonymous = principal("anonymous");
  const user = principal("user");
  const root = principal("root");
  const publicRead = cannedAcl("public-read", OWNER, false);
  assert(aclAllows(publicRead, anonymous, "s3:GetObject", false));
  assert(aclAllows(publicRead, user, "s3:GetObject"));
  assert(!aclAllows(publicRead, anonymous, "s3:PutObject", false));
  assert(!aclAllows(publicRead, anonymous, "s3:GetObjectAcl", false));
  assert(!aclAllows(publicRead, anonymous, "s3:ListBucket", false));

  const bucket = cannedAcl("public-read", OWNER, true);
  assert(aclAllows(bucket, anonymous, "s3:ListBucket", true));
  assert(aclAllows(bucket, anonymous, "s3:ListBucketMultipartUploads", true));
  assert(!aclAllows(bucket, anonymous, "s3:GetObject", true), "bucket READ is not object READ");
  assert(!aclAllows(bucket, anonymous, "s3:PutObject", true));
  assert(aclAllows(cannedAcl("public-read-write", OWNER, true), anonymous, "s3:PutObject", true));
  assert(aclAllows(cannedAcl("public-read-write", OWNER, true), anonymous, "s3:DeleteObject"));

  const authenticated = cannedAcl("authenticated-read", OWNER, false);
  assert(aclAllows(authenticated, user, "s3:GetObject", false));
  assert(!aclAllows(authenticated, anonymous, "s3:GetObject", false));

  // The owner's FULL_CONTROL speaks for the account root, not for its IAM users.
  const owned = cannedAcl("private", OWNER, false);
  assert(aclAllows(owned, root, "s3:PutObjectAcl", false));
  assert(aclAllows(owned, root, "s3:GetObject", false));
  assert(!aclAllows(owned, user, "s3:GetObject", false));
  assert(!aclAllows(owned, root, "s3:PutObject", false), "WRITE means nothing on an object");
  assert(!aclAllows(undefined, anonymous, "s3:GetObject"));

  const acp: Acl = {
    owner: OWNER,
    grants: [
      { grantee: { type: "Group", uri: ALL_USERS }, permission: "READ_ACP" },
      { grantee: { type: "Group", uri: ALL_USERS }, permission: "WRITE_ACP" },
    ],
  };
  assert(aclAllows(acp, anonymous, "s3:GetBucketAcl", true));
  assert(aclAllows(acp, anonymous, "s3:PutObjectAcl", false));
  assert(!aclAllows(acp, anonymous, "s3:GetObject", false));

  assert(!aclAllows(withoutPublicGrants(publicRead), anonymous, "s3:GetObject", false));
  assert(!aclAllows(cannedAcl("log-delivery-write", OWNER, true), user, "s3:PutObject", true));
});

Deno.test("aclVerdict: the bucket's ACL for bucket actions, the object's for object actions, as the bucket's settings let them count", () => {
  const anonymous = principal("anonymous");
  const readable = { [OBJECT_ACL_KEY]: encodeAcl(cannedAcl("public-read", OWNER, false)) };
  const bucket = { acl: cannedAcl("public-read-write", OWNER, true) };
  assertEquals(aclResourceOf("s3:ListBucket"), "bucket");
  assertEquals(aclResourceOf("s3:PutObject"), "bucket");
  assertEquals(aclResourceOf("s3:GetObject"), "object");
  assertEquals(aclResourceOf("s3:PutBucketPolicy"), undefined);

  assert(aclVerdict({}, readable, anonymous, "s3:GetObject"));
  assert(!aclVerdict({}, {}, anonymous, "s3:GetObject"), "an object without ACL is private");
  assert(!aclVerdict({}, undefined, anonymous, "s3:GetObject"));
  assert(!aclVerdict(bucket, {}, anonymous, "s3:GetObject"), "bucket READ is not object READ");
  assert(aclVerdict(bucket, undefined, anonymous, "s3:ListBucket"));
  assert(aclVerdict(bucket, undefined, anonymous, "s3:PutObject"));
  assert(!aclVerdict({}, readable, anonymous, "s3:ListBucket"));

  const enforced = { ...bucket, ownership: "BucketOwnerEnforced" as const };
  assert(!aclVerdict(enforced, readable, anonymous, "s3:GetObject"));
  assert(!aclVerdict(enforced, undefined, anonymous, "s3:ListBucket"));
  const ignoring = {
    ...bucket,
    publicAccessBlock: {
      blockPublicAcls: false,
      ignorePublicAcls: true,
      blockPublicPolicy: false,
      restrictPublicBuckets: false,
    },
  };
  assert(!aclVerdict(ignoring, readable, anonymous, "s3:GetObject"));
  assert(!aclVerdict(ignoring, undefined, anonymous, "s3:PutObject"));
  assert(aclVerdict(ignoring, readable, principal("root"), "s3:GetObjectAcl"));
});
