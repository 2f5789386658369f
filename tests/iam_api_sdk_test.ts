/**
 * The IAM Query API with @aws-sdk/client-iam against the real server: users, access keys,
 * groups, managed policies and their versions, attachments, inline policies and roles, in
 * AWS's shapes and with AWS's error codes; IAM calls authorized by the caller's policies; and
 * all of it surviving a restart and the loss of m drives.
 */
import {
  AddUserToGroupCommand,
  AttachGroupPolicyCommand,
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreateGroupCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeleteGroupCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DetachGroupPolicyCommand,
  DetachRolePolicyCommand,
  DetachUserPolicyCommand,
  GetGroupCommand,
  GetGroupPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  IAMServiceException,
  ListAccessKeysCommand,
  ListAttachedGroupPoliciesCommand,
  ListAttachedRolePoliciesCommand,
  ListAttachedUserPoliciesCommand,
  ListGroupsCommand,
  ListGroupsForUserCommand,
  ListPoliciesCommand,
  ListPolicyVersionsCommand,
  ListRolePoliciesCommand,
  ListRolesCommand,
  ListRoleTagsCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  ListUserTagsCommand,
  PutGroupPolicyCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  RemoveUserFromGroupCommand,
  SetDefaultPolicyVersionCommand,
  TagRoleCommand,
  TagUserCommand,
  UntagUserCommand,
  UpdateAccessKeyCommand,
  UpdateAssumeRolePolicyCommand,
  UpdateRoleCommand,
  UpdateUserCommand,
} from "@aws-sdk/client-iam";
import { assert, assertEquals } from "./helpers/assert.ts";
import { ACCESS_KEY, SECRET_KEY, startServer, type TestServer } from "./helpers/server.ts";

function iamClient(server: TestServer, accessKeyId = ACCESS_KEY, secretAccessKey = SECRET_KEY) {
  return new IAMClient({
    endpoint: server.endpoint,
    region: "us-east-1",
    maxAttempts: 1,
    credentials: { accessKeyId, secretAccessKey },
  });
}

/** The call's IAM error: code (the SDK names modeled errors <code>Exception), HTTP status; its
 *  type must be Sender. */
async function failure(call: Promise<unknown>): Promise<[string, number | undefined]> {
  try {
    await call;
  } catch (err) {
    if (!(err instanceof IAMServiceException)) throw err;
    assertEquals(err.$fault, "client", `${err.name} is the client's fault`);
    assert(!/stack|at \w+ \(/.test(err.message), `no stack trace: ${err.message}`);
    return [err.name.replace(/Exception$/, ""), err.$metadata.httpStatusCode];
  }
  throw new Error("expected the call to fail");
}

const allow = (action: string | string[], resource = "*") =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: action, Resource: resource }],
  });

const TRUST = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { AWS: "*" }, Action: "sts:AssumeRole" }],
});

