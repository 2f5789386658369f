/**
 * Managed policies: Create/Get/List/DeletePolicy and their versions (Create/Get/List/
 * DeletePolicyVersion, SetDefaultPolicyVersion). IAM has no UpdatePolicy: a new default
 * version is how a policy is edited, at most five versions are kept, and the default one
 * cannot be deleted. The built-in policies (readonly, readwrite, writeonly) are AWS-managed
 * style, `arn:aws:iam::aws:policy/<name>`, with the single version v1.
 */
import type { XmlFields } from "../query-protocol.ts";
import type { PolicyDocument, Statement } from "../policy/document.ts";
import { BUILTIN_POLICIES } from "../policy/builtin.ts";
import { BUILTIN_POLICY_PREFIX, type IamStore } from "../store.ts";
import { ID_PREFIX, type ManagedPolicyRecord, newId } from "../store-records.ts";
import { checkDocument, encodeDocument, type IamActions, type IamContext, iso } from "./action.ts";
import {
  deleteConflict,
  entityExists,
  invalidInput,
  limitExceeded,
  noSuchEntity,
  validationError,
} from "./errors.ts";
import { page } from "./params.ts";

/** AWS's limits: a managed policy's size (characters, white space not counted), versions. */
const MAX_MANAGED_POLICY = 6144;
const MAX_VERSIONS = 5;
const tooLarge = `Cannot exceed quota for PolicySize: ${MAX_MANAGED_POLICY}`;
/** When the built-in policies were "created": they never change. */
const BUILTIN_DATE = new Date(0).toISOString();

export function checkManagedDocument(text: string): string {
  return checkDocument(text, "identity", MAX_MANAGED_POLICY, tooLarge);
}

/** A managed policy, account or built-in, as the API shows it. */
interface PolicyView {
  record: ManagedPolicyRecord;
  arn: string;
  builtin: boolean;
}

function builtinRecord(name: string, doc: PolicyDocument): ManagedPolicyRecord {
  return {
    name,
    path: "/",
    id: `ANPAFLASHSTOR${name.toUpperCase()}`.slice(0, 21),
    created: BUILTIN_DATE,
    updated: BUILTIN_DATE,
    defaultVersion: "v1",
    versions: [{ id: "v1", document: documentJson(doc), created: BUILTIN_DATE }],
    nextVersion: 2,
  };
}

/** Every policy: the built-in ones, then the account's. */
function allPolicies(store: IamStore): PolicyView[] {
  const builtin = [...BUILTIN_POLICIES].map(([name, doc]) => ({
    record: builtinRecord(name, doc),
    arn: BUILTIN_POLICY_PREFIX + name,
    builtin: true,
  }));
  const local = store.list("policy").map((record) => ({
    record,
    arn: store.arn("policy", record),
    builtin: false,
  }));
  return [...builtin, ...local];
}

