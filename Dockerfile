# FerroCache node image.
#
#   make image                      builds ferrocache:latest (and, where no
#                                   registry is reachable, debian:bookworm-slim
#                                   first: deploy/docker/make-base-image.sh)
#   docker run -p 3000:3000 -v ferro-data:/data ferrocache:latest
#
# Configuration: the usual FERROCACHE_* variables (docs/operations.md), or a
# ferrocache.toml mounted at /etc/ferrocache/ferrocache.toml and passed with
# `--config`. Data lives in the /data volume. `docker stop` sends SIGTERM: the
# node stops accepting, snapshots every namespace and exits 0.
# Everything below works with the legacy builder and with BuildKit alike.

ARG BASE_IMAGE=debian:bookworm-slim

# ---- build stage: the project's own install script, Release, no tests ----
FROM ${BASE_IMAGE} AS build
ARG JOBS=2
WORKDIR /src
COPY deploy/install-deps.sh deploy/install-deps.sh
RUN bash deploy/install-deps.sh --build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFERRO_TESTS=OFF \
      -DFERRO_BENCH_NATIVE_SIMD=OFF \
 && cmake --build /build -j "${JOBS}" --target ferrocache \
 && strip --strip-unneeded /build/ferrocache \
 && /build/ferrocache --help >/dev/null \
 && bash deploy/docker/runtime-packages.sh /build/ferrocache >/build/runtime-packages.txt \
 && cat /build/runtime-packages.txt

# ---- runtime stage: the binary and the shared libraries it links ---------
FROM ${BASE_IMAGE}
# Exactly the packages of the shared libraries the binary links (ldd +
# dpkg -S in the build stage: deploy/docker/runtime-packages.sh).
COPY --from=build /build/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -q \
 && xargs -a /tmp/runtime-packages.txt env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /tmp/runtime-packages.txt
RUN groupadd --system --gid 10001 ferrocache \
 && useradd --system --uid 10001 --gid ferrocache --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin ferrocache \
 && mkdir -p /data /etc/ferrocache \
 && chown ferrocache:ferrocache /data
COPY --from=build /build/ferrocache /usr/local/bin/ferrocache
COPY deploy/docker/healthcheck.sh /usr/local/bin/ferrocache-healthcheck

ENV FERROCACHE_DATA_DIR=/data \
    FERROCACHE_PORT=3000 \
    FERROCACHE_BIND_ADDRESS=0.0.0.0
USER ferrocache:ferrocache
WORKDIR /etc/ferrocache
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/ferrocache-healthcheck"]
ENTRYPOINT ["/usr/local/bin/ferrocache"]
