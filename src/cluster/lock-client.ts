/**
 * One peer's lock service as this node's locker calls it. Lock operations are tiny and many
 * (every object request takes a lock: a call to each peer, then an unlock), so an HTTP request
 * each would cost more than the work: operations are sent at once while fewer than
 * MAX_IN_FLIGHT requests are on their way to the peer, and otherwise queue and leave together
 * in the next request. An idle node pays one round trip per operation; a busy one amortizes
 * the requests over many operations, with no timer adding latency.
 */
import type { PeerClient } from "./internode-client.ts";
import { type LockAnswer, type LockOp, type LockRequest, MAX_LOCK_BATCH } from "./lock-server.ts";

/** Requests on their way to one peer before operations wait to share the next one. */
const MAX_IN_FLIGHT = 4;
/** Operations waiting for a request; more go unanswered at once (a peer that stopped answering). */
const MAX_QUEUED = MAX_IN_FLIGHT * MAX_LOCK_BATCH;

interface Pending {
  request: LockRequest;
  answer: (granted: boolean | undefined) => void;
}

export class LockClient {
  readonly #queue: Pending[] = [];
  #inFlight = 0;

  /** A request not answered within `giveUpMs` is abandoned (its operations: unanswered). */
  constructor(readonly peer: PeerClient, readonly giveUpMs: number) {}

  /** The peer's answer (granted or found), or undefined when it gave none. Never throws. */
  apply(op: LockOp, resource: string, uid: string): Promise<boolean | undefined> {
    if (this.#queue.length >= MAX_QUEUED) return Promise.resolve(undefined);
    return new Promise((answer) => {
      this.#queue.push({ request: [op, resource, uid], answer });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < MAX_IN_FLIGHT && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_LOCK_BATCH);
      this.#inFlight++;
      void this.#send(batch).finally(() => {
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  async #send(batch: Pending[]): Promise<void> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.giveUpMs);
    let granted: unknown[] = [];
    try {
      const answer = await this.peer.json<LockAnswer>("lock", "apply", {
        method: "POST",
        body: JSON.stringify(batch.map((p) => p.request)),
        headers: { "content-type": "application/json" },
        signal: controller.signal,
      });
      if (Array.isArray(answer.granted)) granted = answer.granted;
    } catch {
      // Unreachable, refused or abandoned: the batch goes unanswered, and so do the operations
      // queued behind it (they would wait for the same silence).
      for (const queued of this.#queue.splice(0)) queued.answer(undefined);
    } finally {
      clearTimeout(timer);
    }
    batch.forEach((p, i) => p.answer(typeof granted[i] === "boolean" ? granted[i] : undefined));
  }
}
