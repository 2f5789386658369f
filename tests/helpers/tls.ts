/** Self-signed certificates for TLS tests, made by openssl (skipped where it is absent). */

export async function hasOpenssl(): Promise<boolean> {
  try {
    return (await new Deno.Command("openssl", { args: ["version"], stdout: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

/** A self-signed end-entity (not CA) certificate for 127.0.0.1, written to the two paths. */
export async function selfSignedCert(
  certPath: string,
  keyPath: string,
  name: string,
): Promise<{ cert: string; key: string }> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", `/CN=${name}`],
      ...["-keyout", keyPath, "-out", certPath],
      ...["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ...["-addext", "basicConstraints=critical,CA:FALSE"],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`openssl failed: ${new TextDecoder().decode(stderr)}`);
  return { cert: await Deno.readTextFile(certPath), key: await Deno.readTextFile(keyPath) };
}
