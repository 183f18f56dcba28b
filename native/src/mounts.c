/* Mounts. Two sides, each with a part ahead of the job and a part once it is known:
 *  - host side (supervisor, host root, in a private mount namespace of its own, so
 *    nothing it mounts is ever visible on the host and all of it vanishes with it):
 *    ahead, the writable layer (a tmpfs); then the idmapped read-only image, the
 *    tmpfs sized for the job and the overlay = the job's root, handed to pid 1 as
 *    a detached copy;
 *  - sandbox side (pid 1 of the job, container root in the job's user namespace,
 *    in a mount namespace of its own): ahead, /proc, /dev and masks on a staging
 *    tmpfs and pivot_root into it; then the rootfs attached, /proc and /dev moved
 *    into it, and it moved to /. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int idmapped_image(const struct config *cfg, int userns_fd, const char *target)
{
	struct mount_attr attr = {
		.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
		.userns_fd = (unsigned long long)userns_fd,
	};
	int fd = open_tree(AT_FDCWD, cfg->rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

	if (fd < 0)
		return fail("open_tree %s", cfg->rootfs);
	if (mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
		fail("mount_setattr idmap %s", cfg->rootfs);
		close(fd);
		return -1;
	}
	if (move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		fail("move_mount %s", target);
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return fail("close open_tree fd");
	return 0;
}

/* `path` relative to the job directory when it lies below it (as the files layer
 * does), else as is. */
static const char *below_jobdir(const struct config *cfg, const char *path)
{
	size_t n = strlen(cfg->jobdir);

	if (strncmp(path, cfg->jobdir, n) == 0 && path[n] == '/' && path[n + 1] != '\0')
		return path + n + 1;
	return path;
}

/* Ahead of the job: the mount points and the writable layer, a tmpfs (sized for
 * the job once it arrives) whose root belongs to container root; its shm/ becomes
 * the job's /dev/shm: one budget (and one statfs) for all the job writes. */
