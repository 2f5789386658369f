/** The raw-disk baseline: the same bytes written to one plain file (fsynced) and read back. */

import { MiB, PATTERN } from "./load.ts";

export async function rawDisk(
  dir: string,
  size: number,
): Promise<{ writeMBps: number; readMBps: number }> {
  const path = `${dir}/raw-${size}`;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const t0 = performance.now();
  try {
    for (let written = 0; written < size;) {
      const chunk = PATTERN.subarray(0, Math.min(PATTERN.byteLength, size - written));
      for (let done = 0; done < chunk.byteLength;) done += await file.write(chunk.subarray(done));
      written += chunk.byteLength;
    }
    await file.sync();
  } finally {
    file.close();
  }
  const writeSeconds = (performance.now() - t0) / 1000;
  const reader = await Deno.open(path);
  const buffer = new Uint8Array(MiB);
  const t1 = performance.now();
  try {
    while ((await reader.read(buffer)) !== null) { /* count nothing: the bytes are known */ }
  } finally {
    reader.close();
  }
  const readSeconds = (performance.now() - t1) / 1000;
  await Deno.remove(path);
  return { writeMBps: size / MiB / writeSeconds, readMBps: size / MiB / readSeconds };
}
