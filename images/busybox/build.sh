#!/bin/bash
# Builds the busybox image: a static busybox, one symlink per applet, and the
# few files a job expects (/etc/passwd, /tmp, /box). Byte-for-byte reproducible
# from the same busybox binary, so the image digest only changes when an input does.
# Usage: build.sh OUT.tar     (env BUSYBOX=path overrides /bin/busybox)
set -euo pipefail
export LC_ALL=C
umask 022

out=${1:?usage: build.sh OUT.tar}
busybox=${BUSYBOX:-/bin/busybox}

missing() { echo "cellblock: $1 not found; install it with: apt-get install $2" >&2; exit 127; }
[ -x "$busybox" ] || missing "$busybox" busybox-static
command -v tar >/dev/null || missing tar tar
# A dynamically linked busybox (Debian's "busybox" package) would need a libc in the image.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "cellblock: $busybox is dynamically linked; install the static one: apt-get install busybox-static" >&2
  exit 127
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage" "$out.tmp"' EXIT

cd "$stage"
mkdir -p bin usr etc dev proc sys root box tmp
install -m 0755 "$busybox" bin/busybox
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "bin/$applet"
done
# Everything lives in /bin; merged-/usr style links keep #!/usr/bin/env and /sbin/* paths working.
ln -s bin sbin
ln -s ../bin usr/bin
ln -s ../bin usr/sbin

printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'box:x:1000:1000:box:/box:/bin/sh' > etc/passwd
printf '%s\n' 'root:x:0:' 'box:x:1000:' > etc/group
printf '%s\n' '127.0.0.1 localhost' > etc/hosts
printf '%s\n' 'cellblock' > etc/hostname
chmod 0644 etc/passwd etc/group etc/hosts etc/hostname
chmod 0755 bin usr etc dev box
chmod 0555 proc sys
chmod 0700 root
chmod 1777 tmp

# GNU tar can only force one owner per run, so /box (uid 1000) is appended by its own
# run; top-level names are passed in sorted order so the archive stays sorted.
common=(--format=gnu --sort=name --mtime=@0 --numeric-owner --no-acls --no-xattrs --no-selinux)
tar -cf "$out.tmp" "${common[@]}" --owner=0 --group=0 bin
tar -rf "$out.tmp" "${common[@]}" --owner=1000 --group=1000 box
tar -rf "$out.tmp" "${common[@]}" --owner=0 --group=0 dev etc proc root sbin sys tmp usr
mv "$out.tmp" "$out"
