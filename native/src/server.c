/* `cellblock-launcher --server`: one long-lived process per worker that forks a
 * supervisor per job, so the worker never forks itself (a fork of a large Node
 * process costs milliseconds and blocks its event loop). The control socket
 * (CONFIG_FD, SOCK_SEQPACKET) carries requests from Node, each one message:
 *
 *   run SEQ\n ENTRIES  with 6 descriptors (SCM_RIGHTS): the job's stdin, stdout,
 *             stderr, the configuration pipe, the report pipe, the collect pipe.
 *             ENTRIES is stage one of the configuration (the sandbox's identity:
 *             uid_base, uid_count, jobdir, cgroup). A forked supervisor gets the
 *             descriptors as fds 0-5, prepares the sandbox at once and waits for
 *             the job's configuration (stage two) on fd 3.
 *   kill SEQ  SIGKILL that job's supervisor, if it still runs (its job dies with it).
 *
 * When a supervisor has been reaped, the server writes `gone status=S` on the
 * job's report pipe and closes its copy: the report's end of file then means every
 * process of the job and its launcher is gone. EOF on the control socket (the
 * worker closed it, or died) kills every supervisor left, reaps them, and exits.
 * See ../PROTOCOL.md. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define JOB_FDS 6
#define REQUEST_MAX 16384

struct running {
	unsigned long long seq;
	pid_t pid;
	int report_fd; /* the server's copy; closed after `gone` */
};

static struct running *jobs;
static size_t n_jobs, cap_jobs;

static int add_job(unsigned long long seq, pid_t pid, int report_fd)
{
	if (n_jobs == cap_jobs) {
		size_t cap = cap_jobs ? cap_jobs * 2 : 16;
		struct running *grown = realloc(jobs, cap * sizeof(*jobs));

		if (!grown)
			return fail("realloc");
		jobs = grown;
		cap_jobs = cap;
	}
	jobs[n_jobs++] = (struct running){ .seq = seq, .pid = pid, .report_fd = report_fd };
	return 0;
}

static void close_all(const int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0 && close(fds[i]) < 0)
			fprintf(stderr, "cellblock-launcher: close fd %d: %s\n", fds[i], strerror(errno));
}

/* The forked supervisor: the request's descriptors become 0-5, nothing else of
 * the server's stays open, and supervise() takes over. */
static void become_supervisor(const int *fds, pid_t server, char *entries, size_t len)
{
	struct config cfg;
	int high[JOB_FDS], i;
	sigset_t none;

	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0 || signal(SIGCHLD, SIG_DFL) == SIG_ERR ||
	    signal(SIGPIPE, SIG_DFL) == SIG_ERR) {
		fail("signal mask");
		goto failed;
	}
	/* Above 0-5 first, so no dup2 below overwrites a descriptor still to be moved. */
	for (i = 0; i < JOB_FDS; i++) {
		high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 16);
		if (high[i] < 0) {
			fail("dup request fd");
			goto failed;
		}
	}
	for (i = 0; i < JOB_FDS; i++) {
		if (dup2(high[i], i) < 0) {
			fail("dup2 request fd");
			goto failed;
		}
	}
	if (close_range(JOB_FDS, ~0U, 0) < 0) {
		fail("close server fds");
		goto failed;
	}
	if (config_prepare(entries, len, &cfg) < 0) {
		report_failure("config");
		_exit(1);
	}
	_exit(supervise(server, &cfg));
failed:
	/* fd 4 may not be the report pipe yet: say it on stderr as well. */
	fprintf(stderr, "cellblock-launcher: supervisor: %s: %s\n", last_error(), strerror(last_errno()));
	_exit(1);
}

static int start_job(unsigned long long seq, const int *fds, char *entries, size_t len)
{
	pid_t server = getpid(), pid = fork();

	if (pid < 0)
		return fail("fork supervisor");
	if (pid == 0)
		become_supervisor(fds, server, entries, len);
	if (add_job(seq, pid, fds[REPORT_FD]) < 0) {
		/* Cannot track it: end it now; its report pipe closes with it. */
		if (kill(pid, SIGKILL) < 0)
			fprintf(stderr, "cellblock-launcher: kill %d: %s\n", pid, strerror(errno));
		return -1;
	}
	/* Keep only the report pipe (for `gone`); the supervisor has the rest. */
	close_all(fds, REPORT_FD);
	close_all(fds + REPORT_FD + 1, JOB_FDS - REPORT_FD - 1);
	return 0;
}

