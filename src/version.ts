/** The version of Flashstor: deno.json's "version" field, its one source. */
import denoConfig from "../deno.json" with { type: "json" };

export const VERSION: string = denoConfig.version;
