#!/usr/bin/env bash
# Installs everything cellblock needs on a Debian/Ubuntu host, as root: system
# packages, node modules (which builds the native launcher), and the images.
# Idempotent: a second run only checks (and rebuilds the launcher, a second).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "cellblock: run this as root (it installs packages and runs sandboxes)" >&2
  exit 1
fi

# zstd, xz-utils: importing .tar.zst/.tar.xz images and zstd layers. skopeo,
# docker-registry, apache2-utils (htpasswd): the image pull tests' local registry.
packages=(gcc libc6-dev libseccomp2 redis-server busybox-static mmdebstrap tar zstd xz-utils skopeo docker-registry apache2-utils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "cellblock: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "cellblock: Node.js 20 or newer is required" >&2
  exit 1
fi

# npm ci wipes node_modules: only when the lock file changed since the last one.
stamp=node_modules/.cellblock-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
else
  node scripts/build-native.mjs
  node scripts/build-js.mjs
fi
bin/cellblock image build busybox
bin/cellblock image build toolchain