Deno.test("iam api: users and access keys", async () => {
  const server = await startServer();
  try {
    const iam = iamClient(server);
    const created = await iam.send(new CreateUserCommand({ UserName: "alice", Path: "/eng/" }));
    const arn = created.User!.Arn!;
    assert(/^arn:aws:iam::\d{12}:user\/eng\/alice$/.test(arn), arn);
    assert(/^AIDA[A-Z2-7]{17}$/.test(created.User!.UserId!), created.User!.UserId);
    assertEquals(await failure(iam.send(new CreateUserCommand({ UserName: "alice" }))), [
      "EntityAlreadyExists",
      409,
    ]);
    // IAM names are unique whatever their case.
    assertEquals(
      (await failure(iam.send(new CreateUserCommand({ UserName: "ALICE" }))))[0],
      "EntityAlreadyExists",
    );
    for (const bad of ["bad name", "a/b", "x".repeat(65), ""]) {
      assertEquals(
        await failure(iam.send(new CreateUserCommand({ UserName: bad }))),
        ["ValidationError", 400],
        `user name ${JSON.stringify(bad)}`,
      );
    }
    assertEquals(
      (await failure(iam.send(new CreateUserCommand({ UserName: "p", Path: "no-slash" }))))[0],
      "ValidationError",
    );
    // A permissions boundary is not enforced here: refused rather than ignored.
    assertEquals(
      await failure(iam.send(
        new CreateUserCommand({
          UserName: "bounded",
          PermissionsBoundary: "arn:aws:iam::aws:policy/readonly",
        }),
      )),
      ["InvalidInput", 400],
    );
    assertEquals((await iam.send(new GetUserCommand({ UserName: "alice" }))).User!.Arn, arn);
    assertEquals(await failure(iam.send(new GetUserCommand({ UserName: "nobody" }))), [
      "NoSuchEntity",
      404,
    ]);

    for (const name of ["bob", "carol", "dave"]) {
      await iam.send(new CreateUserCommand({ UserName: name }));
    }
    const first = await iam.send(new ListUsersCommand({ MaxItems: 3 }));
    assertEquals(first.Users!.map((u) => u.UserName), ["alice", "bob", "carol"]);
    assertEquals(first.IsTruncated, true);
    const rest = await iam.send(new ListUsersCommand({ MaxItems: 3, Marker: first.Marker }));
    assertEquals(rest.Users!.map((u) => u.UserName), ["dave"]);
    assertEquals(rest.IsTruncated, false);
    assertEquals(
      (await iam.send(new ListUsersCommand({ PathPrefix: "/eng/" }))).Users!.map((u) => u.UserName),
      ["alice"],
    );
    await iam.send(
      new UpdateUserCommand({ UserName: "dave", NewUserName: "david", NewPath: "/ops/" }),
    );
    assertEquals((await iam.send(new GetUserCommand({ UserName: "david" }))).User!.Path, "/ops/");
    assertEquals(
      (await failure(iam.send(new GetUserCommand({ UserName: "dave" }))))[0],
      "NoSuchEntity",
    );

    const k1 = (await iam.send(new CreateAccessKeyCommand({ UserName: "alice" }))).AccessKey!;
    assert(/^AKIA[A-Z2-7]{16}$/.test(k1.AccessKeyId!), k1.AccessKeyId);
    assertEquals(k1.SecretAccessKey!.length, 40);
    assertEquals(k1.Status, "Active");
    await iam.send(new CreateAccessKeyCommand({ UserName: "alice" }));
    assertEquals(await failure(iam.send(new CreateAccessKeyCommand({ UserName: "alice" }))), [
      "LimitExceeded",
      409,
    ]);
    const keys = await iam.send(new ListAccessKeysCommand({ UserName: "alice" }));
    assertEquals(keys.AccessKeyMetadata!.length, 2);
    assert(keys.AccessKeyMetadata!.every((k) => !("SecretAccessKey" in k)), "no secret listed");

    // The key signs IAM calls as alice: her own GetUser needs a policy first.
    const asAlice = iamClient(server, k1.AccessKeyId!, k1.SecretAccessKey!);
    assertEquals(await failure(asAlice.send(new GetUserCommand({}))), ["AccessDenied", 403]);
    await iam.send(
      new PutUserPolicyCommand({
        UserName: "alice",
        PolicyName: "self",
        PolicyDocument: allow("iam:GetUser", arn),
      }),
    );
    assertEquals((await asAlice.send(new GetUserCommand({}))).User!.UserName, "alice");
    assertEquals(
      (await failure(asAlice.send(new GetUserCommand({ UserName: "bob" }))))[0],
      "AccessDenied",
      "allowed on her own ARN only",
    );
    assertEquals(
      (await failure(asAlice.send(new CreateUserCommand({ UserName: "eve" }))))[0],
      "AccessDenied",
    );
    // Inactive: refused on the next call; active again: accepted.
    await iam.send(
      new UpdateAccessKeyCommand({
        UserName: "alice",
        AccessKeyId: k1.AccessKeyId,
        Status: "Inactive",
      }),
    );
    assertEquals(await failure(asAlice.send(new GetUserCommand({}))), [
      "InvalidClientTokenId",
      403,
    ]);
    await iam.send(
      new UpdateAccessKeyCommand({
        UserName: "alice",
        AccessKeyId: k1.AccessKeyId,
        Status: "Active",
      }),
    );
    assertEquals((await asAlice.send(new GetUserCommand({}))).User!.UserName, "alice");
    assertEquals(
      (await failure(
        iam.send(
          new UpdateAccessKeyCommand({
            UserName: "alice",
            AccessKeyId: k1.AccessKeyId,
            Status: "Off" as "Active",
          }),
        ),
      ))[0],
      "ValidationError",
    );

    // A user with keys or policies cannot be deleted.
    assertEquals(await failure(iam.send(new DeleteUserCommand({ UserName: "alice" }))), [
      "DeleteConflict",
      409,
    ]);
    for (const k of keys.AccessKeyMetadata!) {
      await iam.send(new DeleteAccessKeyCommand({ UserName: "alice", AccessKeyId: k.AccessKeyId }));
    }
    assertEquals(
      (await failure(iam.send(new DeleteUserCommand({ UserName: "alice" }))))[0],
      "DeleteConflict",
    );
    await iam.send(new DeleteUserPolicyCommand({ UserName: "alice", PolicyName: "self" }));
    await iam.send(new DeleteUserCommand({ UserName: "alice" }));
    assertEquals(
      (await failure(iam.send(new GetUserCommand({ UserName: "alice" }))))[0],
      "NoSuchEntity",
    );
    assertEquals(await failure(asAlice.send(new GetUserCommand({}))), [
      "InvalidClientTokenId",
      403,
    ]);
    assert(
      !server.output().includes(k1.SecretAccessKey!),
      "the secret is not in the server's output",
    );
  } finally {
    await server.cleanup();
  }
});

