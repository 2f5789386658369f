/** An access key and its secret, as the IAM store hands them to the signature check. */
export interface Credentials {
  accessKey: string;
  secretKey: string;
}

/** Finds the credentials of an access key; undefined when the key is unknown. */
export type CredentialLookup = (
  accessKey: string,
) => Credentials | undefined | Promise<Credentials | undefined>;
