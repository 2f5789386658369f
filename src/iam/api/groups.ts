/**
 * Create/Get/List/DeleteGroup, AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser. A group
 * keeps its members (by user id, so a renamed user stays a member).
 */
import type { XmlFields } from "../query-protocol.ts";
import type { IamStore } from "../store.ts";
import { type GroupRecord, ID_PREFIX, newId } from "../store-records.ts";
import { arnOf, existing, type IamActions, type IamContext, iso, listByPath } from "./action.ts";
import { deleteConflict, entityExists, limitExceeded } from "./errors.ts";
import { page } from "./params.ts";
import { userFields } from "./users.ts";

/** AWS's quota of groups a user can be in. */
const MAX_GROUPS_PER_USER = 10;

export function groupFields(store: IamStore, group: GroupRecord): XmlFields {
  return {
    Path: group.path,
    GroupName: group.name,
    GroupId: group.id,
    Arn: store.arn("group", group),
    CreateDate: iso(group.created),
  };
}

const groupArn = (ctx: IamContext) => arnOf(ctx, "group", ctx.params.name("GroupName", 128));

/** Adds or removes the UserName parameter's user to or from the GroupName one. */
async function membership(ctx: IamContext, add: boolean): Promise<undefined> {
  const groupName = ctx.params.name("GroupName", 128);
  const user = existing(ctx, "user", ctx.params.name("UserName"));
  await ctx.store.change("group", groupName, (current) => {
    const group = current ?? existing(ctx, "group", groupName);
    const members = group.members.filter((id) => id !== user.id);
    if (add) {
      if (
        !group.members.includes(user.id) && ctx.store.groupsOf(user).length >= MAX_GROUPS_PER_USER
      ) {
        throw limitExceeded(`Cannot exceed quota for GroupsPerUser: ${MAX_GROUPS_PER_USER}`);
      }
      members.push(user.id);
    }
    return { ...group, members };
  });
  return undefined;
}

export const GROUP_ACTIONS: IamActions = {
  CreateGroup: {
    resource: (ctx) => arnOf(ctx, "group", ctx.params.name("GroupName", 128), ctx.params.path()),
    async run(ctx) {
      const name = ctx.params.name("GroupName", 128);
      const path = ctx.params.path();
      const group = await ctx.store.change("group", name, (current) => {
        if (current) throw entityExists(`Group with name ${name} already exists.`);
        return {
          name,
          path,
          id: newId(ID_PREFIX.group, 17),
          created: new Date().toISOString(),
          inline: {},
          attached: [],
          members: [],
        };
      });
      return { Group: groupFields(ctx.store, group!) };
    },
  },
  GetGroup: {
    resource: groupArn,
    run(ctx) {
      const group = existing(ctx, "group", ctx.params.name("GroupName", 128));
      const users = ctx.store.list("user").filter((u) => group.members.includes(u.id));
      const p = page(ctx.params, users, (u) => u.name.toLowerCase());
      return {
        Group: groupFields(ctx.store, group),
        Users: { member: p.items.map((u) => userFields(ctx.store, u)) },
        IsTruncated: p.isTruncated,
        Marker: p.marker,
      };
    },
  },
  ListGroups: listByPath("group", "Groups", groupFields),
  DeleteGroup: {
    resource: groupArn,
    async run(ctx) {
      const name = ctx.params.name("GroupName", 128);
      await ctx.store.change("group", name, (current) => {
        const group = current ?? existing(ctx, "group", name);
        if (group.members.length > 0) {
          throw deleteConflict("Cannot delete entity, must remove users from group first.");
        }
        if (Object.keys(group.inline).length > 0) {
          throw deleteConflict("Cannot delete entity, must delete policies first.");
        }
        if (group.attached.length > 0) {
          throw deleteConflict("Cannot delete entity, must detach all policies first.");
        }
        return null;
      });
      return undefined;
    },
  },
  AddUserToGroup: { resource: groupArn, run: (ctx) => membership(ctx, true) },
  RemoveUserFromGroup: { resource: groupArn, run: (ctx) => membership(ctx, false) },
  ListGroupsForUser: {
    resource: (ctx) => arnOf(ctx, "user", ctx.params.name("UserName")),
    run(ctx) {
      const user = existing(ctx, "user", ctx.params.name("UserName"));
      const groups = ctx.store.list("group").filter((g) => g.members.includes(user.id));
      const p = page(ctx.params, groups, (g) => g.name.toLowerCase());
      return {
        Groups: { member: p.items.map((g) => groupFields(ctx.store, g)) },
        IsTruncated: p.isTruncated,
        Marker: p.marker,
      };
    },
  },
};
