/* cellblock-launcher: runs one job in a fresh sandbox. Started by the Node side
 * once per job with the configuration on fd 3 and a report pipe on fd 4 (see
 * ../PROTOCOL.md). This process (the supervisor) stays host root: it maps the
 * job's user namespace to its host id range, puts it into its cgroup, mounts its
 * root filesystem (in a mount namespace of its own, so nothing shows on the host
 * and everything vanishes with it), releases it, reaps, and reports. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
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

static int join_cgroup(pid_t child, const struct config *cfg)
{
	char pid[32];
	int i;

	snprintf(pid, sizeof(pid), "%d\n", child);
	for (i = 0; i < cfg->n_cgroup_procs; i++)
		if (write_file(cfg->cgroup_procs[i], pid) < 0)
			return -1;
	return 0;
}

static int prepare_child(pid_t child, const struct config *cfg, char *merged, size_t merged_size)
{
	char path[64];
	int userns_fd, rc;

	if (write_id_maps(child, cfg) < 0 || join_cgroup(child, cfg) < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/ns/user", child);
	userns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (userns_fd < 0)
		return fail("open %s", path);
	rc = mount_job_rootfs(cfg, userns_fd, merged, merged_size);
	if (close(userns_fd) < 0 && rc == 0)
		return fail("close userns fd");
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

int main(void)
{
	struct config cfg;
	char merged[4096];
	int sync_fds[2], status, mounted = 0;
	pid_t node = getppid(), child, w;

	if (fcntl(REPORT_FD, F_GETFD) < 0) {
		fprintf(stderr, "cellblock-launcher: run by cellblock only (needs the config on fd 3 and a report pipe on fd 4)\n");
		return 2;
	}
	/* Everything that needs no configuration first: the Node side may start
	 * launchers ahead of demand, and then this is done before the job arrives.
	 * Die with the worker; adopt every orphan of the job so none escapes. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != node ||
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
	if (config_read(CONFIG_FD, &cfg) < 0 || close(CONFIG_FD) < 0) {
		/* An idle launcher that is discarded gets an empty configuration: not news. */
		if (last_errno() != ENODATA)
			report_failure("config");
		return 1;
	}
	if (path_join(merged, sizeof(merged), cfg.jobdir, "merged") < 0 || pipe2(sync_fds, O_CLOEXEC) < 0) {
		fail("pipe");
		report_failure("supervisor");
		return 1;
	}
	/* Only a user namespace now: the others are made by the child once the
	 * supervisor has mapped ids and prepared the rootfs it needs to see. */
	child = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (child < 0) {
		fail("clone user namespace");
		report_failure("supervisor");
		return 1;
	}
	if (child == 0) {
		if (close(sync_fds[1]) < 0 || run_userns_child(&cfg, sync_fds[0], merged) < 0) {
			report_failure("userns");
			_exit(125);
		}
		_exit(0);
	}
	if (close(sync_fds[0]) < 0 || prepare_child(child, &cfg, merged, sizeof(merged)) < 0) {
		report_failure("prepare");
		/* Ours, and it has run nothing yet; closing the pipe below ends it too. */
		if (kill(child, SIGKILL) < 0)
			report("warning kill_child errno=%d", errno);
	} else if (write(sync_fds[1], "1", 1) != 1) {
		fail("release child");
		report_failure("prepare");
	} else {
		mounted = 1;
	}
	if (close(sync_fds[1]) < 0)
		report("warning close_sync errno=%d", errno);
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
	/* Nothing of the job runs any more, and this namespace still holds its overlay. */
	if (collect_files(&cfg, merged, mounted) < 0) {
		report_failure("collect");
		return 1;
	}
	report_disk(&cfg);
	return 0;
}
