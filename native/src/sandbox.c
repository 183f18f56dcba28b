/* The processes inside the job's user namespace:
 *   userns child  ahead of the job: waits until the supervisor mapped ids and
 *                 joined the cgroup; becomes container root; unshares the cgroup,
 *                 net, uts, ipc and pid namespaces; brings up loopback; makes
 *                 init as the supervisor's child (CLONE_PARENT) and exits
 *   init (pid 1)  ahead of the job too, with a mount namespace of its own where
 *                 it mounts /proc and /dev; then reads the job's configuration,
 *                 gets the rootfs the supervisor mounted (a detached mount),
 *                 moves /proc and /dev into it, makes it the root, forks the job,
 *                 reaps, reports the job's wait status; its exit ends every
 *                 process left in the pid namespace (daemons included)
 *   job           rlimits, drops every privilege, seccomp, execs the command */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *env_get(char **env, const char *name)
{
	size_t len = strlen(name);

	for (; *env; env++)
		if (strncmp(*env, name, len) == 0 && (*env)[len] == '=')
			return *env + len + 1;
	return NULL;
}

/* execvpe() would search the launcher's PATH; the job's own PATH is what counts. */
static void exec_command(const struct config *cfg)
{
	const char *file = cfg->argv[0];
	const char *path = env_get(cfg->env, "PATH");
	const char *p;
	int saw_eacces = 0;
	char candidate[4096];

	if (strchr(file, '/')) {
		execve(file, cfg->argv, cfg->env);
		return;
	}
	if (!path)
		path = DEFAULT_PATH;
	for (p = path;; ) {
		const char *colon = strchr(p, ':');
		size_t dir_len = colon ? (size_t)(colon - p) : strlen(p);
		int n = snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)dir_len, dir_len ? p : ".", file);

		if (n > 0 && (size_t)n < sizeof(candidate)) {
			execve(candidate, cfg->argv, cfg->env);
			if (errno == EACCES)
				saw_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
				return;
		}
		if (!colon)
			break;
		p = colon + 1;
	}
	errno = saw_eacces ? EACCES : ENOENT;
}

static void run_job(const struct config *cfg)
{
	TRACE("job_forked");
	if (setsid() < 0 || apply_rlimits(cfg) < 0) {
		if (errno != 0 && last_error()[0] == '\0')
			fail("setsid");
		report_failure("job");
		_exit(126);
	}
	if (chdir(cfg->cwd) < 0) {
		report("exec_failed errno=%d what=cwd path=%s", errno, cfg->cwd);
		_exit(127);
	}
	/* Only stdio and the report pipe (close-on-exec) cross into the job. Done
	 * before seccomp: a job's own profile need allow nothing but execve. */
	if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0 || close_range(CONFIG_FD, CONFIG_FD, 0) < 0 ||
	    close_range(REPORT_FD + 1, ~0U, 0) < 0) {
		fail("close fds");
		report_failure("job");
		_exit(126);
	}
	TRACE("job_fds");
	if (drop_privileges(cfg) < 0) {
		report_failure("job");
		_exit(126);
	}
	TRACE("privileges_dropped");
	if (install_seccomp(cfg) < 0) {
		report_failure("job");
		_exit(126);
	}
	/* Profiling builds only: a write the job's own seccomp profile may refuse. */
	TRACE("seccomp_installed");
	exec_command(cfg);
	report("exec_failed errno=%d what=exec path=%s", errno, cfg->argv[0]);
	_exit(127);
}

static void report_exit(int status, const struct rusage *ru)
{
	report("exited mono_ns=%llu status=%d utime_us=%lld stime_us=%lld maxrss_kb=%ld", mono_ns(), status,
	       (long long)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec,
	       (long long)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec, ru->ru_maxrss);
}

/* Returns once the supervisor has sent `expected`; exits if it never will. */
static void wait_for(int sync_fd, char expected)
{
	char got;
	ssize_t n;

	do
		n = read(sync_fd, &got, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || got != expected)
		_exit(1); /* the supervisor failed (and reported it) or discarded the sandbox */
}

/* Pid 1 of the job, forked ahead of it: its own mount namespace with /proc and
 * /dev made, then, once the job arrives, its configuration and its rootfs. */
static void run_init(struct config *cfg, int sync_fd, int config_fd)
{
	char *raw;
	size_t raw_len;
	pid_t job;
	int ns, rootfs;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) {
		fail("pdeathsig");
		goto failed;
	}
	if (unshare(CLONE_NEWNS) < 0) {
		fail("unshare mount namespace");
		goto failed;
	}
	/* The supervisor keeps the namespace (so its teardown waits until after `done`). */
	ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (ns < 0 || send_fd(config_fd, ns) < 0 || close(ns) < 0) {
		fail("hand over the mount namespace");
		goto failed;
	}
	if (prepare_sandbox_mounts(cfg) < 0)
		goto failed;
	TRACE("prepared");
	/* The job: its configuration, then its rootfs once the supervisor mounted it. */
	if (config_read_raw(config_fd, &raw, &raw_len) < 0) {
		if (last_errno() == ENODATA)
			_exit(1); /* discarded */
		goto failed;
	}
	if (config_parse(raw, raw_len, cfg) < 0)
		goto failed;
	if (close(config_fd) < 0) {
		fail("close config");
		goto failed;
	}
	rootfs = recv_fd(sync_fd);
	if (rootfs < 0) {
		if (last_errno() == ENOMSG)
			_exit(1); /* none sent: the supervisor failed (and reported it) */
		goto failed;
	}
	if (close(sync_fd) < 0) {
		fail("close sync");
		goto failed;
	}
	TRACE("rootfs_received");
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
		fail("sethostname");
		goto failed;
	}
	if (enter_job_rootfs(rootfs) < 0)
		goto failed;
	report("started mono_ns=%llu", mono_ns());
	job = fork();
	if (job < 0) {
		fail("fork job");
		goto failed;
	}
	if (job == 0)
		run_job(cfg);
	/* As pid 1 we inherit every orphan: reap them all, report only the job. */
	for (;;) {
		struct rusage ru;
		int status;
		pid_t w = wait4(-1, &status, 0, &ru);

		if (w == job) {
			report_exit(status, &ru);
			TRACE("init_exit");
			_exit(0);
		}
		if (w < 0 && errno != EINTR) {
			fail("wait4");
			goto failed;
		}
	}
failed:
	report_failure("init");
	_exit(125);
}

int run_userns_child(struct config *cfg, int sync_fd, int config_fd)
{
	pid_t init;

	/* Ahead of the job: mapped and in its cgroup once `1` arrives. */
	wait_for(sync_fd, '1');
	/* Become container root (host uid_base) with no supplementary groups. */
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		return fail("become container root");
	/* Credential changes clear the death signal: set it afterwards. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return fail("pdeathsig");
	if (getppid() == 1)
		_exit(1);
	/* Everything but the mount namespace, which init makes for itself. Init is
	 * made now: the first process of a pid namespace is the costly one. */
	if (unshare(CLONE_NEWCGROUP | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID) < 0)
		return fail("unshare namespaces");
	if (bring_up_loopback() < 0)
		return -1;
	/* A sibling, not a child (CLONE_PARENT): the supervisor reaps init itself, and
	 * this process ends now, ahead of the job, so the job's end is one exit and
	 * one wake-up away from the supervisor, not two. */
	init = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, NULL);
	if (init < 0)
		return fail("clone init");
	if (init == 0)
		run_init(cfg, sync_fd, config_fd);
	if (close(sync_fd) < 0 || close(config_fd) < 0)
		return fail("close init's descriptors");
	return 0;
}
