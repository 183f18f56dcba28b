#!/bin/sh
# Entry point of the cellblock container image: `docker run IMAGE worker` (the default),
# or any other subcommand (`image build toolchain`, `run ...`, `--help`).
#
# Before a worker starts:
#  1. cgroups writable. Docker and containerd mount the container's cgroup filesystem
#     read-only unless the container is privileged; the worker must create its job
#     cgroups below its own. With CAP_SYS_ADMIN (and no AppArmor profile forbidding
#     mount) a bind remount clears the read-only flag of this container's mount only:
#     no host filesystem option changes, and with a private cgroup namespace the
#     container still sees only its own subtree.
#  2. The busybox image in the state directory (its tarball is in the image already;
#     a no-op once imported).
set -eu
cd "$(dirname "$0")/.."

if [ "${1:-}" = worker ]; then
  for mnt in $(awk '($3 == "cgroup2" || $3 == "cgroup") && $4 ~ /(^|,)ro(,|$)/ { print $2 }' /proc/self/mounts); do
    if ! mount -o remount,bind,rw "$mnt"; then
      echo "cellblock: $mnt is read-only and could not be remounted read-write: the container needs CAP_SYS_ADMIN and AppArmor unconfined (or run it privileged; see docs/deployment.md)" >&2
      exit 1
    fi
  done
  bin/cellblock image build busybox --log-level warn >/dev/null
fi
exec bin/cellblock "$@"
