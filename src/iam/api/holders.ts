/**
 * What users, groups and roles share: managed policies attached to them
 * (Attach/Detach/ListAttached{User,Group,Role}Policies) and inline policies
 * (Put/Get/List/Delete{User,Group,Role}Policy), one definition for the three kinds.
 */
import type { EntityKind } from "../store-records.ts";
import {
  arnOf,
  checkDocument,
  encodeDocument,
  existing,
  type IamActions,
  type IamContext,
} from "./action.ts";
import { limitExceeded, noSuchEntity } from "./errors.ts";
import { page } from "./params.ts";
import { policyByArn } from "./policies.ts";

type HolderKind = Exclude<EntityKind, "policy">;

/** AWS's limits: inline policy size (characters, white space not counted) per kind. */
const INLINE_LIMIT: Record<HolderKind, number> = { user: 2048, group: 5120, role: 10240 };
/** AWS's quota of managed policies attached to one user, group or role. */
const MAX_ATTACHED = 10;

const TITLE: Record<HolderKind, string> = { user: "User", group: "Group", role: "Role" };
const NAME_LIMIT: Record<HolderKind, number> = { user: 64, group: 128, role: 64 };

function holderActions(kind: HolderKind): IamActions {
  const title = TITLE[kind];
  const nameParam = `${title}Name`;
  const holderName = (ctx: IamContext) => ctx.params.name(nameParam, NAME_LIMIT[kind]);
  const resource = (ctx: IamContext) => arnOf(ctx, kind, holderName(ctx));
  const policyName = (ctx: IamContext) => ctx.params.name("PolicyName", 128);
  const noInline = (name: string) =>
    noSuchEntity(`The ${kind} policy with name ${name} cannot be found.`);

  const attach = async (ctx: IamContext, on: boolean) => {
    const name = holderName(ctx);
    const arn = ctx.params.required("PolicyArn");
    policyByArn(ctx.store, arn);
    await ctx.store.change(kind, name, (current) => {
      const holder = current ?? existing(ctx, kind, name);
      const others = holder.attached.filter((a) => a !== arn);
      if (!on && others.length === holder.attached.length) {
        throw noSuchEntity(`Policy ${arn} was not found.`);
      }
      if (on && others.length >= MAX_ATTACHED) {
        throw limitExceeded(`Cannot exceed quota for PoliciesPer${title}: ${MAX_ATTACHED}`);
      }
      return { ...holder, attached: on ? [...others, arn] : others };
    });
    return undefined;
  };

  return {
    [`Attach${title}Policy`]: { resource, run: (ctx) => attach(ctx, true) },
    [`Detach${title}Policy`]: { resource, run: (ctx) => attach(ctx, false) },
    [`ListAttached${title}Policies`]: {
      resource,
      run(ctx) {
        const holder = existing(ctx, kind, holderName(ctx));
        const prefix = ctx.params.path("PathPrefix");
        const attached = holder.attached.map((arn) => ({
          arn,
          name: arn.slice(arn.lastIndexOf("/") + 1),
          path: arn.slice(arn.indexOf(":policy") + 7, arn.lastIndexOf("/") + 1),
        })).filter((a) => a.path.startsWith(prefix));
        const p = page(ctx.params, attached, (a) => a.arn);
        return {
          AttachedPolicies: {
            member: p.items.map((a) => ({ PolicyName: a.name, PolicyArn: a.arn })),
          },
          IsTruncated: p.isTruncated,
          Marker: p.marker,
        };
      },
    },
    [`Put${title}Policy`]: {
      resource,
      async run(ctx) {
        const name = holderName(ctx);
        const policy = policyName(ctx);
        const limit = INLINE_LIMIT[kind];
        const document = checkDocument(
          ctx.params.required("PolicyDocument"),
          "identity",
          limit,
          `Maximum policy size of ${limit} bytes exceeded for ${kind} ${name}`,
        );
        await ctx.store.change(kind, name, (current) => {
          const holder = current ?? existing(ctx, kind, name);
          const inline = { ...holder.inline, [policy]: document };
          const total = Object.values(inline).join("").replace(/\s/g, "").length;
          if (total > limit) {
            throw limitExceeded(
              `Maximum policy size of ${limit} bytes exceeded for ${kind} ${name}`,
            );
          }
          return { ...holder, inline };
        });
        return undefined;
      },
    },
    [`Get${title}Policy`]: {
      resource,
      run(ctx) {
        const holder = existing(ctx, kind, holderName(ctx));
        const policy = policyName(ctx);
        const document = holder.inline[policy];
        if (document === undefined) throw noInline(policy);
        return {
          [nameParam]: holder.name,
          PolicyName: policy,
          PolicyDocument: encodeDocument(document),
        };
      },
    },
    [`List${title}Policies`]: {
      resource,
      run(ctx) {
        const holder = existing(ctx, kind, holderName(ctx));
        const names = Object.keys(holder.inline).sort();
        const p = page(ctx.params, names, (n) => n);
        return { PolicyNames: { member: p.items }, IsTruncated: p.isTruncated, Marker: p.marker };
      },
    },
    [`Delete${title}Policy`]: {
      resource,
      async run(ctx) {
        const name = holderName(ctx);
        const policy = policyName(ctx);
        await ctx.store.change(kind, name, (current) => {
          const holder = current ?? existing(ctx, kind, name);
          if (holder.inline[policy] === undefined) throw noInline(policy);
          const { [policy]: _, ...inline } = holder.inline;
          return { ...holder, inline };
        });
        return undefined;
      },
    },
  };
}

export const HOLDER_ACTIONS: IamActions = {
  ...holderActions("user"),
  ...holderActions("group"),
  ...holderActions("role"),
};
