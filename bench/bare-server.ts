/**
 * The runtime's ceiling for a storage server: Deno.serve + plain files, no S3, no erasure
 * code. PUT /bucket/key writes the body to one file and fsyncs it; GET streams the file in
 * 1 MiB reads; HEAD stats; DELETE unlinks. Authentication headers are ignored.
 */

const dir = Deno.args[0];
if (!dir) throw new Error("usage: bare-server.ts DIR");
await Deno.mkdir(dir, { recursive: true });

const CHUNK = 1024 * 1024;
const fileOf = (pathname: string) => `${dir}/${encodeURIComponent(pathname.slice(1))}`;

function fileStream(file: Deno.FsFile, size: number): ReadableStream<Uint8Array> {
  let left = size;
  return new ReadableStream({
    type: "bytes",
    async pull(controller) {
      // Sized to what is left (+1 to see the end), so a small GET does not zero 1 MiB.
      const buffer = new Uint8Array(Math.min(CHUNK, left + 1));
      const n = await file.read(buffer);
      if (n === null) {
        file.close();
        controller.close();
      } else {
        left = Math.max(0, left - n);
        controller.enqueue(buffer.subarray(0, n));
      }
    },
    cancel() {
      file.close();
    },
  });
}

async function handle(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url);
  const path = fileOf(pathname);
  switch (request.method) {
    case "PUT": {
      if (!pathname.slice(1).includes("/")) return new Response(null); // CreateBucket
      const file = await Deno.open(path, { write: true, create: true, truncate: true });
      try {
        if (request.body) {
          for await (const chunk of request.body) {
            for (let done = 0; done < chunk.byteLength;) {
              done += await file.write(chunk.subarray(done));
            }
          }
        }
        await file.sync();
      } finally {
        file.close();
      }
      return new Response(null);
    }
    case "GET": {
      const file = await Deno.open(path).catch(() => undefined);
      if (!file) return new Response("not found", { status: 404 });
      const { size } = await file.stat();
      return new Response(fileStream(file, size), { headers: { "content-length": String(size) } });
    }
    case "HEAD": {
      const info = await Deno.stat(path).catch(() => undefined);
      if (!info) return new Response(null, { status: 404 });
      return new Response(null, { headers: { "content-length": String(info.size) } });
    }
    case "DELETE":
      await Deno.remove(path).catch(() => {});
      return new Response(null, { status: 204 });
  }
  return new Response(null, { status: 405 });
}

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`bare: listening on http://127.0.0.1:${port}`),
}, handle);
