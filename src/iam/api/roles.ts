/**
 * Create/Get/List/Update/DeleteRole and UpdateAssumeRolePolicy: a role has a trust policy
 * (who may assume it, checked by STS's AssumeRole) and a MaxSessionDuration of 1–12 hours.
 */
import type { XmlFields } from "../query-protocol.ts";
import type { IamStore } from "../store.ts";
import { ID_PREFIX, newId, type RoleRecord } from "../store-records.ts";
import {
  arnOf,
  checkDocument,
  encodeDocument,
  existing,
  type IamActions,
  type IamContext,
  iso,
  listByPath,
  refuseBoundary,
} from "./action.ts";
import { deleteConflict, entityExists, validationError } from "./errors.ts";
import { tagsField, tagsParam } from "./tags.ts";

/** AWS's limit of a trust policy (characters, white space not counted). */
const MAX_TRUST_POLICY = 2048;
const DEFAULT_SESSION = 3600;

function roleFields(store: IamStore, role: RoleRecord): XmlFields {
  return {
    Path: role.path,
    RoleName: role.name,
    RoleId: role.id,
    Arn: store.arn("role", role),
    CreateDate: iso(role.created),
    AssumeRolePolicyDocument: encodeDocument(role.trustPolicy),
    Description: role.description,
    MaxSessionDuration: role.maxSessionDuration,
    Tags: tagsField(role.tags),
  };
}

const roleName = (ctx: IamContext) => ctx.params.name("RoleName");
const roleArn = (ctx: IamContext) => arnOf(ctx, "role", roleName(ctx));

function trustPolicy(ctx: IamContext, param: string): string {
  return checkDocument(
    ctx.params.required(param),
    "trust",
    MAX_TRUST_POLICY,
    `Cannot exceed quota for ACLSizePerRole: ${MAX_TRUST_POLICY}`,
  );
}

function description(ctx: IamContext): string | undefined {
  const text = ctx.params.optional("Description");
  if (text !== undefined && text.length > 1000) {
    throw validationError("The description may hold at most 1000 characters.");
  }
  return text;
}

const sessionDuration = (ctx: IamContext) => ctx.params.integer("MaxSessionDuration", 3600, 43200);

export const ROLE_ACTIONS: IamActions = {
  CreateRole: {
    resource: (ctx) => arnOf(ctx, "role", roleName(ctx), ctx.params.path()),
    async run(ctx) {
      refuseBoundary(ctx);
      const name = roleName(ctx);
      const path = ctx.params.path();
      const trust = trustPolicy(ctx, "AssumeRolePolicyDocument");
      const maxSessionDuration = sessionDuration(ctx) ?? DEFAULT_SESSION;
      const text = description(ctx);
      const tags = tagsParam(ctx);
      const role = await ctx.store.change("role", name, (current) => {
        if (current) throw entityExists(`Role with name ${name} already exists.`);
        return {
          name,
          path,
          id: newId(ID_PREFIX.role, 17),
          created: new Date().toISOString(),
          inline: {},
          attached: [],
          trustPolicy: trust,
          maxSessionDuration,
          description: text,
          tags: tags.length > 0 ? tags : undefined,
        };
      });
      return { Role: roleFields(ctx.store, role!) };
    },
  },
  GetRole: {
    resource: roleArn,
    run: (ctx) => ({ Role: roleFields(ctx.store, existing(ctx, "role", roleName(ctx))) }),
  },
  ListRoles: listByPath("role", "Roles", roleFields),
  UpdateRole: {
    resource: roleArn,
    async run(ctx) {
      const name = roleName(ctx);
      const duration = sessionDuration(ctx);
      const text = description(ctx);
      await ctx.store.change("role", name, (current) => {
        const role = current ?? existing(ctx, "role", name);
        return {
          ...role,
          maxSessionDuration: duration ?? role.maxSessionDuration,
          description: text ?? role.description,
        };
      });
      return {};
    },
  },
  UpdateAssumeRolePolicy: {
    resource: roleArn,
    async run(ctx) {
      const name = roleName(ctx);
      const trust = trustPolicy(ctx, "PolicyDocument");
      await ctx.store.change("role", name, (current) => {
        const role = current ?? existing(ctx, "role", name);
        return { ...role, trustPolicy: trust };
      });
      return undefined;
    },
  },
  DeleteRole: {
    resource: roleArn,
    async run(ctx) {
      const name = roleName(ctx);
      await ctx.store.change("role", name, (current) => {
        const role = current ?? existing(ctx, "role", name);
        if (Object.keys(role.inline).length > 0) {
          throw deleteConflict("Cannot delete entity, must delete policies first.");
        }
        if (role.attached.length > 0) {
          throw deleteConflict("Cannot delete entity, must detach all policies first.");
        }
        return null;
      });
      return undefined;
    },
  },
};