int prepare_writable_layer(const struct config *cfg)
{
	char lower[4096], rw[4096], upper[4096], work[4096], shm[4096], merged[4096], data[128];
	int n;

	if (path_join(lower, sizeof(lower), cfg->jobdir, "lower") < 0 || path_join(rw, sizeof(rw), cfg->jobdir, "rw") < 0 ||
	    path_join(upper, sizeof(upper), rw, "upper") < 0 || path_join(work, sizeof(work), rw, "work") < 0 ||
	    path_join(shm, sizeof(shm), rw, "shm") < 0 || path_join(merged, sizeof(merged), cfg->jobdir, "merged") < 0)
		return -1;
	if (make_dir(lower, 0755) < 0 || make_dir(rw, 0700) < 0 || make_dir(merged, 0755) < 0)
		return -1;
	/* Room for nothing until the job's own size is set (mount_job_rootfs). */
	n = snprintf(data, sizeof(data), "size=%d,nr_inodes=%d,mode=0755,uid=%lu,gid=%lu", PREPARED_LAYER_BYTES,
		     PREPARED_LAYER_INODES, cfg->uid_base, cfg->uid_base);
	if (n < 0 || (size_t)n >= sizeof(data))
		return fail("tmpfs options too long");
	if (mount("tmpfs", rw, "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
		return fail("mount tmpfs %s", rw);
	if (make_dir(upper, 0755) < 0 || make_dir(work, 0700) < 0 || make_dir(shm, 0700) < 0)
		return -1;
	if (chown(upper, (uid_t)cfg->uid_base, (gid_t)cfg->uid_base) < 0)
		return fail("chown %s", upper);
	if (chown(shm, (uid_t)cfg->uid_base, (gid_t)cfg->uid_base) < 0 || chmod(shm, 01777) < 0)
		return fail("chown/chmod %s", shm);
	return 0;
}

int mount_job_rootfs(const struct config *cfg, int userns_fd, char *merged, size_t merged_size)
{
	char lower[4096], rw[4096], opts[4096 * 3], data[128];
	int n, overlay;

	if (path_join(lower, sizeof(lower), cfg->jobdir, "lower") < 0 ||
	    path_join(rw, sizeof(rw), cfg->jobdir, "rw") < 0 ||
	    path_join(merged, merged_size, cfg->jobdir, "merged") < 0)
		return -1;
	/* The job's budget for the writable layer, in bytes and inodes. */
	n = snprintf(data, sizeof(data), "size=%llu,nr_inodes=%llu", cfg->disk_bytes, cfg->disk_inodes);
	if (n < 0 || (size_t)n >= sizeof(data))
		return fail("tmpfs options too long");
	if (mount(NULL, rw, NULL, MS_REMOUNT | MS_NOSUID | MS_NODEV, data) < 0)
		return fail("size tmpfs %s", rw);
	if (idmapped_image(cfg, userns_fd, lower) < 0)
		return -1;

	/* The job reads these options in its mountinfo: relative to the job
	 * directory (our cwd for the mount), they name no host path. */
	if (cfg->files)
		n = snprintf(opts, sizeof(opts), "lowerdir=%s:lower,upperdir=rw/upper,workdir=rw/work", below_jobdir(cfg, cfg->files));
	else
		n = snprintf(opts, sizeof(opts), "lowerdir=lower,upperdir=rw/upper,workdir=rw/work");
	if (n < 0 || (size_t)n >= sizeof(opts))
		return fail("overlay options too long");
	if (chdir(cfg->jobdir) < 0)
		return fail("chdir %s", cfg->jobdir);
	if (mount("overlay", merged, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
		return fail("mount overlay %s", merged);
	if (chdir("/") < 0)
		return fail("chdir /");
	/* For the sandbox: a detached copy it attaches in its own namespace (this one
	 * keeps the original, for collect). */
	overlay = open_tree(AT_FDCWD, merged, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (overlay < 0)
		return fail("open_tree %s", merged);
	return overlay;
}

/* A path the sandbox side mounts on must be a real directory: a symlink or file
 * the image (untrusted content) has there must not redirect our mounts, nor
 * make the job fail as our fault. It is replaced, in the writable layer only.
 * (Also makes the mount points of the staging tmpfs, where nothing is yet.) */
static int image_dir(const char *root, const char *name, char *out, size_t size)
{
	struct stat st;

	if (path_join(out, size, root, name) < 0)
		return -1;
	if (lstat(out, &st) < 0) {
		if (errno != ENOENT)
			return fail("lstat %s", out);
		return make_dir(out, 0755);
	}
	if (S_ISDIR(st.st_mode))
		return 0;
	if (unlink(out) < 0)
		return fail("image: remove /%s (not a directory)", name);
	return make_dir(out, 0755);
}

static int bind_dev(const char *dev, const char *name)
{
	char target[4096], source[64];
	int fd;

	if (path_join(target, sizeof(target), dev, name) < 0)
		return -1;
	snprintf(source, sizeof(source), "/dev/%s", name);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return fail("create %s", target);
	if (close(fd) < 0)
		return fail("close %s", target);
	if (mount(source, target, NULL, MS_BIND, NULL) < 0)
		return fail("bind %s", source);
	return 0;
}

static int dev_link(const char *dev, const char *name, const char *to)
{
	char path[4096];

	if (path_join(path, sizeof(path), dev, name) < 0)
		return -1;
	if (symlink(to, path) < 0)
		return fail("symlink %s", path);
	return 0;
}

static int setup_dev(const char *stage, const struct config *cfg)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	char dev[4096], pts[4096], shm[4096], rw_shm[4096];
	size_t i;

	if (image_dir(stage, "dev", dev, sizeof(dev)) < 0)
		return -1;
	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64") < 0)
		return fail("mount tmpfs %s", dev);
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (bind_dev(dev, nodes[i]) < 0)
			return -1;
	if (path_join(pts, sizeof(pts), dev, "pts") < 0 || make_dir(pts, 0755) < 0)
		return -1;
	if (mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") < 0)
		return fail("mount devpts %s", pts);
	if (path_join(shm, sizeof(shm), dev, "shm") < 0 || make_dir(shm, 0755) < 0 ||
	    path_join(rw_shm, sizeof(rw_shm), cfg->jobdir, "rw/shm") < 0)
		return -1;
	if (mount(rw_shm, shm, NULL, MS_BIND, NULL) < 0)
		return fail("bind %s", rw_shm);
	if (mount(NULL, shm, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail("remount %s", shm);
	if (dev_link(dev, "ptmx", "pts/ptmx") < 0 || dev_link(dev, "fd", "/proc/self/fd") < 0 ||
	    dev_link(dev, "stdin", "/proc/self/fd/0") < 0 || dev_link(dev, "stdout", "/proc/self/fd/1") < 0 ||
	    dev_link(dev, "stderr", "/proc/self/fd/2") < 0)
		return -1;
	/* No more nodes: the job cannot add any (read-only from here on). */
	if (mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k,nr_inodes=64") < 0)
		return fail("remount %s read-only", dev);
	return 0;
}

/* Paths of /proc that leak host facts or offer host-wide knobs (as Docker's
 * defaults): hidden entirely, or left visible read-only. */
static const char *const proc_masked[] = {
	"kcore", "keys", "key-users", "timer_list", "sched_debug", "latency_stats", "timer_stats",
	"kallsyms", "kpagecount", "kpageflags", "kpagecgroup", "kmsg", "config.gz", "pagetypeinfo",
	"vmallocinfo", "slabinfo", "acpi", "scsi", "asound", "driver", "dynamic_debug", NULL,
};
static const char *const proc_readonly[] = { "sys", "sysrq-trigger", "irq", "bus", "fs", NULL };

static int mask_path(const char *proc, const char *name)
{
	char path[4096];
	struct stat st;

	if (path_join(path, sizeof(path), proc, name) < 0)
		return -1;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : fail("lstat %s", path);
	if (S_ISDIR(st.st_mode)) {
		if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1") < 0)
			return fail("mask %s", path);
	} else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
		return fail("mask %s", path);
	}
	return 0;
}

static int readonly_path(const char *proc, const char *name)
{
	char path[4096];

	if (path_join(path, sizeof(path), proc, name) < 0)
		return -1;
	if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : fail("bind %s", path);
	if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail("remount %s read-only", path);
	return 0;
}

/* The job's user namespace may hold no namespaces but the ones we made: these
 * limits are its own (we are its root), and a nested user namespace, the
 * largest door into kernel code meant for root, can no longer be made even if
 * a seccomp profile let unshare or clone through. Kernels without a knob skip it. */
static const char *const ns_limits[] = {
	"user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time", NULL,
};

static int limit_nested_namespaces(const char *proc)
{
	char path[4096];
	size_t i;

	for (i = 0; ns_limits[i]; i++) {
		int n = snprintf(path, sizeof(path), "%s/sys/user/max_%s_namespaces", proc, ns_limits[i]);

		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return fail("path %s", proc);
		}
		if (write_file(path, "0\n") < 0 && errno != ENOENT)
			return -1;
	}
	return 0;
}

static int setup_proc(const char *stage)
{
	char proc[4096];
	size_t i;

	if (image_dir(stage, "proc", proc, sizeof(proc)) < 0)
		return -1;
	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail("mount proc %s", proc);
	if (limit_nested_namespaces(proc) < 0)
		return -1;
	for (i = 0; proc_masked[i]; i++)
		if (mask_path(proc, proc_masked[i]) < 0)
			return -1;
	for (i = 0; proc_readonly[i]; i++)
		if (readonly_path(proc, proc_readonly[i]) < 0)
			return -1;
	return 0;
}

/* Ahead of the job, in pid 1's own mount namespace: a staging tmpfs (mounted over
 * the job directory's merged/, in this namespace only) with /proc and /dev made in
 * it and root/, where the job's rootfs is attached once it exists; pid 1 pivots
 * into it and detaches the old root now (the detach waits for the kernel: RCU). */
int prepare_sandbox_mounts(const struct config *cfg)
{
	char stage[4096], root[4096];

	/* Mounts copied from the supervisor's namespace are slaves: cut every link. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail("make / private");
	if (path_join(stage, sizeof(stage), cfg->jobdir, "merged") < 0 || path_join(root, sizeof(root), stage, "root") < 0)
		return -1;
	if (mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=16k,nr_inodes=16") < 0)
		return fail("mount tmpfs %s", stage);
	if (make_dir(root, 0755) < 0 || setup_proc(stage) < 0 || setup_dev(stage, cfg) < 0)
		return -1;
	/* pivot_root(".", ".") stacks the old root under the new one; detaching it
	 * leaves nothing of the host reachable. */
	if (chdir(stage) < 0)
		return fail("chdir %s", stage);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail("pivot_root %s", stage);
	if (umount2(".", MNT_DETACH) < 0)
		return fail("detach old root");
	if (chdir("/") < 0)
		return fail("chdir /");
	return 0;
}

/* The job's rootfs (a detached mount from the supervisor) attached at /root, /proc
 * and /dev moved into it, and it made the root: moved over the staging tmpfs (as
 * switch_root does; it hides that tmpfs, where only empty directories are left)
 * and chroot into it. No unmount, so no wait for the kernel here. */
int enter_job_rootfs(int rootfs_fd)
{
	char from[64], to[64];
	static const char *const moved[] = { "proc", "dev" };
	size_t i;

	if (move_mount(rootfs_fd, "", AT_FDCWD, "/root", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return fail("attach the rootfs at /root");
	if (close(rootfs_fd) < 0)
		return fail("close rootfs fd");
	for (i = 0; i < sizeof(moved) / sizeof(moved[0]); i++) {
		if (path_join(from, sizeof(from), "", moved[i]) < 0 || image_dir("/root", moved[i], to, sizeof(to)) < 0)
			return -1;
		if (mount(from, to, NULL, MS_MOVE, NULL) < 0)
			return fail("move %s to %s", from, to);
	}
	if (chdir("/root") < 0)
		return fail("chdir /root");
	if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
		return fail("move the rootfs to /");
	if (chroot(".") < 0)
		return fail("chroot");
	if (chdir("/") < 0)
		return fail("chdir /");
	return 0;
}
