/**
 * Typed failures of the object layer. Only s3/errors.ts maps these to S3 codes, so every
 * condition a client can cause has its own class here.
 */

export class ObjectLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class BucketNotFound extends ObjectLayerError {}
export class BucketExists extends ObjectLayerError {}
export class BucketNotEmpty extends ObjectLayerError {}
export class InvalidBucketName extends ObjectLayerError {}
export class ObjectNotFound extends ObjectLayerError {}
/**
 * The version asked for is a delete marker: the current one (no versionId: 404 NoSuchKey) or
 * the one named (405 MethodNotAllowed). Either way S3 answers with x-amz-delete-marker: true.
 */
export class ObjectDeleted extends ObjectNotFound {
  constructor(
    message: string,
    readonly versionId: string,
    readonly named: boolean,
    /** When the marker was written (S3 answers it as Last-Modified). */
    readonly modTime: Date,
  ) {
    super(message);
  }
}
/** The object exists but not the version named. */
export class VersionNotFound extends ObjectLayerError {}
/** A version id that cannot name any version ("null" or one this server generated). */
export class InvalidVersionId extends ObjectLayerError {}
/** Object lock (retention or legal hold) protects the version from removal or overwrite. */
export class ObjectLocked extends ObjectLayerError {}
export class InvalidObjectName extends ObjectLayerError {}
/** The key is longer than 1024 bytes of UTF-8, or one of its segments than 255. */
export class ObjectNameTooLong extends ObjectLayerError {}
export class InvalidRange extends ObjectLayerError {
  constructor(message: string, readonly objectSize: number) {
    super(message);
  }
}
export class NoSuchUpload extends ObjectLayerError {}
/** CompleteMultipartUpload named a part that was not uploaded or whose ETag differs. */
export class InvalidPart extends ObjectLayerError {}
export class InvalidPartOrder extends ObjectLayerError {}
/** A part other than the last is smaller than the 5 MiB minimum. */
export class EntityTooSmall extends ObjectLayerError {}
export class EntityTooLarge extends ObjectLayerError {}
/** The body was shorter or longer than the size the request announced. */
export class IncompleteBody extends ObjectLayerError {}
/** A precondition such as If-Match failed (raised by callers too, defined here for one mapping). */
export class PreconditionFailed extends ObjectLayerError {}
/** A conditional write's precondition held when it began but not at its commit. */
export class ConditionalRequestConflict extends ObjectLayerError {}
/** Fewer drives answered than a read needs; the object may still be intact elsewhere. */
export class InsufficientReadQuorum extends ObjectLayerError {}
/** Fewer drives than the write quorum took the write; it was rolled back. */
export class InsufficientWriteQuorum extends ObjectLayerError {}
/** Too few drives took the write because too many are full (at their free-space reserve). */
export class StorageFull extends InsufficientWriteQuorum {}
/** Too many heal tasks run already to start another. */
export class TooManyHeals extends ObjectLayerError {}
/** A namespace lock was not granted in time (held elsewhere, or too few lock servers answer). */
export class LockTimeout extends ObjectLayerError {}
