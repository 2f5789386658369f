/**
 * S3 requests this process is serving, counted from arrival until their response body has
 * been sent: background work (the scanner) pauses while any are in flight, or ended within
 * RECENT_MS — clients leave gaps between requests, and a server between two requests of a
 * steady stream is not idle. One count per process, as the scanner is.
 */
const RECENT_MS = 100;

let inFlight = 0;
let lastEnded = -Infinity;

export const requestLoad = {
  /** Counts a request in; the function returned counts it out (once, however often called). */
  begin(): () => void {
    inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      inFlight--;
      lastEnded = performance.now();
    };
  },
  busy(): boolean {
    return inFlight > 0 || performance.now() - lastEnded < RECENT_MS;
  },
};