Deno.test("iam api: groups and membership", async () => {
  const server = await startServer();
  try {
    const iam = iamClient(server);
    await iam.send(new CreateUserCommand({ UserName: "ann" }));
    const group = (await iam.send(new CreateGroupCommand({ GroupName: "devs" }))).Group!;
    assert(/^arn:aws:iam::\d{12}:group\/devs$/.test(group.Arn!), group.Arn);
    assert(/^AGPA/.test(group.GroupId!));
    assertEquals(
      (await failure(iam.send(new CreateGroupCommand({ GroupName: "devs" }))))[0],
      "EntityAlreadyExists",
    );
    await iam.send(new CreateGroupCommand({ GroupName: "ops" }));
    await iam.send(new AddUserToGroupCommand({ GroupName: "devs", UserName: "ann" }));
    await iam.send(new AddUserToGroupCommand({ GroupName: "devs", UserName: "ann" }));
    assertEquals(
      (await failure(
        iam.send(new AddUserToGroupCommand({ GroupName: "devs", UserName: "ghost" })),
      ))[0],
      "NoSuchEntity",
    );
    const got = await iam.send(new GetGroupCommand({ GroupName: "devs" }));
    assertEquals(got.Users!.map((u) => u.UserName), ["ann"]);
    assertEquals(got.Group!.GroupName, "devs");
    assertEquals(
      (await iam.send(new ListGroupsForUserCommand({ UserName: "ann" }))).Groups!.map((g) =>
        g.GroupName
      ),
      ["devs"],
    );
    assertEquals((await iam.send(new ListGroupsCommand({}))).Groups!.map((g) => g.GroupName), [
      "devs",
      "ops",
    ]);
    assertEquals(await failure(iam.send(new DeleteGroupCommand({ GroupName: "devs" }))), [
      "DeleteConflict",
      409,
    ]);
    assertEquals(
      (await failure(iam.send(new DeleteUserCommand({ UserName: "ann" }))))[0],
      "DeleteConflict",
    );
    await iam.send(new RemoveUserFromGroupCommand({ GroupName: "devs", UserName: "ann" }));
    assertEquals((await iam.send(new ListGroupsForUserCommand({ UserName: "ann" }))).Groups, []);
    await iam.send(
      new PutGroupPolicyCommand({
        GroupName: "devs",
        PolicyName: "read",
        PolicyDocument: allow("s3:GetObject", "arn:aws:s3:::b/*"),
      }),
    );
    assertEquals(
      (await iam.send(new GetGroupPolicyCommand({ GroupName: "devs", PolicyName: "read" })))
        .PolicyName,
      "read",
    );
    assertEquals(
      (await failure(iam.send(new DeleteGroupCommand({ GroupName: "devs" }))))[0],
      "DeleteConflict",
    );
    await iam.send(
      new AttachGroupPolicyCommand({
        GroupName: "ops",
        PolicyArn: "arn:aws:iam::aws:policy/readwrite",
      }),
    );
    assertEquals(
      (await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: "ops" }))).AttachedPolicies,
      [{ PolicyName: "readwrite", PolicyArn: "arn:aws:iam::aws:policy/readwrite" }],
    );
    await iam.send(
      new DetachGroupPolicyCommand({
        GroupName: "ops",
        PolicyArn: "arn:aws:iam::aws:policy/readwrite",
      }),
    );
    await iam.send(new DeleteGroupCommand({ GroupName: "ops" }));
    await iam.send(new DeleteUserCommand({ UserName: "ann" }));
  } finally {
    await server.cleanup();
  }
});

