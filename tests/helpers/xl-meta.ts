/**
 * xl.meta files for storage tests: renameData merges the versions it is given, so what a test
 * commits must parse. A label in each version's metadata tells them apart.
 */
import { decodeXlMeta, encodeXlMeta, type ObjectVersion } from "../../src/storage/xl-meta.ts";

export interface TestVersion {
  versionId?: string;
  /** "" for a delete marker. */
  dataDir?: string;
  modTime?: number;
}

/** An xl.meta of one version (default: the null version in data dir "dd") labelled `label`. */
export function versionMeta(label: string, options: TestVersion = {}): Uint8Array {
  const dataDir = options.dataDir ?? "dd";
  const version: ObjectVersion = {
    versionId: options.versionId ?? "null",
    size: 0,
    modTime: options.modTime ?? Date.now(),
    etag: "",
    metadata: { label },
    erasure: { dataShards: 1, parityShards: 0, blockSize: 1024, index: 1, distribution: [1] },
    dataDir,
    parts: [],
    checksums: [],
    ...(dataDir === "" ? { deleteMarker: true } : {}),
  };
  return encodeXlMeta({ versions: [version] });
}

/** The labels of an xl.meta's versions, newest first. */
export function labels(raw: Uint8Array): string[] {
  return decodeXlMeta(raw).versions.map((v) => v.metadata.label);
}
