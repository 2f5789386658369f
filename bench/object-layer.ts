/**
 * The object layer alone, in this process (no HTTP, no auth): PUT and GET of one large object
 * on a fresh deployment, against writing and reading the same bytes to one plain file.
 */

import { openLocalDrive } from "../src/storage/local-drive.ts";
import { loadOrInitFormat } from "../src/storage/format.ts";
import { Pools } from "../src/object/pools.ts";
import { setLayout } from "../src/cluster/endpoints.ts";
import { MiB, PATTERN } from "./load.ts";

export interface ObjectLayerFigures {
  drives: number;
  shape: string;
  size: number;
  putMBps: number;
  getMBps: number;
}

function patternStream(size: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(PATTERN.byteLength, size - sent);
      controller.enqueue(PATTERN.subarray(0, n));
      sent += n;
      if (sent >= size) controller.close();
    },
  }, { highWaterMark: 0 });
}

export async function measureObjectLayer(
  dir: string,
  driveCount: number,
  size: number,
): Promise<ObjectLayerFigures> {
  const paths = Array.from({ length: driveCount }, (_, i) => `${dir}/ol${driveCount}/d${i + 1}`);
  const layout = setLayout(driveCount);
  const format = await loadOrInitFormat(
    await Promise.all(paths.map((p) => openLocalDrive(p))),
    layout,
  );
  const layer = new Pools(format.sets, {
    parity: layout.parity,
    deploymentId: format.deploymentId,
  });
  try {
    await layer.makeBucket("bench");
    const t0 = performance.now();
    await layer.putObject("bench", "object", patternStream(size), { size, metadata: {} });
    const putSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const { body } = await layer.getObject("bench", "object");
    let read = 0;
    for await (const chunk of body) read += chunk.byteLength;
    const getSeconds = (performance.now() - t1) / 1000;
    if (read !== size) throw new Error(`object layer returned ${read} of ${size} bytes`);
    return {
      drives: driveCount,
      shape: `${driveCount - layout.parity}+${layout.parity}`,
      size,
      putMBps: size / MiB / putSeconds,
      getMBps: size / MiB / getSeconds,
    };
  } finally {
    await layer.close();
    await Deno.remove(`${dir}/ol${driveCount}`, { recursive: true });
  }
}
