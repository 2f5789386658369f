/**
 * Start-up reads and writes of the deployment's records (metrics token, key service, IAM) need
 * a quorum of drives; while a cluster's nodes start together some drives are still being
 * formatted by their own node and come online seconds later. Such a step is retried until
 * the quorum is there instead of ending the start.
 */
import { InsufficientReadQuorum, InsufficientWriteQuorum } from "./errors.ts";

const RETRY_MS = 500;

/** `step()`, retried while it fails for want of a drive quorum, for at most `limitMs`. */
export async function whenQuorum<T>(
  what: string,
  step: () => Promise<T>,
  limitMs = 120_000,
): Promise<T> {
  const deadline = performance.now() + limitMs;
  for (let told = false;; told = true) {
    try {
      return await step();
    } catch (err) {
      const quorum = err instanceof InsufficientReadQuorum ||
        err instanceof InsufficientWriteQuorum;
      if (!quorum || performance.now() > deadline) throw err;
      if (!told) console.log(`flashstor: ${what}: waiting for drives (${err.message})`);
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}
