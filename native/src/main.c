/* cellblock-launcher: runs jobs in fresh sandboxes. Started once per worker as
 * `cellblock-launcher --server` (server.c), which forks one supervisor per job
 * (see ../PROTOCOL.md). The supervisor stays host root: ahead of the job it maps
 * the job's user namespace to its host id range and puts it into its cgroup;
 * once the job arrives it mounts its root filesystem (in a mount namespace of
 * its own, so nothing shows on the host and everything vanishes with it),
 * releases it, reaps, and reports. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_id_maps(pid_t child, const struct config *cfg)
{
	char path[64], map[96];

	snprintf(map, sizeof(map), "0 %lu %lu\n", cfg->uid_base, cfg->uid_count);
	snprintf(path, sizeof(path), "/proc/%d/uid_map", child);
	if (write_file(path, map) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/gid_map", child);
	return write_file(path, map);
}

/* Ahead of the job: its cgroups, made fresh (one per v1 hierarchy; an existing one is
 * someone else's), and the child in each. */
static int make_and_join_cgroups(pid_t child, const struct config *cfg)
{
	char pid[32], procs[4096];
	int i;

	snprintf(pid, sizeof(pid), "%d\n", child);
	for (i = 0; i < cfg->n_cgroups; i++)
		if (mkdir(cfg->cgroups[i], 0755) < 0)
			return fail("mkdir %s", cfg->cgroups[i]);
	for (i = 0; i < cfg->n_cgroups; i++)
		if (path_join(procs, sizeof(procs), cfg->cgroups[i], "cgroup.procs") < 0 || write_file(procs, pid) < 0)
			return -1;
	return 0;
}

/* The job's limits, in order, before anything of it runs (pid 1 forks the job only
 * once it has its rootfs, which comes after these). */
static int write_cgroup_limits(const struct config *cfg)
{
	char path[4096];
	int i;

	for (i = 0; i < cfg->n_cgroup_writes; i++) {
		const struct cgroup_write *w = &cfg->cgroup_writes[i];

		if (path_join(path, sizeof(path), cfg->cgroups[w->dir], w->file) < 0)
			return -1;
		if (write_file(path, w->value) < 0 && !w->optional)
			return -1;
	}
	return 0;
}

/* Ahead of the job: ids mapped, cgroup joined; returns a descriptor of the child's
 * user namespace (opened now: once the child has changed its credentials, opening
 * it would take CAP_SYS_PTRACE, which a supervisor in a container may lack). */
static int prepare_child(pid_t child, const struct config *cfg)
{
	char path[64];
	int userns_fd;

	if (write_id_maps(child, cfg) < 0)
		return -1;
	TRACE("id_maps");
	if (make_and_join_cgroups(child, cfg) < 0)
		return -1;
	TRACE("cgroup_join");
	snprintf(path, sizeof(path), "/proc/%d/ns/user", child);
	userns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (userns_fd < 0)
		return fail("open %s", path);
	return userns_fd;
}

/* Once the job is known: its root filesystem, mounted idmapped to the child's ids;
 * returns a detached copy of it for the sandbox. */
static int mount_for_child(int userns_fd, const struct config *cfg, char *merged, size_t merged_size)
{
	int rootfs = mount_job_rootfs(cfg, userns_fd, merged, merged_size);

	TRACE("rootfs_mounted");
	if (close(userns_fd) < 0 && rootfs >= 0) {
		close(rootfs);
		return fail("close userns fd");
	}
	return rootfs;
}

/* The job's configuration, to the child as well (it parses its own copy). */
static int forward_config(int to_child, const char *buf, size_t len)
{
	size_t sent = 0;

	while (sent < len) {
		ssize_t n = send(to_child, buf + sent, len - sent, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("send config to the sandbox");
		}
		sent += (size_t)n;
	}
	/* End of the configuration; the socket stays open for the way back. */
	if (shutdown(to_child, SHUT_WR) < 0)
		return fail("shutdown config socket");
	return 0;
}

static int release(int sync_fd, char what)
{
	if (write(sync_fd, &what, 1) != 1)
		return fail("release child (%c)", what);
	return 0;
}

/* The second release: pid 1 gets the job's rootfs (and goes on). */
static int hand_over_rootfs(int sync_fd, int rootfs)
{
	int rc = send_fd(sync_fd, rootfs);

	if (close(rootfs) < 0 && rc == 0)
		return fail("close rootfs fd");
	return rc;
}

static void report_disk(const struct config *cfg)
{
	char rw[4096];
	struct statvfs st;

	if (path_join(rw, sizeof(rw), cfg->jobdir, "rw") < 0 || statvfs(rw, &st) < 0) {
		report("done disk_used=0 disk_free=0 inodes_used=0 inodes_free=0");
		return;
	}
	report("done disk_used=%llu disk_free=%llu inodes_used=%llu inodes_free=%llu",
	       (unsigned long long)(st.f_blocks - st.f_bfree) * st.f_frsize,
	       (unsigned long long)st.f_bavail * st.f_frsize,
	       (unsigned long long)(st.f_files - st.f_ffree), (unsigned long long)st.f_favail);
}

/* The job's whole life, on fds 0-5 (PROTOCOL.md), from its sandbox identity in
 * cfg (stage one) on. `parent` is the launcher server: its death is ours. */
