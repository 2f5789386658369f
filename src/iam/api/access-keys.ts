/**
 * Create/List/Update/DeleteAccessKey: at most two keys per user (as AWS), AKIA-style ids and
 * 40-character secrets, Active or Inactive. The secret is in CreateAccessKey's answer only.
 */
import { newId, newSecret } from "../store-records.ts";
import { arnOf, existing, type IamActions, type IamContext, iso } from "./action.ts";
import { limitExceeded, noSuchEntity } from "./errors.ts";
import { page } from "./params.ts";
import { namedUser } from "./users.ts";

const MAX_KEYS_PER_USER = 2;

const userArn = (ctx: IamContext) => arnOf(ctx, "user", namedUser(ctx));

export const ACCESS_KEY_ACTIONS: IamActions = {
  CreateAccessKey: {
    resource: userArn,
    async run(ctx) {
      const name = namedUser(ctx);
      let id = newId("AKIA", 16);
      while (ctx.store.hasKey(id)) id = newId("AKIA", 16);
      const key = {
        id,
        secret: newSecret(),
        status: "Active" as const,
        created: new Date().toISOString(),
      };
      const user = await ctx.store.change("user", name, (current) => {
        const user = current ?? existing(ctx, "user", name);
        if (user.keys.length >= MAX_KEYS_PER_USER) {
          throw limitExceeded(`Cannot exceed quota for AccessKeysPerUser: ${MAX_KEYS_PER_USER}`);
        }
        return { ...user, keys: [...user.keys, key] };
      });
      return {
        AccessKey: {
          UserName: user!.name,
          AccessKeyId: key.id,
          Status: key.status,
          SecretAccessKey: key.secret,
          CreateDate: iso(key.created),
        },
      };
    },
  },
  ListAccessKeys: {
    resource: userArn,
    run(ctx) {
      const user = existing(ctx, "user", namedUser(ctx));
      const p = page(ctx.params, user.keys, (k) => k.id);
      return {
        UserName: user.name,
        AccessKeyMetadata: {
          member: p.items.map((k) => ({
            UserName: user.name,
            AccessKeyId: k.id,
            Status: k.status,
            CreateDate: iso(k.created),
          })),
        },
        IsTruncated: p.isTruncated,
        Marker: p.marker,
      };
    },
  },
  UpdateAccessKey: {
    resource: userArn,
    async run(ctx) {
      const name = namedUser(ctx);
      const id = ctx.params.required("AccessKeyId");
      ctx.params.required("Status");
      const status = ctx.params.choice("Status", ["Active", "Inactive"] as const)!;
      await ctx.store.change("user", name, (current) => {
        const user = current ?? existing(ctx, "user", name);
        if (!user.keys.some((k) => k.id === id)) throw noKey(id);
        return { ...user, keys: user.keys.map((k) => (k.id === id ? { ...k, status } : k)) };
      });
      return undefined;
    },
  },
  DeleteAccessKey: {
    resource: userArn,
    async run(ctx) {
      const name = namedUser(ctx);
      const id = ctx.params.required("AccessKeyId");
      await ctx.store.change("user", name, (current) => {
        const user = current ?? existing(ctx, "user", name);
        if (!user.keys.some((k) => k.id === id)) throw noKey(id);
        return { ...user, keys: user.keys.filter((k) => k.id !== id) };
      });
      return undefined;
    },
  },
};

function noKey(id: string) {
  return noSuchEntity(`The Access Key with id ${id} cannot be found`);
}
