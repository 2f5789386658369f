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
/** A precondition such as If-Match failed (returned by callers, defined here for one mapping). */
export class PreconditionFailed extends ObjectLayerError {}
/** Fewer drives answered than a read needs; the object may still be intact elsewhere. */
export class InsufficientReadQuorum extends ObjectLayerError {}
/** Fewer drives than the write quorum took the write; it was rolled back. */
export class InsufficientWriteQuorum extends ObjectLayerError {}
/** Too few drives took the write because too many are full (at their free-space reserve). */
export class StorageFull extends InsufficientWriteQuorum {}
/** Too many heal tasks run already to start another. */
export class TooManyHeals extends ObjectLayerError {}
