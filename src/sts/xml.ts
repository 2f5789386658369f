/** STS's `<Credentials>` element: what AssumeRole and GetSessionToken answer alike. */
import type { XmlFields } from "../iam/query-protocol.ts";
import type { Session } from "./tokens.ts";

/** ISO 8601 in whole seconds, as STS writes Expiration. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function credentialsXml(issued: Session & { token: string }): XmlFields {
  return {
    AccessKeyId: issued.accessKey,
    SecretAccessKey: issued.secretKey,
    SessionToken: issued.token,
    Expiration: isoSeconds(issued.expiration),
  };
}
