#!/usr/bin/env bash
# Installs what test/v2/run-in-qemu.mjs needs to boot a cgroup v2 guest, as root, on
# Debian/Ubuntu: QEMU, a distribution kernel with its modules (the guest kernel; the host
# keeps booting its own), static busybox (the guest's init), cpio and mkfs.ext4.
# Idempotent: a second run only checks.
set -euo pipefail
packages=(qemu-system-x86 linux-image-amd64 busybox-static cpio e2fsprogs kmod util-linux)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "cellblock v2 tests: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
