/**
 * What every IAM action is: the ARN it is authorized on and what it does, over the store and
 * the call's checked parameters; and what the actions share (finding an entity, checking a
 * policy document, IAM's URL-encoded documents).
 */
import type { QueryCall, XmlFields } from "../query-protocol.ts";
import { MalformedPolicy, parsePolicy } from "../policy/parse.ts";
import type { PolicyKind } from "../policy/document.ts";
import type { IamStore } from "../store.ts";
import type { EntityKind, RecordOf } from "../store-records.ts";
import { invalidInput, limitExceeded, malformedPolicy, noSuchEntity } from "./errors.ts";
import { page, type Params } from "./params.ts";

export interface IamContext {
  store: IamStore;
  params: Params;
  call: QueryCall;
}

export interface IamAction {
  /** The ARN `iam:<Action>` is authorized on. */
  resource(ctx: IamContext): string;
  /** The result's elements (undefined: the response has none). */
  run(ctx: IamContext): Promise<XmlFields | undefined> | XmlFields | undefined;
}

export type IamActions = Record<string, IamAction>;

/** Permissions boundaries are not enforced: an entity created with one would get more than
 *  its creator meant, so the call is refused. */
export function refuseBoundary(ctx: IamContext): void {
  if (ctx.params.optional("PermissionsBoundary") === undefined) return;
  throw invalidInput("Permissions boundaries are not supported by this server.");
}

/**
 * List{Users,Groups,Roles}: the entities of a kind under PathPrefix, a Marker/MaxItems page of
 * them, each rendered by `fields`, as the member list `element`.
 */
export function listByPath<K extends "user" | "group" | "role">(
  kind: K,
  element: string,
  fields: (store: IamStore, record: RecordOf[K]) => XmlFields,
): IamAction {
  return {
    resource: (ctx) => ctx.store.arn(kind, { name: "*", path: "/", id: "", created: "" }),
    run(ctx) {
      const prefix = ctx.params.path("PathPrefix");
      const records = ctx.store.list(kind).filter((r) => r.path.startsWith(prefix));
      const p = page(ctx.params, records, (r) => r.name.toLowerCase());
      return {
        [element]: { member: p.items.map((r) => fields(ctx.store, r)) },
        IsTruncated: p.isTruncated,
        Marker: p.marker,
      };
    },
  };
}

/** The entity named by a parameter, or NoSuchEntity in AWS's words. */
export function existing<K extends Exclude<EntityKind, "policy">>(
  ctx: IamContext,
  kind: K,
  name: string,
): RecordOf[K] {
  const record = ctx.store.get(kind, name);
  if (!record) throw noSuchEntity(`The ${kind} with name ${name} cannot be found.`);
  return record;
}

/** The ARN of the entity a name names: its own when it exists, else with `path` ("/"). */
export function arnOf(ctx: IamContext, kind: EntityKind, name: string, path = "/"): string {
  const record = ctx.store.get(kind, name);
  return ctx.store.arn(kind, record ?? { name, path, id: "", created: "" });
}

/** A policy document as put, checked: at most `limit` characters (white space not counted),
 *  and parsing as `kind`. */
export function checkDocument(
  text: string,
  kind: PolicyKind,
  limit: number,
  tooLarge: string,
): string {
  if (text.replace(/\s/g, "").length > limit) throw limitExceeded(tooLarge);
  try {
    parsePolicy(text, kind);
  } catch (err) {
    if (err instanceof MalformedPolicy) throw malformedPolicy(err.message);
    throw err;
  }
  return text;
}

/** IAM returns policy documents URL-encoded (RFC 3986); SDKs decode them. */
export function encodeDocument(text: string): string {
  return encodeURIComponent(text);
}

export function iso(date: string): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, "Z");
}
