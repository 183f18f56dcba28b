#!/cb/busybox sh
# /init of the cgroup v2 test guest (test/v2/run-in-qemu.mjs builds the initramfs).
# No systemd: mount what the tests need, a pure cgroup2 hierarchy at /sys/fs/cgroup, the
# host's /usr and /etc and the repository over virtio-9p (read-only; the repository gets a
# tmpfs upper layer so the tests may write), a scratch ext4 disk as the state directory
# (idmapped mounts need a filesystem that supports them: 9p and, before 6.3, tmpfs do not),
# then run each pass of the plan and power off. Results go to the "results" 9p share.
export PATH=/cb
stage=${1:-1}

fatal() {
  echo "cellblock-guest: FATAL: $*"
  [ -d /results ] && echo "guest setup failed: $*" > /results/fatal
  poweroff -f
}

if [ "$stage" = 1 ]; then
  /cb/busybox --install -s /cb
  mkdir -p /proc /sys /dev
  mount -t proc proc /proc
  mount -t sysfs sysfs /sys
  mount -t devtmpfs devtmpfs /dev
  echo "cellblock-guest: kernel $(uname -r) up after $(cut -d' ' -f1 /proc/uptime) s"
  while read -r mod; do
    insmod "/modules/$mod" 2>/dev/null || grep -q "^$(basename "$mod" .ko | tr - _) " /proc/modules || echo "cellblock-guest: insmod $mod failed"
  done < /modules/order
  # pivot_root (the launcher's) refuses the initramfs root: move to a tmpfs root.
  mkdir -p /newroot
  mount -t tmpfs -o mode=0755 root /newroot || fatal "tmpfs root"
  cd /newroot || fatal "cd /newroot"
  mkdir -p cb usr etc proc sys dev tmp run var/lib results root repo-lower repo-upper
  cp -a /cb/. cb/
  cp /init stage2.sh
  ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
  ninep=trans=virtio,version=9p2000.L,msize=512000
  mount -t 9p -o "$ninep,ro,cache=loose" usr usr || fatal "9p usr"
  mount -t 9p -o "$ninep,ro,cache=loose" etc etc || fatal "9p etc"
  mount -t 9p -o "$ninep" results results || fatal "9p results"
  umount /proc /sys 2>/dev/null
  mount --move /dev dev 2>/dev/null || umount /dev
  exec switch_root /newroot /cb/busybox sh /stage2.sh 2
fi

# stage 2: on the tmpfs root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
# As systemd mounts it on a pure v2 host.
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup 2>/dev/null \
  || mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup || fatal "cgroup2 mount"
ip link set lo up
hostname v2guest
[ -f /results/plan.sh ] || fatal "no /results/plan.sh"
. /results/plan.sh   # REPO, STATE_DIR, PASSES, TEST_FILES, GUEST_ENV, CONTAINER_CAPS

# Neither mount point may name cellblock or the state dir: the leak check flags such mounts.
mkdir -p /mnt/scratch "$REPO"
mount -t ext4 /dev/vda /mnt/scratch || fatal "ext4 scratch disk"
mkdir -p "$STATE_DIR"
mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose" repo /repo-lower || fatal "9p repo"
mount -t tmpfs tmpfs /repo-upper
mkdir -p /repo-upper/upper /repo-upper/work
mount -t overlay -o "lowerdir=/repo-lower,upperdir=/repo-upper/upper,workdir=/repo-upper/work" overlay "$REPO" \
  || fatal "overlay on the repository"
export HOME=/root TMPDIR=/tmp CI=${CI:-} PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
for kv in $GUEST_ENV; do export "$kv"; done
echo "cellblock-guest: ready after $(cut -d' ' -f1 /proc/uptime) s; cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "ready $(cut -d' ' -f1 /proc/uptime)" > /results/ready

cd "$REPO" || fatal "cd $REPO"
cg=/sys/fs/cgroup
# What each pass runs where it is placed: `cellblock doctor` (its report goes to the console;
# a FAIL fails the pass), then the tests.
export DOCTOR_ENV="CELLBLOCK_STATE_DIR=$STATE_DIR CELLBLOCK_CGROUP_PARENT=cellblock-test"
run='env $DOCTOR_ENV bin/cellblock doctor && exec node scripts/run-tests.mjs "$@"'
for pass in $PASSES; do
  echo "cellblock-guest: === pass $pass ==="
  start=$(cut -d' ' -f1 /proc/uptime)
  case "$pass" in
    root)
      # The test runner starts in the root cgroup, as on a host without systemd.
      /usr/bin/sh -c "echo \$\$ > $cg/cgroup.procs; $run" sh $TEST_FILES ;;
    delegated)
      # As systemd gives a service with Delegate=yes: a non-root cgroup with the
      # controllers enabled in its parent, the runner's processes inside it.
      mkdir -p $cg/service.slice
      echo "+memory +cpu +pids +io" > $cg/cgroup.subtree_control
      /usr/bin/sh -c "echo \$\$ > $cg/service.slice/cgroup.procs; $run" sh $TEST_FILES ;;
    container)
      # As a container runtime gives a worker that is not privileged: its own cgroup
      # namespace and cgroup2 mount (the namespace root is a delegated, non-root cgroup),
      # root uid with only the capabilities in CONTAINER_CAPS, user namespaces allowed.
      mkdir -p $cg/container.scope
      echo "+memory +cpu +pids +io" > $cg/cgroup.subtree_control
      /usr/bin/sh -c "echo \$\$ > $cg/container.scope/cgroup.procs
        exec /usr/bin/unshare --cgroup --mount --propagation private /usr/bin/sh -c '
          umount -l $cg && mount -t cgroup2 -o nsdelegate cgroup2 $cg &&
          echo \"container: cgroup \$(cat /proc/self/cgroup), capabilities $CONTAINER_CAPS\" &&
          exec /usr/bin/setpriv --bounding-set=-all,$CONTAINER_CAPS --inh-caps=-all /usr/bin/sh -c \"\$0\" sh \"\$@\"' '$run' \"\$@\"" sh $TEST_FILES ;;
    *) echo "cellblock-guest: unknown pass $pass"; false ;;
  esac
  rc=$?
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "$pass $rc $start $end" >> /results/passes
  echo "cellblock-guest: pass $pass exited $rc"
done
sync
echo "cellblock-guest: done after $(cut -d' ' -f1 /proc/uptime) s"
echo done > /results/done
poweroff -f
