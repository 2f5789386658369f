/**
 * Request dates and credential scopes ("<key>/<date>/<region>/<service>/aws4_request"), shared by the
 * header, presigned-query and POST-policy checks, which differ only in the error they report.
 */
import type { AuthError } from "./errors.ts";

/** Builds the error for a malformed signature field; each signature carrier has its own code. */
export type Malformed = (message: string) => AuthError;

export interface CredentialScope {
  accessKey: string;
  scopeDate: string;
  region: string;
  service: string;
  terminator: string;
}

/** "20130524T000000Z" → Date, or undefined. */
export function parseAmzDate(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

/** The last date formatted: requests of one second share it, and each formats it twice. */
let lastFormatted = { time: NaN, text: "" };

export function formatAmzDate(date: Date): string {
  const time = date.getTime();
  if (time !== lastFormatted.time) {
    lastFormatted = { time, text: date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "") };
  }
  return lastFormatted.text;
}

export function parseCredential(credential: string, malformed: Malformed): CredentialScope {
  // The access key is everything before the last four fields.
  const parts = credential.split("/");
  if (parts.length < 5) {
    throw malformed(`the Credential '${credential}' is not <key>/<date>/<region>/s3/aws4_request.`);
  }
  const [scopeDate, region, service, terminator] = parts.slice(-4);
  return { accessKey: parts.slice(0, -4).join("/"), scopeDate, region, service, terminator };
}

/** The services whose requests this server authenticates; IAM and STS are global services. */
export type Service = "s3" | "iam" | "sts";
const GLOBAL_SERVICES: readonly string[] = ["iam", "sts"];
/** The region global services are signed for, wherever the server is. */
const GLOBAL_REGION = "us-east-1";

/**
 * The scope must name `service`, the day of the request's date, and a region this server accepts:
 * any when `region` is undefined (no region configured, as MinIO), else `region`, and for the
 * global services also us-east-1, the region their SDKs sign for.
 */
export function checkScope(
  scope: CredentialScope,
  date: Date,
  region: string | undefined,
  service: Service,
  malformed: Malformed,
): void {
  if (scope.terminator !== "aws4_request") {
    throw malformed(`the Credential must end in aws4_request, not '${scope.terminator}'.`);
  }
  if (scope.service !== service) {
    throw malformed(`incorrect service '${scope.service}'. This endpoint belongs to '${service}'.`);
  }
  // s3cmd signs with "US", the legacy name of us-east-1, as MinIO accepts.
  const scopeRegion = scope.region === "US" ? GLOBAL_REGION : scope.region;
  const accepted = scopeRegion === region ||
    (GLOBAL_SERVICES.includes(service) && scopeRegion === GLOBAL_REGION);
  if (region !== undefined && !accepted) {
    const error = malformed(`the region '${scope.region}' is wrong; expecting '${region}'`);
    error.extra.Region = region;
    throw error;
  }
  if (scope.scopeDate !== formatAmzDate(date).slice(0, 8)) {
    throw malformed("the credential date is not the same as the request date.");
  }
}
