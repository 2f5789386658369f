/** Create/Get/List/Update/DeleteUser. */
import type { XmlFields } from "../query-protocol.ts";
import type { IamStore } from "../store.ts";
import { ID_PREFIX, newId, type UserRecord } from "../store-records.ts";
import {
  arnOf,
  existing,
  type IamActions,
  type IamContext,
  iso,
  listByPath,
  refuseBoundary,
} from "./action.ts";
import { deleteConflict, entityExists, validationError } from "./errors.ts";
import { tagsField, tagsParam } from "./tags.ts";

export function userFields(store: IamStore, user: UserRecord): XmlFields {
  return {
    Path: user.path,
    UserName: user.name,
    UserId: user.id,
    Arn: store.arn("user", user),
    CreateDate: iso(user.created),
    Tags: tagsField(user.tags),
  };
}

/** The UserName parameter, or the caller's own name when it is a user and gave none. */
export function userNameOf(ctx: IamContext): string | undefined {
  const name = ctx.params.name("UserName", 64, false);
  if (name !== "") return name;
  return ctx.call.principal.kind === "user" ? ctx.call.principal.userName : undefined;
}

const userArn = (ctx: IamContext) => {
  const name = userNameOf(ctx);
  return name === undefined ? ctx.call.principal.arn : arnOf(ctx, "user", name);
};

export const USER_ACTIONS: IamActions = {
  CreateUser: {
    resource: (ctx) => arnOf(ctx, "user", ctx.params.name("UserName"), ctx.params.path()),
    async run(ctx) {
      refuseBoundary(ctx);
      const name = ctx.params.name("UserName");
      const path = ctx.params.path();
      const tags = tagsParam(ctx);
      const user = await ctx.store.change("user", name, (current) => {
        if (current) throw entityExists(`User with name ${name} already exists.`);
        return {
          name,
          path,
          id: newId(ID_PREFIX.user, 17),
          created: new Date().toISOString(),
          inline: {},
          attached: [],
          keys: [],
          tags: tags.length > 0 ? tags : undefined,
        };
      });
      return { User: userFields(ctx.store, user!) };
    },
  },
  GetUser: {
    resource: userArn,
    run(ctx) {
      const name = userNameOf(ctx);
      if (name !== undefined) return { User: userFields(ctx.store, existing(ctx, "user", name)) };
      // Root (no user name): the account itself, as AWS answers.
      const { principal } = ctx.call;
      return {
        User: {
          UserId: principal.accountId,
          Arn: principal.arn,
          CreateDate: iso(new Date(0).toISOString()),
        },
      };
    },
  },
  ListUsers: listByPath("user", "Users", userFields),
  UpdateUser: {
    resource: (ctx) => arnOf(ctx, "user", ctx.params.name("UserName")),
    async run(ctx) {
      const name = ctx.params.name("UserName");
      const newName = ctx.params.name("NewUserName", 64, false) || undefined;
      const newPath = ctx.params.optional("NewPath") === undefined
        ? undefined
        : ctx.params.path("NewPath");
      await ctx.store.change("user", name, (current) => {
        const user = current ?? existing(ctx, "user", name);
        const clash = newName && ctx.store.get("user", newName);
        if (clash && clash !== user) {
          throw entityExists(`User with name ${newName} already exists.`);
        }
        return { ...user, name: newName ?? user.name, path: newPath ?? user.path };
      });
      return undefined;
    },
  },
  DeleteUser: {
    resource: (ctx) => arnOf(ctx, "user", ctx.params.name("UserName")),
    async run(ctx) {
      const name = ctx.params.name("UserName");
      await ctx.store.change("user", name, (current) => {
        const user = current ?? existing(ctx, "user", name);
        if (user.keys.length > 0) {
          throw deleteConflict("Cannot delete entity, must delete access keys first.");
        }
        if (Object.keys(user.inline).length > 0) {
          throw deleteConflict("Cannot delete entity, must delete policies first.");
        }
        if (user.attached.length > 0) {
          throw deleteConflict("Cannot delete entity, must detach all policies first.");
        }
        if (ctx.store.groupsOf(user).length > 0) {
          throw deleteConflict("Cannot delete entity, must remove users from group first.");
        }
        return null;
      });
      return undefined;
    },
  },
};

/** The user a call names, refused for root (whose keys are the server's settings). */
export function namedUser(ctx: IamContext): string {
  const name = userNameOf(ctx);
  if (name === undefined) {
    throw validationError(
      "The account root's access key is FLASHSTOR_ROOT_USER / FLASHSTOR_ROOT_PASSWORD: " +
        "name a user (UserName).",
    );
  }
  return name;
}