int supervise(pid_t parent, struct config *cfg)
{
	char merged[4096], *raw;
	size_t raw_len;
	int sync_fds[2], config_fds[2], status, job_mnt_ns = -1, userns_fd = -1, rootfs;
	pid_t child, w;

	/* Die with the server; adopt every orphan of the job so none escapes. */
	TRACE("supervisor");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		fail("prctl");
		report_failure("supervisor");
		return 1;
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fail("private mount namespace");
		report_failure("supervisor");
		return 1;
	}
	TRACE("mount_ns");
	/* sync: `1` to the child, then the rootfs (SCM_RIGHTS) to pid 1; config: the
	 * job's configuration to pid 1, its mount namespace back. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync_fds) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, config_fds) < 0) {
		fail("socketpair");
		report_failure("supervisor");
		return 1;
	}
	/* Only a user namespace now: the child makes the others once it is mapped
	 * and in its cgroup, and the mount namespace once its rootfs is mounted. */
	child = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (child < 0) {
		fail("clone user namespace");
		report_failure("supervisor");
		return 1;
	}
	if (child == 0) {
		/* The configuration and collect pipes are the supervisor's alone: Node
		 * knows a dead supervisor by its configuration pipe having no reader,
		 * which a dying child or init holding it would hide. */
		if (close(sync_fds[1]) < 0 || close(config_fds[0]) < 0 || close(CONFIG_FD) < 0 || close(COLLECT_FD) < 0 ||
		    run_userns_child(cfg, sync_fds[0], config_fds[1]) < 0) {
			report_failure("userns");
			_exit(125);
		}
		_exit(0);
	}
	if (close(sync_fds[0]) < 0 || close(config_fds[1]) < 0 || (userns_fd = prepare_child(child, cfg)) < 0 ||
	    prepare_writable_layer(cfg) < 0 || release(sync_fds[1], '1') < 0) {
		report_failure("prepare");
		goto abandon;
	}
	/* The child makes the namespaces and init, and exits: reaped now, ahead of
	 * the job (until then it would count against the job's pids limit). */
	while ((w = waitpid(child, &status, 0)) < 0 && errno == EINTR)
		;
	if (w < 0) {
		fail("waitpid child");
		report_failure("prepare");
		goto abandon;
	}
	child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		goto abandon; /* it reported why */
	/* Ready: the job's configuration arrives when the job does. */
	if (config_read_raw(CONFIG_FD, &raw, &raw_len) < 0) {
		/* A sandbox prepared ahead and discarded gets an empty configuration: not news. */
		if (last_errno() != ENODATA)
			report_failure("config");
		goto abandon;
	}
	TRACE("config_read");
	if (close(CONFIG_FD) < 0 || forward_config(config_fds[0], raw, raw_len) < 0 || config_parse(raw, raw_len, cfg) < 0) {
		report_failure("config");
		goto abandon;
	}
	if (write_cgroup_limits(cfg) < 0) {
		report_failure("cgroup");
		goto abandon;
	}
	TRACE("limits_written");
	rootfs = mount_for_child(userns_fd, cfg, merged, sizeof(merged));
	if (rootfs < 0 || hand_over_rootfs(sync_fds[1], rootfs) < 0) {
		report_failure("prepare");
		goto abandon;
	}
	if (close(sync_fds[1]) < 0)
		report("warning close_sync errno=%d", errno);
	/* Init sent its mount namespace: held here, the namespace outlives the
	 * job, so tearing down its mounts (which waits for RCU) happens when this
	 * process exits, after `done`, not between the job's end and `done`. */
	job_mnt_ns = recv_fd(config_fds[0]);
	if (job_mnt_ns < 0 && last_errno() != ENOMSG)
		report("warning mount_ns_ref errno=%d", last_errno());
	if (close(config_fds[0]) < 0)
		report("warning close_config errno=%d", errno);
	/* Subreaper: every descendant ends up here; wait until none is left. */
	for (;;) {
		w = waitpid(-1, &status, 0);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECHILD)
				break;
			fail("waitpid");
			report_failure("supervisor");
			return 1;
		}
	}
	TRACE("reaped");
	/* Nothing of the job runs any more: its output is complete (the job held the
	 * other ends), and this namespace still holds its overlay. */
	if (close_range(STDIN_FILENO, STDERR_FILENO, 0) < 0) {
		fail("close stdio");
		report_failure("supervisor");
		return 1;
	}
	if (collect_files(cfg, merged) < 0) {
		report_failure("collect");
		return 1;
	}
	if (fcntl(COLLECT_FD, F_GETFD) >= 0 && close(COLLECT_FD) < 0) {
		fail("close collect");
		report_failure("collect");
		return 1;
	}
	TRACE("collected");
	report_disk(cfg);
	TRACE("done_sent");
	if (job_mnt_ns >= 0 && close(job_mnt_ns) < 0)
		return 1; /* after `done`: nothing to report to any more */
	return 0;

abandon:
	/* Ours, and it has run nothing of a job: end the child if it still runs and
	 * wait for it (init, a child of ours too, dies with us: its parent-death signal). */
	if (child > 0) {
		if (kill(child, SIGKILL) < 0)
			report("warning kill_child errno=%d", errno);
		while (waitpid(child, &status, 0) < 0 && errno == EINTR)
			;
	}
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "--server") != 0 || fcntl(CONFIG_FD, F_GETFD) < 0) {
		fprintf(stderr, "cellblock-launcher: run by cellblock only (as `cellblock-launcher --server`, with its control socket on fd 3)\n");
		return 2;
	}
	return serve();
}