Deno.test("iam api: managed policies, versions, attachments and inline policies", async () => {
  const server = await startServer();
  try {
    const iam = iamClient(server);
    await iam.send(new CreateUserCommand({ UserName: "pat" }));
    const policy = (await iam.send(
      new CreatePolicyCommand({
        PolicyName: "reader",
        PolicyDocument: allow("s3:GetObject", "arn:aws:s3:::photos/*"),
        Description: "reads photos",
      }),
    )).Policy!;
    const arn = policy.Arn!;
    assert(/^arn:aws:iam::\d{12}:policy\/reader$/.test(arn), arn);
    assertEquals([policy.DefaultVersionId, policy.AttachmentCount, policy.IsAttachable], [
      "v1",
      0,
      true,
    ]);
    assertEquals(
      (await failure(
        iam.send(new CreatePolicyCommand({ PolicyName: "reader", PolicyDocument: allow("s3:*") })),
      ))[0],
      "EntityAlreadyExists",
    );

    // Refused documents, with AWS's codes: never stored.
    const malformed = [
      "{not json",
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Maybe", Action: "s3:*", Resource: "*" }],
      }),
      allow("s3:GetObjekt"),
      JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*" }] }),
    ];
    for (const doc of malformed) {
      assertEquals(
        await failure(
          iam.send(new CreatePolicyCommand({ PolicyName: "bad", PolicyDocument: doc })),
        ),
        ["MalformedPolicyDocument", 400],
        doc,
      );
    }
    const huge = allow(Array(500).fill("s3:GetObject"));
    assertEquals(
      await failure(
        iam.send(new CreatePolicyCommand({ PolicyName: "huge", PolicyDocument: huge })),
      ),
      ["LimitExceeded", 409],
    );
    assertEquals(
      (await failure(iam.send(new GetPolicyCommand({ PolicyArn: arn.replace("reader", "bad") }))))[
        0
      ],
      "NoSuchEntity",
    );
    assertEquals(
      (await failure(iam.send(new GetPolicyCommand({ PolicyArn: "not-an-arn" }))))[0],
      "InvalidInput",
    );

    for (let v = 2; v <= 5; v++) {
      const version = await iam.send(
        new CreatePolicyVersionCommand({
          PolicyArn: arn,
          PolicyDocument: allow("s3:GetObject", `arn:aws:s3:::photos${v}/*`),
          SetAsDefault: v === 5,
        }),
      );
      assertEquals(version.PolicyVersion!.VersionId, `v${v}`);
    }
    assertEquals(
      await failure(
        iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: allow("s3:*") })),
      ),
      ["LimitExceeded", 409],
    );
    assertEquals(
      (await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy!.DefaultVersionId,
      "v5",
    );
    await iam.send(new SetDefaultPolicyVersionCommand({ PolicyArn: arn, VersionId: "v3" }));
    assertEquals(
      await failure(iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: "v3" }))),
      ["DeleteConflict", 409],
    );
    await iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: "v1" }));
    const versions = (await iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn }))).Versions!;
    assertEquals(versions.map((v) => [v.VersionId, v.IsDefaultVersion]), [
      ["v5", false],
      ["v4", false],
      ["v3", true],
      ["v2", false],
    ]);
    const v3 = (await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: "v3" })))
      .PolicyVersion!;
    assertEquals(
      JSON.parse(decodeURIComponent(v3.Document!)).Statement[0].Resource,
      "arn:aws:s3:::photos3/*",
    );
    assertEquals(
      (await failure(
        iam.send(new SetDefaultPolicyVersionCommand({ PolicyArn: arn, VersionId: "v9" })),
      ))[0],
      "NoSuchEntity",
    );

    // Attached to a user: counted, and the policy cannot be deleted until detached.
    await iam.send(new AttachUserPolicyCommand({ UserName: "pat", PolicyArn: arn }));
    await iam.send(
      new AttachUserPolicyCommand({
        UserName: "pat",
        PolicyArn: "arn:aws:iam::aws:policy/readonly",
      }),
    );
    assertEquals(
      (await failure(
        iam.send(
          new AttachUserPolicyCommand({
            UserName: "pat",
            PolicyArn: "arn:aws:iam::aws:policy/nosuch",
          }),
        ),
      ))[0],
      "NoSuchEntity",
    );
    assertEquals(
      (await iam.send(new ListAttachedUserPoliciesCommand({ UserName: "pat" }))).AttachedPolicies!
        .map((p) => p.PolicyName),
      ["reader", "readonly"],
    );
    assertEquals(
      (await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy!.AttachmentCount,
      1,
    );
    assertEquals(await failure(iam.send(new DeletePolicyCommand({ PolicyArn: arn }))), [
      "DeleteConflict",
      409,
    ]);
    const builtin = await iam.send(new ListPoliciesCommand({ Scope: "AWS" }));
    assertEquals(builtin.Policies!.map((p) => p.PolicyName).sort(), [
      "readonly",
      "readwrite",
      "writeonly",
    ]);
    const paged: string[] = [];
    let marker: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await iam.send(new ListPoliciesCommand({ MaxItems: 1, Marker: marker }));
      paged.push(...page.Policies!.map((p) => p.PolicyName!));
      marker = page.Marker;
      if (!page.IsTruncated) break;
    }
    assertEquals(paged, ["readonly", "readwrite", "writeonly", "reader"], "one page each");
    const readonly = await iam.send(
      new GetPolicyVersionCommand({
        PolicyArn: "arn:aws:iam::aws:policy/readonly",
        VersionId: "v1",
      }),
    );
    assert(decodeURIComponent(readonly.PolicyVersion!.Document!).includes("s3:GetObject"));
    assertEquals(
      (await iam.send(new ListPoliciesCommand({ Scope: "Local", OnlyAttached: true }))).Policies!
        .map((p) => p.PolicyName),
      ["reader"],
    );
    await iam.send(new DetachUserPolicyCommand({ UserName: "pat", PolicyArn: arn }));
    assertEquals(
      (await failure(iam.send(new DetachUserPolicyCommand({ UserName: "pat", PolicyArn: arn }))))[
        0
      ],
      "NoSuchEntity",
    );
    assertEquals(
      (await failure(iam.send(new DeletePolicyCommand({ PolicyArn: arn }))))[0],
      "DeleteConflict",
      "versions left",
    );
    for (const v of ["v2", "v4", "v5"]) {
      await iam.send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: v }));
    }
    await iam.send(new DeletePolicyCommand({ PolicyArn: arn }));
    assertEquals(
      (await failure(iam.send(new GetPolicyCommand({ PolicyArn: arn }))))[0],
      "NoSuchEntity",
    );

    // Inline policies: AWS's size limits per kind (a group's is larger than a user's).
    const doc = allow("s3:GetObject", "arn:aws:s3:::b/home/${aws:username}/*");
    await iam.send(
      new PutUserPolicyCommand({ UserName: "pat", PolicyName: "home", PolicyDocument: doc }),
    );
    const inline = await iam.send(
      new GetUserPolicyCommand({ UserName: "pat", PolicyName: "home" }),
    );
    assertEquals(JSON.parse(decodeURIComponent(inline.PolicyDocument!)), JSON.parse(doc));
    assertEquals((await iam.send(new ListUserPoliciesCommand({ UserName: "pat" }))).PolicyNames, [
      "home",
    ]);
    const big = allow(Array(180).fill("s3:GetObject"), "arn:aws:s3:::b/*");
    assert(big.length > 2048 && big.length < 5120, `${big.length}`);
    assertEquals(
      await failure(
        iam.send(
          new PutUserPolicyCommand({ UserName: "pat", PolicyName: "big", PolicyDocument: big }),
        ),
      ),
      ["LimitExceeded", 409],
    );
    assertEquals(
      (await failure(
        iam.send(
          new PutUserPolicyCommand({ UserName: "pat", PolicyName: "bad", PolicyDocument: "[]" }),
        ),
      ))[0],
      "MalformedPolicyDocument",
    );
    await iam.send(new CreateGroupCommand({ GroupName: "big" }));
    await iam.send(
      new PutGroupPolicyCommand({ GroupName: "big", PolicyName: "big", PolicyDocument: big }),
    );
    assertEquals(
      (await failure(iam.send(new GetUserPolicyCommand({ UserName: "pat", PolicyName: "nope" }))))[
        0
      ],
      "NoSuchEntity",
    );
  } finally {
    await server.cleanup();
  }
});

