/** s3rver (npm), the peer S3 server of the benchmark, on 127.0.0.1 with its files in DIR. */
import S3rver from "s3rver";

const dir = Deno.args[0];
if (!dir) throw new Error("usage: s3rver-server.ts DIR");
const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: dir });
const { port } = await server.run();
console.log(`s3rver: listening on http://127.0.0.1:${port}`);
Deno.addSignalListener("SIGTERM", async () => {
  await server.close();
  Deno.exit(0);
});
