/* cellblock-launcher: shared declarations. See ../PROTOCOL.md for the wire format. */
#ifndef CELLBLOCK_LAUNCHER_H
#define CELLBLOCK_LAUNCHER_H

#define _GNU_SOURCE
#include <stddef.h>
#include <sys/types.h>

#define MAX_CGROUPS 16
#define MAX_CGROUP_WRITES 32
#define MAX_SECCOMP_FILTERS 4
#define MAX_COLLECT 256
/* The writable layer of a sandbox prepared ahead, until its job sets the real size. */
#define PREPARED_LAYER_BYTES 65536
#define PREPARED_LAYER_INODES 16
#define CONFIG_FD 3
#define REPORT_FD 4
#define COLLECT_FD 5

/* One of the job's limits: `value` into `file` of the sandbox's cgroups[dir]. */
struct cgroup_write {
	const char *file; /* a plain name: nothing outside the sandbox's own cgroups is written */
	const char *value;
	int dir;
	int optional; /* `cgroup_try`: a refusal is ignored (a preference, not a limit) */
};

struct config {
	const char *rootfs;   /* image rootfs on the host (read-only lower layer) */
	const char *jobdir;   /* the sandbox's directory: lower/, rw/, merged/ are made here (stage one) */
	const char *files;    /* optional extra lower layer with the job's files */
	const char *hostname;
	const char *cwd;
	unsigned long uid_base, uid_count;
	unsigned long uid, gid; /* inside the sandbox */
	unsigned long long disk_bytes, disk_inodes;
	unsigned long long rlimit_nofile, rlimit_stack, rlimit_fsize, rlimit_cpu, rlimit_nproc;
	/* the sandbox's cgroup directories (one per v1 hierarchy), made and joined ahead (stage one) */
	const char *cgroups[MAX_CGROUPS];
	int n_cgroups;
	/* the job's limits, written in order before anything of it runs (stage two) */
	struct cgroup_write cgroup_writes[MAX_CGROUP_WRITES];
	int n_cgroup_writes;
	/* raw struct sock_filter arrays, installed in this order (stacked) */
	unsigned char *seccomp[MAX_SECCOMP_FILTERS];
	size_t seccomp_len[MAX_SECCOMP_FILTERS];
	int n_seccomp;
	/* collect phase: absolute in-sandbox paths, last component a glob or `**` */
	const char *collect[MAX_COLLECT];
	int n_collect;
	unsigned long long collect_max_bytes, collect_file_max_bytes, collect_max_files;
	char **env;  /* NULL-terminated */
	char **argv; /* NULL-terminated */
};

/* Error convention: a function that fails returns -1 after fail() recorded what
 * (and errno); callers propagate with `if (f() < 0) return -1;`. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *last_error(void);
int last_errno(void);

/* report.c: one line per event on REPORT_FD. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_failure(const char *stage);
unsigned long long mono_ns(void);
/* Profiling builds (`npm run build:native -- --trace`) report when each step ended. */
#ifdef CELLBLOCK_TRACE
#define TRACE(step) report("trace step=%s mono_ns=%llu", (step), mono_ns())
#else
#define TRACE(step) ((void)0)
#endif

/* util.c */
int write_file(const char *path, const char *data);
int make_dir(const char *path, mode_t mode);
int path_join(char *out, size_t size, const char *a, const char *b);
/* One descriptor over a Unix socket (SCM_RIGHTS); recv_fd returns it. */
int send_fd(int sock, int fd);
int recv_fd(int sock);

/* config.c: stage one (uid_base, uid_count, jobdir, cgroup: from the run request,
 * resets cfg) and stage two (the job: read raw from CONFIG_FD, then parsed; both
 * parse in place and keep pointers into the buffer). */
int config_prepare(char *buf, size_t len, struct config *cfg);
int config_read_raw(int fd, char **buf, size_t *len);
int config_parse(char *buf, size_t len, struct config *cfg);

/* mounts.c: host side (supervisor, in its private mount namespace): ahead of the
 * job, then once it is known (returns a detached copy of the overlay for pid 1). */
int prepare_writable_layer(const struct config *cfg);
int mount_job_rootfs(const struct config *cfg, int userns_fd, char *merged, size_t merged_size);
/* mounts.c: sandbox side (pid 1, in the job's mount namespace): ahead, then with the rootfs. */
int prepare_sandbox_mounts(const struct config *cfg);
int enter_job_rootfs(int rootfs_fd);

/* security.c */
int apply_rlimits(const struct config *cfg);
int drop_privileges(const struct config *cfg);
int install_seccomp(const struct config *cfg);

/* collect.c: after the job, copy requested files of its root out on COLLECT_FD. */
int collect_files(const struct config *cfg, const char *merged);

/* net.c */
int bring_up_loopback(void);

/* main.c: one job's supervisor, on fds 0-5, its sandbox identity in cfg. */
int supervise(pid_t parent, struct config *cfg);

/* server.c: fork a supervisor per request from the worker (`--server`). */
int serve(void);

/* sandbox.c */
/* sandbox.c: the child in the job's user namespace. Once `1` arrives on sync_fd it
 * makes the namespaces and init (which prepares its mounts, reads the job's
 * configuration from config_fd and gets its rootfs on sync_fd), and returns. */
int run_userns_child(struct config *cfg, int sync_fd, int config_fd);

#endif
