# cellblock worker image.
#
#   docker build -t cellblock .
#   docker compose up -d            # see docker-compose.yml for the privileges it runs with
#
# Debian 12 ships Node.js 18, too old, so the base is the official node:20 image on
# Debian 12 (bookworm); everything else comes from Debian's apt and the npm registry.
# The worker must run as root with extra privileges: see docs/deployment.md.

# --- build: node_modules and the C launcher (the compiler stays in this stage) ---
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libseccomp2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cellblock
COPY package.json package-lock.json ./
COPY scripts/build-native.mjs scripts/
COPY native/ native/
# Runs the package's install script, which compiles native/ into native/build/.
RUN npm ci --omit=dev --no-audit --no-fund

# --- the worker ---
FROM node:20-bookworm-slim
# libseccomp2: jobs' seccomp filters are compiled with it (through koffi) at run time.
# busybox-static, tar: the busybox image recipe. mmdebstrap (+ ca-certificates): the
# toolchain image recipe, built on demand (`cellblock image build toolchain`).
# zstd, xz-utils: importing and pulling zstd/xz-compressed images. mount: the entry
# point's cgroup remount.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libseccomp2 busybox-static tar mmdebstrap ca-certificates zstd xz-utils mount \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cellblock
COPY --from=build /opt/cellblock/node_modules/ node_modules/
COPY --from=build /opt/cellblock/native/build/ native/build/
COPY . .
# The busybox image's tarball is built now (0.3 s, no privileges); the entry point
# imports it into the state directory at start-up (a no-op once it is there). The
# throwaway state directory only serves this build step.
RUN bin/cellblock image build busybox --state-dir /tmp/cellblock-build --log-level warn \
 && rm -rf /tmp/cellblock-build

# Images, job directories and uid claims. It must be a volume: extracted images are
# mounted idmapped, which needs the host's own filesystem (ext4, xfs, btrfs), not the
# container's overlay root; and it must belong to this one worker container alone.
VOLUME ["/var/lib/cellblock"]
ENV CELLBLOCK_METRICS_HOST=0.0.0.0 \
    CELLBLOCK_METRICS_PORT=9464
EXPOSE 9464
ENTRYPOINT ["/opt/cellblock/deploy/docker-entrypoint.sh"]
CMD ["worker"]
