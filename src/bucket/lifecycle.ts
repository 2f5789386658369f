/** A bucket's lifecycle rules: the parsed PutBucketLifecycleConfiguration document (issue 13, helper D). */

export interface LifecycleConfiguration {
  rules: unknown[];
}
