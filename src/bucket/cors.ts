/** A bucket's CORS rules: the parsed PutBucketCors document (issue 13, helper E). */

export interface CorsConfiguration {
  rules: unknown[];
}
