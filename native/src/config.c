/* The job's configuration: NUL-terminated "key=value" entries (PROTOCOL.md), in
 * two stages: the sandbox's identity in the run request, ahead of the job; the
 * job itself on CONFIG_FD until EOF. Node decided everything; we only apply. */
#include "launcher.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONFIG_MAX (16u << 20)

static int parse_ulong(const char *key, const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
		errno = EINVAL;
		return fail("config %s: not a number: %s", key, s);
	}
	return 0;
}

static int parse_hex(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), i;
	unsigned char *buf;

	if (n % 2 != 0) {
		errno = EINVAL;
		return fail("config seccomp: odd hex length");
	}
	buf = malloc(n / 2 + 1);
	if (!buf)
		return fail("malloc");
	for (i = 0; i < n / 2; i++) {
		char pair[3] = { s[2 * i], s[2 * i + 1], 0 };
		char *end;
		buf[i] = (unsigned char)strtoul(pair, &end, 16);
		if (*end != '\0') {
			free(buf);
			errno = EINVAL;
			return fail("config seccomp: bad hex");
		}
	}
	*out = buf;
	*len = n / 2;
	return 0;
}

static int read_all(int fd, char **out, size_t *len)
{
	size_t cap = 1 << 16, used = 0;
	char *buf = malloc(cap);

	if (!buf)
		return fail("malloc");
	for (;;) {
		ssize_t n;
		if (used == cap) {
			char *bigger;
			if (cap >= CONFIG_MAX) {
				free(buf);
				errno = E2BIG;
				return fail("config larger than %u bytes", CONFIG_MAX);
			}
			cap *= 2;
			bigger = realloc(buf, cap);
			if (!bigger) {
				free(buf);
				return fail("realloc");
			}
			buf = bigger;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return fail("read config");
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	*out = buf;
	*len = used;
	return 0;
}

static int push(char ***list, size_t *n, char *value)
{
	char **bigger = realloc(*list, (*n + 2) * sizeof(char *));

	if (!bigger)
		return fail("realloc");
	bigger[(*n)++] = value;
	bigger[*n] = NULL;
	*list = bigger;
	return 0;
}

/* "N FILE VALUE": VALUE (the rest of the entry, spaces and all) into FILE, a plain
 * name in the sandbox's Nth cgroup directory (stage one has named them). */
static int parse_cgroup_write(struct config *cfg, char *entry, int optional)
{
	struct cgroup_write *w;
	char *file, *value, *end;
	unsigned long dir;

	if (cfg->n_cgroup_writes == MAX_CGROUP_WRITES) {
		errno = E2BIG;
		return fail("config: too many cgroup writes");
	}
	errno = 0;
	dir = strtoul(entry, &end, 10);
	if (entry[0] < '0' || entry[0] > '9' || errno != 0 || *end != ' ' || dir >= (unsigned long)cfg->n_cgroups)
		goto bad;
	file = end + 1;
	value = strchr(file, ' ');
	if (!value || value == file)
		goto bad;
	*value++ = '\0';
	if (*value == '\0' || strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
		goto bad;
	w = &cfg->cgroup_writes[cfg->n_cgroup_writes++];
	*w = (struct cgroup_write){ .file = file, .value = value, .dir = (int)dir, .optional = optional };
	return 0;
bad:
	errno = EINVAL;
	return fail("config: a cgroup write is \"N FILE VALUE\", FILE a name in the sandbox's Nth cgroup: %.80s", entry);
}

struct number_key {
	const char *key;
	size_t offset;
	int is_long; /* unsigned long rather than unsigned long long */
};

#define NUM(k, field, l) { k, offsetof(struct config, field), l }
static const struct number_key number_keys[] = {
	NUM("uid_base", uid_base, 1), NUM("uid_count", uid_count, 1),
	NUM("uid", uid, 1), NUM("gid", gid, 1),
	NUM("disk_bytes", disk_bytes, 0), NUM("disk_inodes", disk_inodes, 0),
	NUM("rlimit_nofile", rlimit_nofile, 0), NUM("rlimit_stack", rlimit_stack, 0),
	NUM("rlimit_fsize", rlimit_fsize, 0), NUM("rlimit_cpu", rlimit_cpu, 0),
	NUM("rlimit_nproc", rlimit_nproc, 0),
	NUM("collect_max_bytes", collect_max_bytes, 0), NUM("collect_file_max_bytes", collect_file_max_bytes, 0),
	NUM("collect_max_files", collect_max_files, 0),
};

static int set_entry(struct config *cfg, char *key, char *value, size_t *n_env, size_t *n_argv)
{
	size_t i;

	for (i = 0; i < sizeof(number_keys) / sizeof(number_keys[0]); i++) {
		unsigned long long v;
		if (strcmp(key, number_keys[i].key) != 0)
			continue;
		if (parse_ulong(key, value, &v) < 0)
			return -1;
		if (number_keys[i].is_long)
			*(unsigned long *)((char *)cfg + number_keys[i].offset) = (unsigned long)v;
		else
			*(unsigned long long *)((char *)cfg + number_keys[i].offset) = v;
		return 0;
	}
	if (strcmp(key, "rootfs") == 0)
		cfg->rootfs = value;
	else if (strcmp(key, "jobdir") == 0)
		cfg->jobdir = value;
	else if (strcmp(key, "files") == 0)
		cfg->files = value;
	else if (strcmp(key, "hostname") == 0)
		cfg->hostname = value;
	else if (strcmp(key, "cwd") == 0)
		cfg->cwd = value;
	else if (strcmp(key, "seccomp") == 0) {
		if (cfg->n_seccomp == MAX_SECCOMP_FILTERS) {
			errno = E2BIG;
			return fail("config: too many seccomp filters");
		}
		if (parse_hex(value, &cfg->seccomp[cfg->n_seccomp], &cfg->seccomp_len[cfg->n_seccomp]) < 0)
			return -1;
		cfg->n_seccomp++;
	}
	else if (strcmp(key, "collect") == 0) {
		if (cfg->n_collect == MAX_COLLECT) {
			errno = E2BIG;
			return fail("config: too many collect patterns");
		}
		cfg->collect[cfg->n_collect++] = value;
	}
	else if (strcmp(key, "cgroup") == 0) {
		if (cfg->n_cgroups == MAX_CGROUPS) {
			errno = E2BIG;
			return fail("config: too many cgroups");
		}
		if (value[0] != '/') {
			errno = EINVAL;
			return fail("config cgroup: not an absolute path: %.80s", value);
		}
		cfg->cgroups[cfg->n_cgroups++] = value;
	}
	else if (strcmp(key, "cgroup_write") == 0 || strcmp(key, "cgroup_try") == 0)
		return parse_cgroup_write(cfg, value, strcmp(key, "cgroup_try") == 0);
	else if (strcmp(key, "env") == 0)
		return push(&cfg->env, n_env, value);
	else if (strcmp(key, "arg") == 0)
		return push(&cfg->argv, n_argv, value);
	else {
		errno = EINVAL;
		return fail("config: unknown key %s", key);
	}
	return 0;
}

/* Stage-one keys (the sandbox's identity, known before the job): only in the request. */
static int is_prepare_key(const char *key)
{
	return strcmp(key, "uid_base") == 0 || strcmp(key, "uid_count") == 0 || strcmp(key, "jobdir") == 0 ||
	       strcmp(key, "cgroup") == 0;
}

/* Parse NUL-terminated entries of buf[0..len) (in place) for one stage. */
static int parse_entries(struct config *cfg, char *buf, size_t len, int prepare, size_t *n_env, size_t *n_argv)
{
	char *p, *end, *next;

	if (len == 0 || buf[len - 1] != '\0') {
		errno = EINVAL;
		return fail("config: empty or not NUL-terminated");
	}
	for (p = buf, end = buf + len; p < end; p = next) {
		char *eq = strchr(p, '=');

		next = p + strlen(p) + 1;
		if (!eq) {
			errno = EINVAL;
			return fail("config: entry without '=': %.40s", p);
		}
		*eq = '\0';
		if (is_prepare_key(p) != prepare) {
			errno = EINVAL;
			return fail("config: %s belongs in the %s", p, prepare ? "job's configuration" : "run request");
		}
		if (set_entry(cfg, p, eq + 1, n_env, n_argv) < 0)
			return -1;
	}
	return 0;
}

int config_prepare(char *buf, size_t len, struct config *cfg)
{
	size_t none = 0;

	memset(cfg, 0, sizeof(*cfg));
	cfg->hostname = "cellblock";
	cfg->cwd = "/";
	if (parse_entries(cfg, buf, len, 1, &none, &none) < 0)
		return -1;
	if (cfg->uid_count == 0 || !cfg->jobdir) {
		errno = EINVAL;
		return fail("config: uid_count and jobdir are required");
	}
	return 0;
}

int config_read_raw(int fd, char **buf, size_t *len)
{
	if (read_all(fd, buf, len) < 0)
		return -1;
	if (*len == 0) {
		free(*buf);
		errno = ENODATA;
		return fail("config: empty (discarded before use)");
	}
	return 0;
}

int config_parse(char *buf, size_t len, struct config *cfg)
{
	size_t n_env = 0, n_argv = 0;

	if (parse_entries(cfg, buf, len, 0, &n_env, &n_argv) < 0)
		return -1;
	if (!cfg->rootfs || !cfg->argv || cfg->n_seccomp == 0) {
		errno = EINVAL;
		return fail("config: rootfs, arg and seccomp are required");
	}
	if (!cfg->env && push(&cfg->env, &n_env, NULL) < 0)
		return -1;
	return 0;
}
