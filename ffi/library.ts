/** Where shared libraries are looked for, shared by every FFI binding. */

const MULTIARCH: Record<string, string> = {
  x86_64: "x86_64-linux-gnu",
  aarch64: "aarch64-linux-gnu",
};

/**
 * Absolute paths to try for a shared library, then the bare soname. A scoped `--allow-ffi=PATH`
 * only matches a dlopen of that exact absolute path, so the absolute candidates come first.
 */
export function libraryCandidates(soname: string): string[] {
  const triple = MULTIARCH[Deno.build.arch];
  const dirs = [
    ...(triple ? [`/lib/${triple}`, `/usr/lib/${triple}`] : []),
    "/lib64",
    "/usr/lib64",
    "/usr/lib",
  ];
  return [...dirs.map((dir) => `${dir}/${soname}`), soname];
}

/**
 * Opens a shared library by its soname from the usual places (once per process: callers keep
 * the result). `missing` turns the last dlopen error into the caller's own, clearer error.
 */
export function openLibrary<S extends Deno.ForeignLibraryInterface>(
  soname: string,
  symbols: S,
  missing: (cause: unknown) => Error,
): Deno.DynamicLibrary<S> {
  let lastError: unknown;
  for (const path of libraryCandidates(soname)) {
    try {
      return Deno.dlopen(path, symbols);
    } catch (err) {
      lastError = err;
    }
  }
  throw missing(lastError);
}