static void kill_job(unsigned long long seq)
{
	size_t i;

	for (i = 0; i < n_jobs; i++)
		if (jobs[i].seq == seq && kill(jobs[i].pid, SIGKILL) < 0 && errno != ESRCH)
			fprintf(stderr, "cellblock-launcher: kill %d: %s\n", jobs[i].pid, strerror(errno));
}

/* Reap every supervisor (and any orphan adopted as subreaper) that has ended. */
static void reap(int block)
{
	for (;;) {
		int status;
		size_t i;
		pid_t w = waitpid(-1, &status, block ? 0 : WNOHANG);
		char line[64];

		if (w == 0)
			return;
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				fprintf(stderr, "cellblock-launcher: waitpid: %s\n", strerror(errno));
			return;
		}
		for (i = 0; i < n_jobs; i++) {
			if (jobs[i].pid != w)
				continue;
			snprintf(line, sizeof(line), "gone status=%d\n", status);
			/* A worker that stopped reading loses the line, nothing else. */
			if (write(jobs[i].report_fd, line, strlen(line)) < 0 && errno != EPIPE)
				fprintf(stderr, "cellblock-launcher: report gone: %s\n", strerror(errno));
			close_all(&jobs[i].report_fd, 1);
			jobs[i] = jobs[--n_jobs];
			break;
		}
	}
}

/* One request; malformed ones are dropped with a message (Node never sends them). */
static void handle_request(int ctl)
{
	char buf[REQUEST_MAX + 1], control[CMSG_SPACE(sizeof(int) * JOB_FDS)];
	struct iovec iov = { .iov_base = buf, .iov_len = REQUEST_MAX };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control) };
	struct cmsghdr *c;
	int fds[JOB_FDS], n_fds = 0, i;
	unsigned long long seq;
	char *nl;
	ssize_t n;

	n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		fprintf(stderr, "cellblock-launcher: recvmsg: %s\n", strerror(errno));
		exit(1);
	}
	if (n == 0) {
		/* The worker is gone: so is every job it started. */
		for (i = 0; (size_t)i < n_jobs; i++)
			if (kill(jobs[i].pid, SIGKILL) < 0 && errno != ESRCH)
				fprintf(stderr, "cellblock-launcher: kill %d: %s\n", jobs[i].pid, strerror(errno));
		reap(1);
		exit(0);
	}
	buf[n] = '\0';
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (i = 0; i < got; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (n_fds < JOB_FDS)
					fds[n_fds++] = fd;
				else
					close_all(&fd, 1);
			}
		}
	}
	nl = memchr(buf, '\n', (size_t)n);
	if (nl && sscanf(buf, "run %llu", &seq) == 1 && n_fds == JOB_FDS && !(msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
		if (start_job(seq, fds, nl + 1, (size_t)(buf + n - nl - 1)) < 0) {
			fprintf(stderr, "cellblock-launcher: run %llu: %s: %s\n", seq, last_error(), strerror(last_errno()));
			close_all(fds, JOB_FDS);
		}
		return;
	}
	close_all(fds, n_fds);
	if (sscanf(buf, "kill %llu", &seq) == 1)
		kill_job(seq);
	else
		fprintf(stderr, "cellblock-launcher: bad request (%d fds): %.*s\n", n_fds, (int)(n < 40 ? n : 40), buf);
}

int serve(void)
{
	pid_t node = getppid();
	struct pollfd p[2];
	sigset_t chld;
	int sfd;

	/* Die with the worker; adopt the orphans of dying supervisors. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != node ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("cellblock-launcher: prctl");
		return 1;
	}
	/* A report pipe whose reader is gone must not end the server (and every job):
	 * the write fails with EPIPE instead. Supervisors restore the default. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("cellblock-launcher: SIGPIPE");
		return 1;
	}
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, NULL) < 0 || (sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		perror("cellblock-launcher: signalfd");
		return 1;
	}
	p[0] = (struct pollfd){ .fd = CONFIG_FD, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("cellblock-launcher: poll");
			return 1;
		}
		if (p[1].revents & POLLIN) {
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
			reap(0);
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			handle_request(CONFIG_FD);
	}
}
