/**
 * The authorizer of S3 requests: root is always allowed; any other principal is allowed what
 * AWS's evaluation (policy/decide.ts) allows over its identity policies (IAM store), its session
 * policies (temporary credentials), the bucket's policy and ACLs (bucket-metadata store), and
 * the object's ACL. Decisions are cached under the sum of the IAM and bucket-metadata epochs,
 * so any change of either takes effect on the next request.
 */
import type { BucketMetadata, BucketMetadataStore } from "../bucket/metadata-store.ts";
import { aclResourceOf, aclVerdict } from "./acl.ts";
import { DecisionCache } from "./policy/cache.ts";
import { decide, type PolicySources } from "./policy/decide.ts";
import type { PolicyDocument } from "./policy/document.ts";
import type { RequestFacts } from "./policy/evaluate.ts";
import { parsePolicy } from "./policy/parse.ts";
import type { Principal } from "./principal.ts";
import { isPublicPolicy } from "./public-policy.ts";
import { readsExistingObjectTags, withExistingObjectTags } from "./request-conditions.ts";
import { TAGGING } from "../object/object-lock.ts";

/** What the authorizer needs of the IAM store (IamStore). */
export interface Identities {
  /** Bumped by every IAM change. */
  readonly epoch: number;
  /** A user's (inline, attached, its groups') or an assumed role's policies. */
  identityPolicies(principal: Principal): PolicyDocument[];
}

/**
 * The stored metadata of an object's version (absent: its current one), where its ACL and tags
 * are kept (undefined: no such object).
 */
export type ObjectMetadataLookup = (
  bucket: string,
  key: string,
  versionId?: string,
) => Promise<Readonly<Record<string, string>> | undefined>;

/** The ARN of a bucket, or of an object in it. */
function s3Arn(bucket: string, key?: string): string {
  return key === undefined ? `arn:aws:s3:::${bucket}` : `arn:aws:s3:::${bucket}/${key}`;
}

/** A bucket policy as the authorizer uses it: parsed once, with its public-ness. */
interface BucketPolicy {
  document: PolicyDocument;
  isPublic: boolean;
}

export class Authorizer {
  readonly #identities: Identities;
  readonly #buckets: BucketMetadataStore;
  readonly #objectMetadata: ObjectMetadataLookup | undefined;
  readonly #cache = new DecisionCache();
  /** Parsed bucket policies, by the metadata record holding them (records are immutable). */
  readonly #policies = new WeakMap<Readonly<BucketMetadata>, BucketPolicy | null>();

  constructor(
    identities: Identities,
    buckets: BucketMetadataStore,
    objectMetadata?: ObjectMetadataLookup,
  ) {
    this.#identities = identities;
    this.#buckets = buckets;
    this.#objectMetadata = objectMetadata;
  }

  /**
   * Whether `principal` may perform `action` on the bucket (`key` undefined), or on the object,
   * or — `bucket` "" — on the account (`arn:aws:s3:::*`, ListAllMyBuckets). A cached decision
   * is answered without awaiting anything.
   */
  allowed(
    principal: Principal,
    conditions: ReadonlyMap<string, readonly string[]>,
    action: string,
    bucket: string,
    key?: string,
  ): boolean | Promise<boolean> {
    if (principal.kind === "root") return true;
    const facts: RequestFacts = {
      principal,
      action,
      resource: bucket === "" ? "arn:aws:s3:::*" : s3Arn(bucket, key),
      conditions,
    };
    const epoch = this.#epoch();
    const cached = this.#cache.lookup(epoch, principal.accessKey, facts);
    if (cached !== undefined) return cached;
    const metadata = bucket === "" ? {} : this.#buckets.cached(bucket);
    return metadata !== undefined
      ? this.#evaluate(epoch, facts, metadata, bucket, key)
      : this.#buckets.get(bucket).then((m) => this.#evaluate(epoch, facts, m, bucket, key));
  }

