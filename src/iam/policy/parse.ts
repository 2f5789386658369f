/**
 * The AWS policy language's JSON grammar → PolicyDocument, refusing what AWS refuses with the
 * reason (MalformedPolicy's message is shown to clients as is). Which elements a document must
 * or must not have depends on its kind: Principal/NotPrincipal only in resource (bucket) and
 * trust policies, where one of them is required; Resource/NotResource required in all but trust
 * policies, where it is refused.
 */

import { S3_ACTIONS } from "./actions.ts";
import { compiledStatements } from "./compile.ts";
import { ConditionError } from "./conditions.ts";
import type {
  ConditionBlock,
  PolicyDocument,
  PolicyKind,
  PrincipalBlock,
  Statement,
} from "./document.ts";
import { Pattern } from "./wildcard.ts";

export class MalformedPolicy extends Error {
  override name = "MalformedPolicy";
}

const TOP_ELEMENTS = new Set(["Version", "Id", "Statement"]);
const STATEMENT_ELEMENTS = new Set([
  "Sid",
  "Effect",
  "Principal",
  "NotPrincipal",
  "Action",
  "NotAction",
  "Resource",
  "NotResource",
  "Condition",
]);
const PRINCIPAL_TYPES = new Set(["AWS", "CanonicalUser", "Service", "Federated"]);

