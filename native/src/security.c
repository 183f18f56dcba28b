/* What the job process applies to itself just before exec: rlimits, the end of
 * every privilege, no_new_privs and the seccomp filter Node compiled. */
#include "launcher.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static int set_limit(int resource, const char *name, unsigned long long soft, unsigned long long hard)
{
	struct rlimit rl = { .rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard };

	if (setrlimit(resource, &rl) < 0)
		return fail("setrlimit %s", name);
	return 0;
}

int apply_rlimits(const struct config *cfg)
{
	if (set_limit(RLIMIT_CORE, "core", 0, 0) < 0)
		return -1;
	if (cfg->rlimit_nofile && set_limit(RLIMIT_NOFILE, "nofile", cfg->rlimit_nofile, cfg->rlimit_nofile) < 0)
		return -1;
	if (cfg->rlimit_stack && set_limit(RLIMIT_STACK, "stack", cfg->rlimit_stack, cfg->rlimit_stack) < 0)
		return -1;
	if (cfg->rlimit_fsize && set_limit(RLIMIT_FSIZE, "fsize", cfg->rlimit_fsize, cfg->rlimit_fsize) < 0)
		return -1;
	/* Per process only: a backstop behind the cgroup-wide cpu accounting. */
	if (cfg->rlimit_cpu && set_limit(RLIMIT_CPU, "cpu", cfg->rlimit_cpu, cfg->rlimit_cpu + 1) < 0)
		return -1;
	/* Counted per host uid, and every running job has uids of its own: a
	 * backstop behind the cgroup's pids limit that no other job shares. */
	if (cfg->rlimit_nproc && set_limit(RLIMIT_NPROC, "nproc", cfg->rlimit_nproc, cfg->rlimit_nproc) < 0)
		return -1;
	return 0;
}

int drop_privileges(const struct config *cfg)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { { 0, 0, 0 }, { 0, 0, 0 } };
	gid_t gid = (gid_t)cfg->gid;
	int cap;

	/* uid 0 inside gets nothing from exec either. Needs CAP_SETPCAP: first. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
		  SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
		  SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED, 0, 0, 0) < 0)
		return fail("set securebits");
	for (cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL && cap > 0)
				break; /* past the kernel's last capability */
			return fail("drop capability %d from the bounding set", cap);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return fail("clear ambient capabilities");
	if (setgroups(1, &gid) < 0)
		return fail("setgroups");
	if (setresgid((gid_t)cfg->gid, (gid_t)cfg->gid, (gid_t)cfg->gid) < 0)
		return fail("setresgid %lu", cfg->gid);
	if (setresuid((uid_t)cfg->uid, (uid_t)cfg->uid, (uid_t)cfg->uid) < 0)
		return fail("setresuid %lu", cfg->uid);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail("capset");
	return 0;
}

/* The filters stack: the kernel runs every one and the most restrictive answer
 * wins. The first is cellblock's baseline, which allows what installing the
 * next ones needs; after the last only execve (and a report write) follow. */
int install_seccomp(const struct config *cfg)
{
	struct sock_fprog prog;
	int i;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("no_new_privs");
	for (i = 0; i < cfg->n_seccomp; i++) {
		size_t len = cfg->seccomp_len[i];

		if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
			errno = EINVAL;
			return fail("seccomp program %d of %zu bytes", i, len);
		}
		prog.len = (unsigned short)(len / sizeof(struct sock_filter));
		prog.filter = (struct sock_filter *)cfg->seccomp[i];
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
			return fail("install seccomp filter %d", i);
	}
	return 0;
}
