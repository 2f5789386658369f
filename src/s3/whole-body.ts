/**
 * Responses whose whole body is already in memory (a small object read in one piece). The app
 * reports them at once, with their length as the bytes sent, instead of wrapping their body in
 * a counting stream and copying the response around it; the HTTP engines send such a body
 * without any stream at all.
 */

const lengths = new WeakMap<Response, number>();

export function wholeBodyResponse(body: Uint8Array<ArrayBuffer>, init: ResponseInit): Response {
  const response = new Response(body, init);
  lengths.set(response, body.byteLength);
  return response;
}

/** The body length of a response made by wholeBodyResponse, else undefined. */
export function wholeBodyLength(response: Response): number | undefined {
  return lengths.get(response);
}
