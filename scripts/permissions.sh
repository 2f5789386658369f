# shellcheck shell=bash
# The Deno permissions of the Flashstor server, in one place: sourced by scripts/flashstor
# (deno run) and scripts/compile (baked into the binary). Defines the array PERMISSION_FLAGS.
#
#   net          the S3 listener and peers.
#   read, write  the drives (and the audit log file). Drives are command-line arguments, so both
#                stay unscoped unless FLASHSTOR_DATA_PATHS (comma-separated) lists them; then
#                read is also given FLASHSTOR_CONFIG_PATHS (certs dir, as its own entry so that
#                it can be revoked after loading) and /etc/passwd, /etc/group (run user lookup).
#   ffi          libisal.so.2 (erasure code, checksums), libc.so.6 (privilege drop, reads of
#                cached metadata: ffi/cached-read.ts) and libcrypto.so.3 (AES-GCM of encryption
#                at rest, src/crypto/openssl-gcm.ts; without it Web Crypto serves, ~4x slower)
#                and, on x86-64, libIPSec_MB.so.1 (Intel's IPsec Multi-Buffer library: the same
#                cipher ~2x faster than OpenSSL, src/crypto/ipsec-mb-gcm.ts)
#                only, by absolute path: a scoped --allow-ffi
#                matches a dlopen of that exact path (ffi/library.ts libraryCandidates, same
#                order as here). Libraries are opened at startup; ffi is revoked after.
#   env          FLASHSTOR_*, FLASHSTORE_* and HOME (default certs dir), read at startup.
#   sys          statfs only (drives' free space through node:fs).
# Not granted: run, any other env variable or sys kind, other libraries. After startup the
# server revokes env, ffi, the remaining sys kinds and the certs dir (src/security/permissions.ts).

flashstor_library_path() {
  local soname=$1 triple="" dir
  case "$(uname -m)" in
    x86_64) triple=x86_64-linux-gnu ;;
    aarch64 | arm64) triple=aarch64-linux-gnu ;;
  esac
  for dir in ${triple:+/lib/$triple /usr/lib/$triple} /lib64 /usr/lib64 /usr/lib; do
    if [ -e "$dir/$soname" ]; then
      echo "$dir/$soname"
      return 0
    fi
  done
  echo "permissions.sh: $soname not found (run scripts/setup, or apt-get install libisal2)" >&2
  return 1
}

flashstor_permission_flags() {
  local isal libc crypto ipsec ffi read_flag="--allow-read" write_flag="--allow-write"
  isal=$(flashstor_library_path libisal.so.2) || return 1
  libc=$(flashstor_library_path libc.so.6) || return 1
  ffi="$isal,$libc"
  # Optional: the server falls back to Web Crypto without it.
  if crypto=$(flashstor_library_path libcrypto.so.3 2>/dev/null); then ffi="$ffi,$crypto"; fi
  if ipsec=$(flashstor_library_path libIPSec_MB.so.1 2>/dev/null); then ffi="$ffi,$ipsec"; fi
  if [ -n "${FLASHSTOR_DATA_PATHS:-}" ]; then
    read_flag="--allow-read=$FLASHSTOR_DATA_PATHS${FLASHSTOR_CONFIG_PATHS:+,$FLASHSTOR_CONFIG_PATHS},/etc/passwd,/etc/group"
    write_flag="--allow-write=$FLASHSTOR_DATA_PATHS"
  fi
  PERMISSION_FLAGS=(
    --no-prompt
    --allow-net
    "$read_flag"
    "$write_flag"
    "--allow-ffi=$ffi"
    "--allow-env=FLASHSTOR_*,FLASHSTORE_*,HOME"
    --allow-sys=statfs
  )
}

flashstor_permission_flags || return 1 2>/dev/null || exit 1
