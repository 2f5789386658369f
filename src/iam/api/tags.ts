/**
 * Tags of users and roles: given at creation (Tags), and Tag/Untag/List{User,Role}Tags, with
 * AWS's limits (50 per entity, keys 1–128 and values 0–256 characters of letters, digits,
 * spaces and _.:/=+-@). Kept and shown; no condition key reads them yet.
 */
import type { Tag } from "../store-records.ts";
import { arnOf, existing, type IamActions, type IamContext } from "./action.ts";
import { invalidInput, limitExceeded } from "./errors.ts";
import { page } from "./params.ts";

const MAX_TAGS = 50;
const TAG_TEXT = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

function checkTag(key: string, value: string): void {
  if (key.length < 1 || key.length > 128 || !TAG_TEXT.test(key)) {
    throw invalidInput(`The tag key ${JSON.stringify(key)} is not valid.`);
  }
  if (value.length > 256 || !TAG_TEXT.test(value)) {
    throw invalidInput(`The tag value ${JSON.stringify(value)} is not valid.`);
  }
}

/** The Tags parameter (Tags.member.N.Key / .Value), checked. */
export function tagsParam(ctx: IamContext): Tag[] {
  const tags: Tag[] = [];
  for (let i = 1;; i++) {
    const key = ctx.params.optional(`Tags.member.${i}.Key`);
    if (key === undefined) break;
    const value = ctx.params.optional(`Tags.member.${i}.Value`) ?? "";
    checkTag(key, value);
    if (i > MAX_TAGS) throw limitExceeded(`Cannot exceed quota for TagsPerEntity: ${MAX_TAGS}`);
    tags.push({ Key: key, Value: value });
  }
  return tags;
}

/** `tags` with `changes` applied: same keys replaced, new ones appended, `removed` dropped. */
export function mergeTags(tags: Tag[] = [], changes: Tag[], removed: string[] = []): Tag[] {
  const changed = new Set(changes.map((t) => t.Key));
  const gone = new Set(removed);
  const merged = [...tags.filter((t) => !changed.has(t.Key) && !gone.has(t.Key)), ...changes];
  if (merged.length > MAX_TAGS) {
    throw limitExceeded(`Cannot exceed quota for TagsPerEntity: ${MAX_TAGS}`);
  }
  return merged;
}

/** Tags as IAM shows them in an entity (absent when none). */
export function tagsField(tags: Tag[] | undefined): { member: Tag[] } | undefined {
  return tags?.length ? { member: tags } : undefined;
}

function tagActions(kind: "user" | "role"): IamActions {
  const title = kind === "user" ? "User" : "Role";
  const holderName = (ctx: IamContext) => ctx.params.name(`${title}Name`);
  const resource = (ctx: IamContext) => arnOf(ctx, kind, holderName(ctx));
  const change = async (ctx: IamContext, changes: Tag[], removed: string[]) => {
    const name = holderName(ctx);
    await ctx.store.change(kind, name, (current) => {
      const holder = current ?? existing(ctx, kind, name);
      return { ...holder, tags: mergeTags(holder.tags, changes, removed) };
    });
    return undefined;
  };
  return {
    [`Tag${title}`]: {
      resource,
      run(ctx) {
        ctx.params.required("Tags.member.1.Key");
        return change(ctx, tagsParam(ctx), []);
      },
    },
    [`Untag${title}`]: {
      resource,
      run: (ctx) => change(ctx, [], ctx.params.members("TagKeys", MAX_TAGS)),
    },
    [`List${title}Tags`]: {
      resource,
      run(ctx) {
        const holder = existing(ctx, kind, holderName(ctx));
        const p = page(ctx.params, holder.tags ?? [], (t) => t.Key);
        return { Tags: { member: p.items }, IsTruncated: p.isTruncated, Marker: p.marker };
      },
    },
  };
}

export const TAG_ACTIONS: IamActions = { ...tagActions("user"), ...tagActions("role") };