Deno.test("iam api: roles with a trust policy and a session duration", async () => {
  const server = await startServer();
  try {
    const iam = iamClient(server);
    const role = (await iam.send(
      new CreateRoleCommand({
        RoleName: "deployer",
        Path: "/ci/",
        AssumeRolePolicyDocument: TRUST,
        Description: "deploys",
      }),
    )).Role!;
    assert(/^arn:aws:iam::\d{12}:role\/ci\/deployer$/.test(role.Arn!), role.Arn);
    assert(/^AROA/.test(role.RoleId!));
    assertEquals(role.MaxSessionDuration, 3600);
    assertEquals(JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument!)), JSON.parse(TRUST));
    assertEquals(
      (await failure(
        iam.send(new CreateRoleCommand({ RoleName: "deployer", AssumeRolePolicyDocument: TRUST })),
      ))[0],
      "EntityAlreadyExists",
    );
    for (const seconds of [3599, 43201]) {
      assertEquals(
        await failure(
          iam.send(
            new CreateRoleCommand({
              RoleName: "r2",
              AssumeRolePolicyDocument: TRUST,
              MaxSessionDuration: seconds,
            }),
          ),
        ),
        ["ValidationError", 400],
      );
    }
    // A trust policy must name a principal.
    assertEquals(
      await failure(
        iam.send(
          new CreateRoleCommand({
            RoleName: "r3",
            AssumeRolePolicyDocument: allow("sts:AssumeRole"),
          }),
        ),
      ),
      ["MalformedPolicyDocument", 400],
    );
    await iam.send(new UpdateRoleCommand({ RoleName: "deployer", MaxSessionDuration: 43200 }));
    const narrow = TRUST.replace('"*"', '"arn:aws:iam::123456789012:root"');
    await iam.send(
      new UpdateAssumeRolePolicyCommand({ RoleName: "deployer", PolicyDocument: narrow }),
    );
    const got = (await iam.send(new GetRoleCommand({ RoleName: "deployer" }))).Role!;
    assertEquals(got.MaxSessionDuration, 43200);
    assertEquals(JSON.parse(decodeURIComponent(got.AssumeRolePolicyDocument!)), JSON.parse(narrow));
    assertEquals((await iam.send(new ListRolesCommand({}))).Roles!.map((r) => r.RoleName), [
      "deployer",
    ]);
    await iam.send(
      new AttachRolePolicyCommand({
        RoleName: "deployer",
        PolicyArn: "arn:aws:iam::aws:policy/writeonly",
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: "deployer",
        PolicyName: "p",
        PolicyDocument: allow("s3:PutObject"),
      }),
    );
    assertEquals(
      (await iam.send(new ListRolePoliciesCommand({ RoleName: "deployer" }))).PolicyNames,
      ["p"],
    );
    assertEquals(
      (await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: "deployer" })))
        .AttachedPolicies!.length,
      1,
    );
    assertEquals(await failure(iam.send(new DeleteRoleCommand({ RoleName: "deployer" }))), [
      "DeleteConflict",
      409,
    ]);
    await iam.send(new DeleteRolePolicyCommand({ RoleName: "deployer", PolicyName: "p" }));
    await iam.send(
      new DetachRolePolicyCommand({
        RoleName: "deployer",
        PolicyArn: "arn:aws:iam::aws:policy/writeonly",
      }),
    );
    await iam.send(new DeleteRoleCommand({ RoleName: "deployer" }));
    assertEquals(await failure(iam.send(new GetRoleCommand({ RoleName: "deployer" }))), [
      "NoSuchEntity",
      404,
    ]);
  } finally {
    await server.cleanup();
  }
});

