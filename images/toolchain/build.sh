#!/bin/bash
# Builds the toolchain image: a minimal Debian (minbase) with gcc, g++, libc6-dev,
# make and python3, without docs, man pages or locales. Package sources are this
# machine's own apt sources (never a host name written here), so a local mirror
# or proxy keeps working. Reproducible for the same mirror state: mmdebstrap
# honours SOURCE_DATE_EPOCH (fixed below unless the caller sets one).
# Usage: build.sh OUT.tar        (env SUITE overrides the host's release codename)
set -euo pipefail
export LC_ALL=C
umask 022

out=${1:?usage: build.sh OUT.tar}

missing() { echo "cellblock: $1 not found; install it with: apt-get install $2" >&2; exit 127; }
command -v mmdebstrap >/dev/null || missing mmdebstrap mmdebstrap

suite=${SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}
[ -n "$suite" ] || { echo "cellblock: cannot tell the Debian release from /etc/os-release; set SUITE=bookworm" >&2; exit 2; }

# mmdebstrap pastes a MIRROR argument that names an existing file into the chroot's
# sources, which is how the host's sources are used without spelling a host here.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -qv '^[[:space:]]*\(#\|$\)' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { echo "cellblock: no apt sources configured on this machine (/etc/apt/sources.list*)" >&2; exit 2; }

# 2025-01-01: any fixed value makes file times (and so the tarball) stable.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}

# mmdebstrap's merged-usr hook makes the /usr symlinks itself and installs
# usr-is-merged; otherwise apt picks usrmerge, which drags in a full perl (~55 MB).
hooks=()
merged_usr=/usr/share/mmdebstrap/hooks/merged-usr
[ -d "$merged_usr" ] && hooks+=(--hook-dir="$merged_usr")

# Left out: docs (but copyrights), man and info pages, translations, and lto-dump
# (32 MB, a debugging tool no compile uses).
trap 'rm -f "$out.tmp"' EXIT
mmdebstrap \
  --variant=minbase \
  --format=tar \
  "${hooks[@]}" \
  --include=gcc,g++,libc6-dev,make,python3 \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --dpkgopt='path-exclude=/usr/share/linda/*' \
  --dpkgopt='path-exclude=/usr/bin/*lto-dump*' \
  --customize-hook='rm -f "$1/etc/resolv.conf"' \
  --customize-hook='echo cellblock > "$1/etc/hostname"' \
  --customize-hook='printf "127.0.0.1 localhost\n" > "$1/etc/hosts"' \
  --customize-hook='echo "box:x:1000:1000:box:/box:/bin/sh" >> "$1/etc/passwd"' \
  --customize-hook='echo "box:x:1000:" >> "$1/etc/group"' \
  --customize-hook='echo "box:*:0:0:99999:7:::" >> "$1/etc/shadow"' \
  --customize-hook='install -d -m 0755 -o 1000 -g 1000 "$1/box"' \
  --customize-hook='chmod 1777 "$1/tmp"' \
  --customize-hook='rm -rf "$1/var/cache/apt"/*.bin "$1/var/cache/debconf"/*-old "$1/var/lib/dpkg"/*-old' \
  "$suite" "$out.tmp" "${sources[@]}"
mv "$out.tmp" "$out"
