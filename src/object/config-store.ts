/**
 * Small server records (IAM entities, bucket metadata) kept as objects of the system volume
 * under `config/records/`, so they get what every object gets: erasure coding over the set
 * chosen by name, quorum reads and writes, bitrot-checked shards, and healing of the drives a
 * read found lacking. A write is one object commit (renameData on each drive): readers see the
 * old record or the new one. `config/` also holds plain files (metrics-token,
 * bucket-usage.json) that the records' directory cannot collide with.
 */
import { SYSTEM_VOLUME } from "../storage/api.ts";
import type { ErasureSet } from "./erasure-set.ts";
import { ConditionalRequestConflict, ObjectNotFound, PreconditionFailed } from "./errors.ts";
import type { ConfigStore, WritePreconditions } from "./layer.ts";
import { listObjects } from "./list.ts";
import { checkObjectName } from "./names.ts";
import { deleteObject } from "./versions.ts";

/** Where records live in the system volume; a record path is relative to it. */
export const CONFIG_RECORDS = "config/records/";
const LIST_PAGE = 1000;

export class ConfigRecords implements ConfigStore {
  constructor(
    private readonly sets: ErasureSet[],
    private readonly setOf: (object: string) => ErasureSet,
  ) {}

  async readConfig(path: string): Promise<Uint8Array | undefined> {
    const object = recordObject(path);
    try {
      const { body } = await this.setOf(object).getObject(SYSTEM_VOLUME, object);
      return new Uint8Array(await new Response(body).arrayBuffer());
    } catch (err) {
      if (err instanceof ObjectNotFound) return undefined;
      throw err;
    }
  }

  async writeConfig(path: string, data: Uint8Array): Promise<void> {
    await this.#put(path, data);
  }

  async createConfig(path: string, data: Uint8Array): Promise<Uint8Array> {
    try {
      await this.#put(path, data, { ifNoneMatch: "*" });
      return data;
    } catch (err) {
      if (!(err instanceof PreconditionFailed || err instanceof ConditionalRequestConflict)) {
        throw err;
      }
      const existing = await this.readConfig(path);
      if (existing === undefined) throw err;
      return existing;
    }
  }

  async #put(path: string, data: Uint8Array, preconditions?: WritePreconditions): Promise<void> {
    const object = recordObject(path);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(data);
        controller.close();
      },
    });
    await this.setOf(object).putObject(SYSTEM_VOLUME, object, body, {
      size: data.byteLength,
      metadata: {},
      preconditions,
    });
  }

  async deleteConfig(path: string): Promise<void> {
    const object = recordObject(path);
    await deleteObject(this.setOf(object), SYSTEM_VOLUME, object, {});
  }

  async listConfig(prefix: string): Promise<string[]> {
    const paths: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const page = await listObjects(this.sets, SYSTEM_VOLUME, {
        prefix: CONFIG_RECORDS + prefix,
        marker,
        maxKeys: LIST_PAGE,
      });
      for (const o of page.objects) paths.push(o.name.slice(CONFIG_RECORDS.length));
      if (!page.isTruncated || page.nextMarker === undefined) return paths;
      marker = page.nextMarker;
    }
  }
}

/** Whether a system-volume object is a config record (the heal queue heals those too). */
export function isConfigRecord(object: string): boolean {
  return object.startsWith(CONFIG_RECORDS);
}

/** The system-volume object of a record; a path that could not be an object key is refused. */
function recordObject(path: string): string {
  const object = CONFIG_RECORDS + path;
  checkObjectName(object);
  if (path === "" || path.endsWith("/")) throw new RangeError(`bad config record path ${path}`);
  return object;
}