  /**
   * Whether `principal` may perform `action` on a resource outside S3 (`arn`: a KMS key): its
   * identity policies and any session policies decide alone, as no bucket policy or ACL names it.
   */
  allowedOn(
    principal: Principal,
    conditions: ReadonlyMap<string, readonly string[]>,
    action: string,
    arn: string,
  ): boolean {
    if (principal.kind === "root") return true;
    const facts: RequestFacts = { principal, action, resource: arn, conditions };
    const epoch = this.#epoch();
    const cached = this.#cache.lookup(epoch, principal.accessKey, facts);
    if (cached !== undefined) return cached;
    const identity = principal.kind === "anonymous"
      ? []
      : this.#identities.identityPolicies(principal);
    const evaluation = decide({ identity, session: principal.sessionPolicies }, facts);
    const allowed = evaluation.verdict === "allow";
    this.#cache.remember(epoch, principal.accessKey, facts, evaluation, allowed);
    return allowed;
  }

  #epoch(): number {
    return this.#identities.epoch + this.#buckets.epoch;
  }

  #evaluate(
    epoch: number,
    facts: RequestFacts,
    metadata: Readonly<BucketMetadata>,
    bucket: string,
    key: string | undefined,
  ): boolean | Promise<boolean> {
    const principal = facts.principal;
    const policy = this.#policyOf(metadata);
    // RestrictPublicBuckets: a public policy grants nothing to callers outside the account.
    if (
      policy?.isPublic && principal.kind === "anonymous" &&
      metadata.publicAccessBlock?.restrictPublicBuckets
    ) return false;
    const aclOf = aclResourceOf(facts.action);
    const sources: PolicySources = {
      identity: principal.kind === "anonymous" ? [] : this.#identities.identityPolicies(principal),
      session: principal.sessionPolicies,
      resource: policy?.document,
      aclAllows: aclOf === "bucket" && aclVerdict(metadata, undefined, principal, facts.action),
    };
    const evaluation = decide(sources, facts);
    // An object's ACL and tags change with no epoch: a decision they could turn is never cached.
    if (
      key !== undefined && this.#objectMetadata !== undefined &&
      (readsExistingObjectTags(evaluation.keysRead) ||
        evaluation.verdict === "none" && aclOf === "object")
    ) return this.#objectAllows(this.#objectMetadata, sources, facts, metadata, bucket, key);
    const allowed = evaluation.verdict === "allow";
    this.#cache.remember(epoch, principal.accessKey, facts, evaluation, allowed);
    return allowed;
  }

  /** The decision with the object's stored tags as condition keys and its ACL's grant. */
  async #objectAllows(
    objectMetadata: ObjectMetadataLookup,
    sources: PolicySources,
    facts: RequestFacts,
    metadata: Readonly<BucketMetadata>,
    bucket: string,
    key: string,
  ): Promise<boolean> {
    // A request naming a version (?versionId=) is judged by that version's ACL and tags.
    const stored = await objectMetadata(bucket, key, facts.conditions.get("s3:versionid")?.[0]);
    const tagged = {
      ...facts,
      conditions: withExistingObjectTags(facts.conditions, stored?.[TAGGING]),
    };
    const verdict = decide(sources, tagged).verdict;
    if (verdict !== "none" || aclResourceOf(facts.action) !== "object") return verdict === "allow";
    if (!aclVerdict(metadata, stored, facts.principal, facts.action)) return false;
    return decide({ ...sources, aclAllows: true }, tagged).verdict === "allow";
  }

  #policyOf(metadata: Readonly<BucketMetadata>): BucketPolicy | undefined {
    if (metadata.policy === undefined) return undefined;
    let policy = this.#policies.get(metadata);
    if (policy === undefined) {
      policy = parsedPolicy(metadata.policy);
      this.#policies.set(metadata, policy);
    }
    return policy ?? undefined;
  }
}

/** A stored policy was checked when it was put; one that no longer parses grants nothing. */
function parsedPolicy(text: string): BucketPolicy | null {
  try {
    const document = parsePolicy(text, "resource");
    return { document, isPublic: isPublicPolicy(document) };
  } catch {
    return null;
  }
}