Deno.test("iam api: everything survives a restart and the loss of m drives", async () => {
  let server = await startServer();
  try {
    let iam = iamClient(server);
    const user = (await iam.send(new CreateUserCommand({ UserName: "keeper" }))).User!;
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: "keeper" }))).AccessKey!;
    await iam.send(
      new PutUserPolicyCommand({
        UserName: "keeper",
        PolicyName: "self",
        PolicyDocument: allow("iam:GetUser"),
      }),
    );
    await iam.send(new CreateGroupCommand({ GroupName: "g" }));
    await iam.send(new AddUserToGroupCommand({ GroupName: "g", UserName: "keeper" }));
    const policy = (await iam.send(
      new CreatePolicyCommand({ PolicyName: "pol", PolicyDocument: allow("s3:GetObject") }),
    )).Policy!;
    await iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: policy.Arn,
        PolicyDocument: allow("s3:PutObject"),
        SetAsDefault: true,
      }),
    );
    await iam.send(
      new CreateRoleCommand({
        RoleName: "role",
        AssumeRolePolicyDocument: TRUST,
        MaxSessionDuration: 7200,
      }),
    );

    const check = async (what: string) => {
      iam = iamClient(server);
      assertEquals(
        (await iam.send(new GetUserCommand({ UserName: "keeper" }))).User!.Arn,
        user.Arn,
        what,
      );
      assertEquals(
        (await iam.send(new GetGroupCommand({ GroupName: "g" }))).Users!.map((u) => u.UserName),
        ["keeper"],
        what,
      );
      assertEquals(
        (await iam.send(new GetPolicyCommand({ PolicyArn: policy.Arn }))).Policy!.DefaultVersionId,
        "v2",
        what,
      );
      assertEquals(
        (await iam.send(new GetRoleCommand({ RoleName: "role" }))).Role!.MaxSessionDuration,
        7200,
        what,
      );
      const asKeeper = iamClient(server, key.AccessKeyId!, key.SecretAccessKey!);
      assertEquals((await asKeeper.send(new GetUserCommand({}))).User!.UserName, "keeper", what);
    };
    await server.stop();
    server = await startServer({ dir: server.dir });
    await check("after a restart");

    // Parity 2 of 4 drives: two drives lost (their directories gone) while stopped.
    await server.stop();
    for (const d of server.drives.slice(0, 2)) await Deno.remove(d, { recursive: true });
    server = await startServer({ dir: server.dir });
    await check("with 2 of 4 drives lost");
  } finally {
    await server.cleanup();
  }
});

