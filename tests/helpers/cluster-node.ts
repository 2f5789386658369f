/**
 * A cluster node process that may never serve S3 (it waits for peers, or is refused by them):
 * started with the cluster's command line, its log read as it comes, without waiting for
 * "listening on" as startServer does.
 */
import { ACCESS_KEY, FLASHSTOR, SECRET_KEY } from "./server.ts";

export interface NodeProcess {
  /** http://127.0.0.1:port */
  endpoint: string;
  output(): string;
  /** Resolves with the first match of `pattern` in the log; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Whether the process is still running. */
  alive(): boolean;
  /** Its exit status; rejects if it still runs after `timeoutMs`. */
  exited(timeoutMs: number): Promise<Deno.CommandStatus>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export function spawnNode(
  drives: string[],
  port: number,
  options: { env?: Record<string, string>; args?: string[] } = {},
): NodeProcess {
  const process = new Deno.Command(FLASHSTOR, {
    args: ["server", "--address", `127.0.0.1:${port}`, ...(options.args ?? []), ...drives],
    env: { FLASHSTOR_ROOT_USER: ACCESS_KEY, FLASHSTOR_ROOT_PASSWORD: SECRET_KEY, ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  let exited = false;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(process.stdout), pump(process.stderr)]);
  const status = process.status.then(async (s) => {
    exited = true;
    await pumps;
    return s;
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    output: () => output,
    alive: () => !exited,
    async waitFor(pattern, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      while (Date.now() < until) {
        const match = pattern.exec(output);
        if (match) return match;
        if (exited) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `${exited ? "node exited" : `no ${pattern} within ${timeoutMs} ms`}; log:\n${output}`,
      );
    },
    async exited(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`still running after ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([status, late]);
      } finally {
        clearTimeout(timer);
      }
    },
    async kill() {
      if (!exited) {
        try {
          process.kill("SIGKILL");
        } catch { /* already gone */ }
      }
      await status;
    },
  };
}
