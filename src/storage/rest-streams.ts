/**
 * The streamed calls of a peer's drive (rest-storage.ts): a shard file written on the peer
 * and a walk of the peer's volume, both in the frames of storage-wire.ts.
 */
import type { FileWriter, WalkEntry } from "./api.ts";
import type { PeerCallOptions, PeerUpload } from "../cluster/internode-client.ts";
import {
  Frame,
  frame,
  frameHead,
  FrameReader,
  parseEntry,
  parseErrorFrame,
  WireFormatError,
} from "../cluster/storage-wire.ts";
import type { RemoteDrive } from "./rest-storage.ts";

/**
 * A shard file written on the peer: each write is a DATA frame of the request body, sent
 * once the connection took it (backpressure; the caller may then reuse its buffer), close an
 * END frame and the peer's answer once it fsynced, abort an ABORT frame and the answer once
 * it dropped the file — or, if the peer does not answer in time, the request cut (the peer
 * drops a file whose write did not end). An answer that comes early is the peer's error: the
 * next write or close throws it.
 */
export class RemoteFileWriter implements FileWriter {
  readonly #outcome: Promise<Error | undefined>;
  #failure?: Error;
  #finished = false;

  constructor(
    private readonly drive: RemoteDrive,
    private readonly upload: PeerUpload,
    frames: FrameReader,
  ) {
    this.#outcome = (async () => {
      let failure: Error | undefined;
      try {
        const last = await frames.next();
        failure = last?.kind === Frame.END
          ? undefined
          : last?.kind === Frame.ERROR
          ? parseErrorFrame(last.payload)
          : new WireFormatError(`${drive.endpoint}: shard write answered without an outcome`);
        // Read to the answer's end, so that its connection can serve the next call.
        if (!failure) await frames.next();
      } catch (err) {
        failure ??= drive.typed(err) as Error;
      }
      this.#failure = failure;
      return failure;
    })();
  }

  async #send(...parts: Uint8Array[]): Promise<void> {
    if (this.#failure) throw this.#failure;
    try {
      await Promise.race([
        this.upload.send(...parts),
        this.#outcome.then((failure) => {
          throw failure ?? new WireFormatError(`${this.drive.endpoint}: write after the end`);
        }),
      ]);
    } catch (err) {
      // A peer that failed the write answers why and closes: its answer, not the broken pipe.
      // A send fails only with the connection closed, so the answer is near or known lost.
      throw await this.#outcome ?? this.drive.typed(err);
    }
  }

  write(data: Uint8Array): Promise<void> {
    return this.#send(frameHead(Frame.DATA, data.byteLength), data);
  }

  async close(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    try {
      await this.#send(frame(Frame.END));
      await this.upload.end();
    } catch (err) {
      this.upload.abort();
      throw await this.#outcome ?? this.drive.typed(err);
    }
    const failure = await this.#outcome;
    if (failure) throw failure;
  }

  async abort(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        (async () => {
          await this.upload.send(frame(Frame.ABORT));
          await this.upload.end();
          await this.#outcome;
        })(),
        new Promise((resolve) => timer = setTimeout(resolve, this.drive.timeoutMs)),
      ]);
    } catch {
      // The request failed already: the peer drops a file whose write did not end.
    } finally {
      clearTimeout(timer);
      this.upload.abort();
    }
  }
}

/** A walk of a peer's volume: entries read from the answer's frames as the caller asks. */
export class RemoteWalk implements AsyncIterator<WalkEntry> {
  #frames?: FrameReader;
  #abort?: AbortController;
  #done = false;

  constructor(
    private readonly drive: RemoteDrive,
    private readonly query: PeerCallOptions["query"],
    private readonly signal?: AbortSignal,
  ) {}

  async next(): Promise<IteratorResult<WalkEntry>> {
    if (this.#done) return { done: true, value: undefined };
    try {
      if (!this.#frames) {
        const call = await this.drive.stream("walkDir", this.query, this.signal);
        this.#abort = call.abort;
        this.#frames = new FrameReader(call.body.getReader());
        const first = await this.#frames.next();
        if (first?.kind !== Frame.OPEN) {
          throw new WireFormatError(`${this.drive.endpoint}: walk answered without OPEN`);
        }
      }
      const next = await this.#frames.next();
      if (next?.kind === Frame.ENTRY || next?.kind === Frame.NAME) {
        return { done: false, value: parseEntry(next.kind, next.payload) };
      }
      this.#finish();
      if (next?.kind === Frame.END) return { done: true, value: undefined };
      if (next?.kind === Frame.ERROR) throw parseErrorFrame(next.payload);
      throw new WireFormatError(`${this.drive.endpoint}: walk ended without its end`);
    } catch (err) {
      this.#finish();
      throw this.drive.typed(err, this.signal);
    }
  }

  /** Ends the walk at once, even while a next() waits on the peer (a hung one). */
  return(): Promise<IteratorResult<WalkEntry>> {
    this.#finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  #finish(): void {
    this.#done = true;
    void this.#frames?.cancel();
    this.#abort?.abort();
  }
}