/** A client whose requests carry `body` instead of the SDK's own (signed as sent). */
function rawBodyClient(server: TestServer, body: string): IAMClient {
  const client = iamClient(server);
  client.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { body: string; headers: Record<string, string> };
      request.body = body;
      request.headers["content-length"] = String(new TextEncoder().encode(body).byteLength);
      return next(args);
    },
    { step: "build", priority: "low" },
  );
  return client;
}

Deno.test("iam api: the Query protocol's own errors", async () => {
  const server = await startServer();
  try {
    assertEquals(
      await failure(iamClient(server, ACCESS_KEY, "wrong-secret").send(new ListUsersCommand({}))),
      ["SignatureDoesNotMatch", 403],
    );
    assertEquals(
      await failure(iamClient(server, "AKIANOSUCHKEY0000000").send(new ListUsersCommand({}))),
      ["InvalidClientTokenId", 403],
    );
    const send = (body: string) => rawBodyClient(server, body).send(new ListUsersCommand({}));
    assertEquals(await failure(send("Action=CreateLoginProfile&Version=2010-05-08")), [
      "InvalidAction",
      400,
    ]);
    assertEquals(await failure(send("Action=ListUsers&Version=2011-06-15")), [
      "InvalidAction",
      400,
    ]);
    assertEquals(await failure(send("Version=2010-05-08")), ["MissingAction", 400]);
    assertEquals(
      await failure(send(`Action=ListUsers&Version=2010-05-08&Pad=${"x".repeat(200_000)}`)),
      ["RequestEntityTooLarge", 413],
    );
    assertEquals(
      await failure(send("Action=ListUsers&Version=2010-05-08&MaxItems=0")),
      ["ValidationError", 400],
    );
    // Still serving.
    assertEquals((await iamClient(server).send(new ListUsersCommand({}))).Users, []);
  } finally {
    await server.cleanup();
  }
});

