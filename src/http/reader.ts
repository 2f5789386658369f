/**
 * Buffered reads from one connection: request heads and chunk framing come from a small,
 * growable buffer; body bytes are copied out of it or read straight from the socket, so a
 * body is never buffered whole and the next pipelined request is never over-read.
 */

import { HttpError } from "./errors.ts";

const CR = 13;
const LF = 10;
// Most request heads (SigV4 included) fit in 4 KiB; the buffer doubles up to the head limit.
const INITIAL_BUFFER = 4 * 1024;
/** Largest single socket read for body bytes. */
export const BODY_READ_SIZE = 128 * 1024;

export class ConnReader {
  buf = new Uint8Array(INITIAL_BUFFER);
  start = 0;
  end = 0;
  eof = false;
  /** Body-rate metering: time spent waiting on body reads and bytes they returned. */
  meter = false;
  private scratch?: Uint8Array;
  private waitSince = 0;
  private waitMs = 0;
  private meteredBytes = 0;

  constructor(private readonly conn: Deno.Conn, private readonly maxBuffer: number) {}

  get buffered(): number {
    return this.end - this.start;
  }

  /** Reads more bytes into the buffer; returns false at end of stream. */
  async fill(): Promise<boolean> {
    if (this.eof) return false;
    if (this.end === this.buf.length) this.makeRoom();
    const n = await this.timedRead(this.buf.subarray(this.end));
    if (n === null) {
      this.eof = true;
      return false;
    }
    this.end += n;
    return true;
  }

  private makeRoom(): void {
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      if (this.end < this.buf.length) return;
    }
    if (this.buf.length >= this.maxBuffer) throw new HttpError(431, "request head too large");
    const grown = new Uint8Array(Math.min(this.buf.length * 2, this.maxBuffer));
    grown.set(this.buf.subarray(0, this.end));
    this.buf = grown;
  }

  private async timedRead(into: Uint8Array): Promise<number | null> {
    if (!this.meter) return await this.conn.read(into);
    this.waitSince = Date.now();
    try {
      const n = await this.conn.read(into);
      if (n !== null) this.meteredBytes += n;
      return n;
    } finally {
      this.waitMs += Date.now() - this.waitSince;
      this.waitSince = 0;
    }
  }

  /** Starts body-rate accounting afresh for a new request. */
  resetMeter(): void {
    this.waitMs = 0;
    this.meteredBytes = 0;
  }

  /** True when the body read in progress has waited longer than `ms` for a byte. */
  stalled(now: number, ms: number): boolean {
    return this.waitSince !== 0 && now - this.waitSince > ms;
  }

  /**
   * True when, over a window of at least `windowMs` spent waiting for body bytes, the client
   * delivered fewer than `minRate` bytes per second. Time the handler spends not reading does
   * not count against the client.
   */
  tooSlow(now: number, minRate: number, windowMs: number): boolean {
    const waited = this.waitMs + (this.waitSince ? now - this.waitSince : 0);
    if (waited < windowMs) return false;
    const slow = this.meteredBytes * 1000 < minRate * waited;
    this.waitMs = 0;
    this.meteredBytes = 0;
    if (this.waitSince) this.waitSince = now;
    return slow;
  }

  /**
   * Waits for a complete request head and returns its bounds [start, end) without the final
   * empty line, consuming it. Returns null on a clean end of stream before any byte. A bare LF
   * is refused as soon as it is seen; `onFirstByte` runs once bytes of the head exist.
   */
  async readHead(maxLines: number, onFirstByte: () => void): Promise<[number, number] | null> {
    let lineStart = this.start;
    let lines = 0;
    let announced = false;
    for (;;) {
      // Leading empty lines before a request line are tolerated (RFC 9112 §2.2).
      while (lines === 0 && this.end - lineStart >= 2 && this.buf[lineStart] === CR) {
        if (this.buf[lineStart + 1] !== LF) throw new HttpError(400, "bare CR");
        lineStart += 2;
        this.start = lineStart;
      }
      if (!announced && this.end > this.start) {
        announced = true;
        onFirstByte();
      }
      let lf = this.buf.indexOf(LF, lineStart);
      while (lf !== -1 && lf < this.end) {
        if (lf === lineStart || this.buf[lf - 1] !== CR) throw new HttpError(400, "bare LF");
        if (lf === lineStart + 1) {
          const head: [number, number] = [this.start, lineStart - 2];
          this.start = lf + 1;
          return head;
        }
        // The request line plus at most maxLines fields.
        if (++lines > maxLines + 1) throw new HttpError(431, "too many header fields");
        lineStart = lf + 1;
        lf = this.buf.indexOf(LF, lineStart);
      }
      const offset = this.start;
      if (!await this.fill()) {
        if (this.start === this.end && lines === 0) return null;
        throw new HttpError(400, "connection closed inside the request head");
      }
      lineStart -= offset - this.start;
    }
  }

  /** Reads one CRLF-terminated line of at most `limit` bytes (chunk framing, trailers). */
  async readLine(limit: number): Promise<Uint8Array> {
    let scanned = this.start;
    for (;;) {
      const lf = this.buf.indexOf(LF, scanned);
      if (lf !== -1 && lf < this.end) {
        if (lf === this.start || this.buf[lf - 1] !== CR) throw new HttpError(400, "bare LF");
        if (lf - this.start - 1 > limit) throw new HttpError(400, "line too long");
        const line = this.buf.subarray(this.start, lf - 1);
        this.start = lf + 1;
        return line;
      }
      if (this.end - this.start > limit + 1) throw new HttpError(400, "line too long");
      scanned = this.end;
      const offset = this.start;
      if (!await this.fill()) throw new HttpError(400, "connection closed inside the body");
      scanned -= offset - this.start;
    }
  }

  /**
   * Reads up to `max` body bytes into a fresh array: buffered bytes first, then one socket
   * read of at most `max` (so nothing past the body is consumed). Null at end of stream.
   */
  async readBody(max: number): Promise<Uint8Array | null> {
    if (this.end > this.start) {
      const n = Math.min(max, this.end - this.start);
      const out = this.buf.slice(this.start, this.start + n);
      this.start += n;
      return out;
    }
    if (this.eof) return null;
    // One scratch buffer per connection, copied out, so a short read does not pin a big array.
    this.scratch ??= new Uint8Array(BODY_READ_SIZE);
    const n = await this.timedRead(this.scratch.subarray(0, Math.min(max, BODY_READ_SIZE)));
    if (n === null) {
      this.eof = true;
      return null;
    }
    return this.scratch.slice(0, n);
  }
}
