# Flashstor: one compiled binary on a slim Debian with ISA-L, run as a non-root user.
#
#   docker build -t flashstor .
#   docker run -p 9000:9000 \
#     -v /mnt/disk1/flashstor:/data1 -v /mnt/disk2/flashstor:/data2 \
#     -v /mnt/disk3/flashstor:/data3 -v /mnt/disk4/flashstor:/data4 \
#     -e FLASHSTOR_ROOT_USER=admin -e FLASHSTOR_ROOT_PASSWORD=change-me-now flashstor
#
# The four drives (2 data + 2 parity) are four volumes: mount one disk on each and any two
# disks may fail. Left unmounted, Docker makes four anonymous volumes on one host disk, which
# protect against bitrot only, not against losing that disk.
#
# The build needs network: npm (deno, the npm packages main.ts imports), apt (libisal2 …) and
# dl.deno.land, where `deno compile` fetches denort, Deno's runtime for compiled binaries.

# --- Stage 1: build the binary -------------------------------------------------------------
FROM node:20-bookworm-slim AS build
# The libraries the server binds are installed here too: the permissions baked into the binary
# name the ones found (scripts/permissions.sh). libipsec-mb1 exists for amd64 only.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates libisal2 libssl3 \
    $([ "$(dpkg --print-architecture)" = amd64 ] && echo libipsec-mb1) \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Deno first, so that code changes do not re-download it. No npm packages yet: scripts/compile
# fetches those main.ts imports, never deno.json's test and benchmark clients.
COPY deno.json deno.lock ./
COPY scripts/ scripts/
RUN bash scripts/setup --server
COPY main.ts ./
COPY ffi/ ffi/
COPY src/ src/
# The permissions baked into the binary (scripts/permissions.sh) are scoped to the image's
# paths: read+write the four drives, read /etc/flashstor/certs (revoked after loading),
# libisal, libc, libcrypto and (amd64) libIPSec_MB.
ENV FLASHSTOR_DATA_PATHS=/data1,/data2,/data3,/data4 \
  FLASHSTOR_CONFIG_PATHS=/etc/flashstor/certs
RUN bash scripts/compile /out/flashstor

# --- Stage 2: runtime ----------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
  && apt-get install -y --no-install-recommends libisal2 libssl3 \
    $([ "$(dpkg --print-architecture)" = amd64 ] && echo libipsec-mb1) \
  && rm -rf /var/lib/apt/lists/* \
  && groupadd --system --gid 10001 flashstor \
  && useradd --system --uid 10001 --gid flashstor --home-dir /nonexistent \
    --shell /usr/sbin/nologin flashstor \
  && mkdir -p /data1 /data2 /data3 /data4 /etc/flashstor/certs \
  && chown flashstor:flashstor /data1 /data2 /data3 /data4 \
  && chown root:flashstor /etc/flashstor/certs \
  && chmod 0750 /etc/flashstor/certs
COPY --from=build /out/flashstor /usr/local/bin/flashstor
USER flashstor:flashstor
VOLUME ["/data1", "/data2", "/data3", "/data4"]
EXPOSE 9000
# The slim image has no curl: the binary probes its own live endpoint (src/observe/health-probe.ts).
# With TLS (certs mounted at /etc/flashstor/certs) override it with --url https://….
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/flashstor", "healthcheck", "--url", "http://127.0.0.1:9000/flashstor/health/live"]
ENTRYPOINT ["/usr/local/bin/flashstor"]
CMD ["server", "--address", ":9000", "--certs-dir", "/etc/flashstor/certs", "/data{1...4}"]
