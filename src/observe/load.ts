/**
 * S3 requests this process is serving, counted from arrival until their response body has
 * been sent: background work (the scanner) pauses while any are in flight. One count per
 * process, as the scanner is.
 */
let inFlight = 0;

export const requestLoad = {
  /** Counts a request in; the function returned counts it out (once, however often called). */
  begin(): () => void {
    inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      inFlight--;
    };
  },
  busy(): boolean {
    return inFlight > 0;
  },
};