export function parsePolicy(text: string, kind: PolicyKind): PolicyDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MalformedPolicy(`Policy is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(json)) throw new MalformedPolicy("Policy must be a JSON object");
  for (const key of Object.keys(json)) {
    if (!TOP_ELEMENTS.has(key)) throw new MalformedPolicy(`Unknown policy element "${key}"`);
  }
  const version = json.Version ?? "2008-10-17";
  if (version !== "2012-10-17" && version !== "2008-10-17") {
    throw new MalformedPolicy(`Invalid Version "${String(version)}"`);
  }
  if (json.Id !== undefined && typeof json.Id !== "string") {
    throw new MalformedPolicy("Id must be a string");
  }
  const raw = json.Statement;
  if (raw === undefined) throw new MalformedPolicy("Missing required field Statement");
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw new MalformedPolicy("Statement must not be empty");
  const statements = list.map((s, i) => parseStatement(s, i, kind));
  const sids = new Set<string>();
  for (const s of statements) {
    if (s.sid === undefined || s.sid === "") continue;
    if (sids.has(s.sid)) throw new MalformedPolicy(`Statement ids (Sid) must be unique: ${s.sid}`);
    sids.add(s.sid);
  }
  const document: PolicyDocument = { version, statements };
  if (json.Id !== undefined) document.id = json.Id;
  try {
    compiledStatements(document);
  } catch (e) {
    if (e instanceof ConditionError) throw new MalformedPolicy(e.message);
    throw e;
  }
  return document;
}

function parseStatement(raw: unknown, index: number, kind: PolicyKind): Statement {
  const where = `Statement ${index + 1}`;
  if (!isObject(raw)) throw new MalformedPolicy(`${where} must be a JSON object`);
  for (const key of Object.keys(raw)) {
    if (!STATEMENT_ELEMENTS.has(key)) {
      throw new MalformedPolicy(`${where}: unknown element "${key}"`);
    }
  }
  if (raw.Effect !== "Allow" && raw.Effect !== "Deny") {
    throw new MalformedPolicy(`${where}: Effect must be "Allow" or "Deny"`);
  }
  const statement: Statement = { effect: raw.Effect };
  if (raw.Sid !== undefined) {
    if (typeof raw.Sid !== "string") throw new MalformedPolicy(`${where}: Sid must be a string`);
    statement.sid = raw.Sid;
  }

  const principal = either(raw, "Principal", "NotPrincipal", where);
  if (kind === "identity" || kind === "session") {
    if (principal !== undefined) {
      throw new MalformedPolicy(`${where}: ${principal} is not allowed in an ${kind} policy`);
    }
  } else if (principal === undefined) {
    throw new MalformedPolicy(`${where}: missing Principal`);
  } else {
    const block = parsePrincipal(raw[principal], `${where}: ${principal}`);
    if (principal === "Principal") statement.principal = block;
    else statement.notPrincipal = block;
  }

  const action = either(raw, "Action", "NotAction", where);
  if (action === undefined) throw new MalformedPolicy(`${where}: missing Action`);
  const actions = stringList(raw[action], `${where}: ${action}`);
  for (const name of actions) checkAction(name, `${where}: ${action}`);
  if (action === "Action") statement.action = actions;
  else statement.notAction = actions;

  // A trust policy's resource is its role: IAM refuses the element there.
  const resource = either(raw, "Resource", "NotResource", where);
  if (kind === "trust") {
    if (resource !== undefined) {
      throw new MalformedPolicy(`${where}: has prohibited field ${resource}`);
    }
  } else if (resource === undefined) {
    throw new MalformedPolicy(`${where}: missing Resource`);
  } else {
    const resources = stringList(raw[resource], `${where}: ${resource}`);
    for (const name of resources) checkResource(name, `${where}: ${resource}`);
    if (resource === "Resource") statement.resource = resources;
    else statement.notResource = resources;
  }

  if (raw.Condition !== undefined) {
    statement.condition = parseCondition(raw.Condition, `${where}: Condition`);
  }
  return statement;
}

/** Which of two exclusive elements the statement has (AWS refuses both). */
function either<A extends string, B extends string>(
  raw: Record<string, unknown>,
  a: A,
  b: B,
  where: string,
): A | B | undefined {
  if (raw[a] !== undefined && raw[b] !== undefined) {
    throw new MalformedPolicy(`${where}: ${a} and ${b} cannot both be present`);
  }
  return raw[a] !== undefined ? a : raw[b] !== undefined ? b : undefined;
}

function parsePrincipal(raw: unknown, where: string): PrincipalBlock {
  if (raw === "*") return "*";
  if (!isObject(raw)) throw new MalformedPolicy(`${where} must be "*" or an object`);
  const block: Record<string, string[]> = {};
  for (const [type, value] of Object.entries(raw)) {
    if (!PRINCIPAL_TYPES.has(type)) {
      throw new MalformedPolicy(`${where}: invalid principal type "${type}"`);
    }
    const values = stringList(value, `${where}.${type}`);
    if (type === "AWS") { for (const v of values) checkAwsPrincipal(v, where); }
    block[type] = values;
  }
  if (Object.keys(block).length === 0) throw new MalformedPolicy(`${where} must not be empty`);
  return block;
}

function checkAwsPrincipal(value: string, where: string): void {
  const ok = value === "*" || /^\d{12}$/.test(value) ||
    /^arn:aws:(iam|sts)::\d{12}:[^*?]+$/.test(value) || /^A[A-Z]{3}[A-Z0-9]{12,}$/.test(value);
  if (!ok) throw new MalformedPolicy(`${where}: invalid principal "${value}"`);
}

function checkAction(name: string, where: string): void {
  if (name === "*") return;
  const match = /^([a-z0-9*?-]+):([A-Za-z0-9*?-]+)$/i.exec(name);
  if (!match) throw new MalformedPolicy(`${where}: invalid action "${name}"`);
  if (match[1].toLowerCase() !== "s3") return;
  const lower = name.toLowerCase();
  const pattern = new Pattern(lower, { wildcards: true, variables: false, ignoreCase: true });
  const known = pattern.literal !== undefined
    ? S3_ACTIONS.has(lower)
    : [...S3_ACTIONS].some((a) => pattern.matches(a, () => undefined));
  if (!known) throw new MalformedPolicy(`${where}: unknown action "${name}"`);
}

function checkResource(name: string, where: string): void {
  if (name === "*") return;
  const colons = name.split(":").length - 1;
  if (!name.startsWith("arn:") || (colons < 5 && !name.includes("*"))) {
    throw new MalformedPolicy(`${where}: invalid resource "${name}" (an ARN or "*")`);
  }
}

function parseCondition(raw: unknown, where: string): ConditionBlock {
  if (!isObject(raw)) throw new MalformedPolicy(`${where} must be an object`);
  const block: ConditionBlock = {};
  for (const [operator, entries] of Object.entries(raw)) {
    if (!isObject(entries)) {
      throw new MalformedPolicy(`${where}: ${operator} must map condition keys to values`);
    }
    const keys: Record<string, string[]> = {};
    for (const [key, value] of Object.entries(entries)) {
      if (key === "") throw new MalformedPolicy(`${where}: empty condition key`);
      keys[key] = conditionValues(value, `${where}: ${operator} ${key}`);
    }
    block[operator] = keys;
  }
  return block;
}

/** Condition values: strings, numbers and booleans (as JSON writes them), one or a list. */
function conditionValues(raw: unknown, where: string): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((v) => {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new MalformedPolicy(`${where}: values must be strings, numbers or booleans`);
  });
}

function stringList(raw: unknown, where: string): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw new MalformedPolicy(`${where} must not be empty`);
  for (const v of list) {
    if (typeof v !== "string" || v === "") {
      throw new MalformedPolicy(`${where} must be a non-empty string or a list of them`);
    }
  }
  return list as string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