/** The policy an ARN names, or NoSuchEntity. */
export function policyByArn(store: IamStore, arn: string): PolicyView {
  if (!arn.startsWith("arn:aws:iam::") || arn.length > 2048) {
    throw invalidInput(`ARN ${arn} is not valid.`);
  }
  const view = allPolicies(store).find((p) => p.arn === arn);
  if (!view) throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`);
  return view;
}

function policyFields(store: IamStore, view: PolicyView): XmlFields {
  const { record } = view;
  return {
    PolicyName: record.name,
    DefaultVersionId: record.defaultVersion,
    PolicyId: record.id,
    Path: record.path,
    Arn: view.arn,
    AttachmentCount: store.attachmentCount(view.arn),
    PermissionsBoundaryUsageCount: 0,
    IsAttachable: true,
    Description: record.description,
    CreateDate: iso(record.created),
    UpdateDate: iso(record.updated),
  };
}

function versionFields(
  record: ManagedPolicyRecord,
  id: string,
  withDocument: boolean,
): XmlFields {
  const version = record.versions.find((v) => v.id === id);
  if (!version) {
    throw noSuchEntity(`Policy ${record.name} version ${id} does not exist or is not attachable.`);
  }
  return {
    Document: withDocument ? encodeDocument(version.document) : undefined,
    VersionId: version.id,
    IsDefaultVersion: version.id === record.defaultVersion,
    CreateDate: iso(version.created),
  };
}

const policyArn = (ctx: IamContext) => ctx.params.required("PolicyArn");

/** Changes an account policy (built-in ones are read-only). */
async function changePolicy(
  ctx: IamContext,
  fn: (record: ManagedPolicyRecord) => ManagedPolicyRecord | null,
): Promise<ManagedPolicyRecord | null> {
  const view = policyByArn(ctx.store, policyArn(ctx));
  if (view.builtin) {
    throw invalidInput(`Policy ${view.arn} is a built-in policy: it cannot change.`);
  }
  return await ctx.store.change("policy", view.record.name, (current) => {
    if (!current || ctx.store.arn("policy", current) !== view.arn) {
      throw noSuchEntity(`Policy ${view.arn} does not exist or is not attachable.`);
    }
    return fn(current);
  });
}

export const POLICY_ACTIONS: IamActions = {
  CreatePolicy: {
    resource: (ctx) =>
      ctx.store.arn("policy", {
        name: ctx.params.name("PolicyName", 128),
        path: ctx.params.path(),
        id: "",
        created: "",
      }),
    async run(ctx) {
      const name = ctx.params.name("PolicyName", 128);
      const path = ctx.params.path();
      const document = checkManagedDocument(ctx.params.required("PolicyDocument"));
      const description = ctx.params.optional("Description");
      if (description !== undefined && description.length > 1000) {
        throw validationError("The description may hold at most 1000 characters.");
      }
      const now = new Date().toISOString();
      const record = await ctx.store.change("policy", name, (current) => {
        if (current) {
          throw entityExists(
            `A policy called ${name} already exists. Duplicate names are not allowed.`,
          );
        }
        return {
          name,
          path,
          id: newId(ID_PREFIX.policy, 17),
          created: now,
          updated: now,
          description,
          defaultVersion: "v1",
          versions: [{ id: "v1", document, created: now }],
          nextVersion: 2,
        };
      });
      const arn = ctx.store.arn("policy", record!);
      return { Policy: policyFields(ctx.store, { record: record!, arn, builtin: false }) };
    },
  },
  GetPolicy: {
    resource: policyArn,
    run: (ctx) => ({ Policy: policyFields(ctx.store, policyByArn(ctx.store, policyArn(ctx))) }),
  },
  ListPolicies: {
    resource: (ctx) => ctx.store.arn("policy", { name: "*", path: "/", id: "", created: "" }),
    run(ctx) {
      const scope = ctx.params.choice("Scope", ["All", "AWS", "Local"] as const) ?? "All";
      const onlyAttached = ctx.params.boolean("OnlyAttached", false);
      const prefix = ctx.params.path("PathPrefix");
      const policies = allPolicies(ctx.store).filter((p) =>
        (scope === "All" || (scope === "AWS") === p.builtin) &&
        p.record.path.startsWith(prefix) &&
        (!onlyAttached || ctx.store.attachmentCount(p.arn) > 0)
      );
      const p = page(ctx.params, policies, (v) => v.arn);
      return {
        Policies: { member: p.items.map((v) => policyFields(ctx.store, v)) },
        IsTruncated: p.isTruncated,
        Marker: p.marker,
      };
    },
  },
  DeletePolicy: {
    resource: policyArn,
    async run(ctx) {
      await changePolicy(ctx, (record) => {
        const arn = ctx.store.arn("policy", record);
        if (ctx.store.attachmentCount(arn) > 0) {
          throw deleteConflict("Cannot delete a policy attached to entities.");
        }
        if (record.versions.length > 1) {
          throw deleteConflict(
            "This policy has more than one version. Before you delete a policy, you must " +
              "delete the policy's versions. The default version is deleted with the policy.",
          );
        }
        return null;
      });
      return undefined;
    },
  },
  CreatePolicyVersion: {
    resource: policyArn,
    async run(ctx) {
      const document = checkManagedDocument(ctx.params.required("PolicyDocument"));
      const setAsDefault = ctx.params.boolean("SetAsDefault", false);
      const now = new Date().toISOString();
      const record = await changePolicy(ctx, (record) => {
        if (record.versions.length >= MAX_VERSIONS) {
          throw limitExceeded(
            `A managed policy can have up to ${MAX_VERSIONS} versions. Before you create a new ` +
              "version, you must delete an existing version.",
          );
        }
        const id = `v${record.nextVersion}`;
        return {
          ...record,
          versions: [...record.versions, { id, document, created: now }],
          nextVersion: record.nextVersion + 1,
          defaultVersion: setAsDefault ? id : record.defaultVersion,
          updated: setAsDefault ? now : record.updated,
        };
      });
      return { PolicyVersion: versionFields(record!, `v${record!.nextVersion - 1}`, false) };
    },
  },
  GetPolicyVersion: {
    resource: policyArn,
    run(ctx) {
      const view = policyByArn(ctx.store, policyArn(ctx));
      return { PolicyVersion: versionFields(view.record, ctx.params.required("VersionId"), true) };
    },
  },
  ListPolicyVersions: {
    resource: policyArn,
    run(ctx) {
      const { record } = policyByArn(ctx.store, policyArn(ctx));
      const versions = [...record.versions].reverse();
      const p = page(ctx.params, versions, (v) => v.id.padStart(8, "0"));
      return {
        Versions: { member: p.items.map((v) => versionFields(record, v.id, false)) },
        IsTruncated: p.isTruncated,
        Marker: p.marker,
      };
    },
  },
  DeletePolicyVersion: {
    resource: policyArn,
    async run(ctx) {
      const id = ctx.params.required("VersionId");
      await changePolicy(ctx, (record) => {
        versionFields(record, id, false);
        if (id === record.defaultVersion) {
          throw deleteConflict("Cannot delete the default version of a policy.");
        }
        return { ...record, versions: record.versions.filter((v) => v.id !== id) };
      });
      return undefined;
    },
  },
  SetDefaultPolicyVersion: {
    resource: policyArn,
    async run(ctx) {
      const id = ctx.params.required("VersionId");
      await changePolicy(ctx, (record) => {
        versionFields(record, id, false);
        return { ...record, defaultVersion: id, updated: new Date().toISOString() };
      });
      return undefined;
    },
  },
};

/** A parsed document as AWS policy JSON (for the built-in policies' version v1). */
function documentJson(doc: PolicyDocument): string {
  const statement = (s: Statement) => ({
    Sid: s.sid,
    Effect: s.effect,
    Principal: s.principal,
    NotPrincipal: s.notPrincipal,
    Action: s.action,
    NotAction: s.notAction,
    Resource: s.resource,
    NotResource: s.notResource,
    Condition: s.condition,
  });
  return JSON.stringify({
    Version: doc.version,
    Id: doc.id,
    Statement: doc.statements.map(statement),
  });
}