Deno.test("iam api: tags of users and roles", async () => {
  const server = await startServer();
  try {
    const iam = iamClient(server);
    const created = await iam.send(
      new CreateUserCommand({ UserName: "tagged", Tags: [{ Key: "team", Value: "core" }] }),
    );
    assertEquals(created.User!.Tags, [{ Key: "team", Value: "core" }]);
    await iam.send(
      new TagUserCommand({
        UserName: "tagged",
        Tags: [{ Key: "team", Value: "infra" }, { Key: "cost-centre", Value: "42" }],
      }),
    );
    assertEquals((await iam.send(new ListUserTagsCommand({ UserName: "tagged" }))).Tags, [
      { Key: "team", Value: "infra" },
      { Key: "cost-centre", Value: "42" },
    ]);
    await iam.send(new UntagUserCommand({ UserName: "tagged", TagKeys: ["team"] }));
    assertEquals((await iam.send(new GetUserCommand({ UserName: "tagged" }))).User!.Tags, [
      { Key: "cost-centre", Value: "42" },
    ]);
    const many = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: "v" }));
    assertEquals(
      await failure(iam.send(new TagUserCommand({ UserName: "tagged", Tags: many }))),
      ["LimitExceeded", 409],
    );
    assertEquals(
      await failure(
        iam.send(
          new TagUserCommand({ UserName: "tagged", Tags: [{ Key: "bad<key>", Value: "" }] }),
        ),
      ),
      ["InvalidInput", 400],
    );
    await iam.send(new CreateRoleCommand({ RoleName: "tr", AssumeRolePolicyDocument: TRUST }));
    await iam.send(new TagRoleCommand({ RoleName: "tr", Tags: [{ Key: "env", Value: "prod" }] }));
    assertEquals((await iam.send(new ListRoleTagsCommand({ RoleName: "tr" }))).Tags, [
      { Key: "env", Value: "prod" },
    ]);
    assertEquals((await iam.send(new GetRoleCommand({ RoleName: "tr" }))).Role!.Tags, [
      { Key: "env", Value: "prod" },
    ]);
    assertEquals(
      (await failure(iam.send(new ListUserTagsCommand({ UserName: "ghost" }))))[0],
      "NoSuchEntity",
    );
  } finally {
    await server.cleanup();
  }
});
