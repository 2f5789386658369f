/** A bucket's object-lock configuration (issue 13, helper C). */

export interface ObjectLockConfiguration {
  /** Always true: a bucket is created with object lock or never has it. */
  enabled: true;
  defaultRetention?: { mode: "GOVERNANCE" | "COMPLIANCE"; days?: number; years?: number };
}
