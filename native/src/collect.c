/* The collect phase (PROTOCOL.md, "Collect"): after every process of the job is
 * gone, the supervisor, whose private mount namespace still holds the job's
 * overlay, copies the files Node asked for out of the job's view of its root
 * filesystem onto COLLECT_FD. The tree is untrusted (the job made it), so every
 * open is openat2() confined to the overlay's root that follows no symlink (not
 * even one inside the sandbox), no magic link and no mount; only regular files
 * are sent, each and all of them capped in size. Nothing runs concurrently: the
 * job is dead, so nothing changes the tree while we read it. */
#include "launcher.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 32

struct collector {
	int root;          /* O_PATH fd of the overlay's root (merged/) */
	const struct config *cfg;
	unsigned long long bytes, files;
};

static int open_confined(int dirfd, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dirfd, rel[0] ? rel : ".", &how, sizeof(how));
}

static int write_all(const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(COLLECT_FD, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("write collect pipe");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* `refused REASON ERRNO PATHLEN\n` + path: the path may hold any byte but NUL. */
static int refuse(const char *path, const char *reason, int err)
{
	char head[128];
	int n = snprintf(head, sizeof(head), "refused %s %d %zu\n", reason, err, strlen(path));

	if (n < 0 || (size_t)n >= sizeof(head))
		return fail("collect header");
	if (write_all(head, (size_t)n) < 0 || write_all(path, strlen(path)) < 0)
		return -1;
	return 0;
}

static const char *errno_reason(int err)
{
	switch (err) {
	case ELOOP:
		return "symlink";
	case ENOENT:
	case ENOTDIR:
		return "not_found";
	case EXDEV:
		return "other_mount";
	default:
		return "error";
	}
}

/* Send one opened file; `fd` is closed. */
static int send_file(struct collector *c, const char *path, int fd)
{
	struct stat st;
	char head[128], buf[65536];
	unsigned long long left;
	int n, rc = 0;

	if (fstat(fd, &st) < 0) {
		rc = fail("fstat %s", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = refuse(path, S_ISDIR(st.st_mode) ? "directory" : "not_regular", 0);
		goto out;
	}
	if (c->files >= c->cfg->collect_max_files) {
		rc = refuse(path, "too_many_files", 0);
		goto out;
	}
	if ((unsigned long long)st.st_size > c->cfg->collect_file_max_bytes) {
		rc = refuse(path, "file_too_large", 0);
		goto out;
	}
	if (c->bytes + (unsigned long long)st.st_size > c->cfg->collect_max_bytes) {
		rc = refuse(path, "total_too_large", 0);
		goto out;
	}
	n = snprintf(head, sizeof(head), "file %o %lld %zu\n", (unsigned)(st.st_mode & 0777), (long long)st.st_size, strlen(path));
	if (n < 0 || (size_t)n >= sizeof(head)) {
		rc = fail("collect header");
		goto out;
	}
	if (write_all(head, (size_t)n) < 0 || write_all(path, strlen(path)) < 0) {
		rc = -1;
		goto out;
	}
	/* Exactly st_size bytes follow, whatever happens: the framing must hold. */
	for (left = (unsigned long long)st.st_size; left > 0;) {
		size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		ssize_t got = read(fd, buf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			/* Cannot happen with nothing running; pad and say so. */
			report("warning collect_short_read path=%s", path);
			memset(buf, 0, want);
			got = (ssize_t)want;
		}
		if (write_all(buf, (size_t)got) < 0) {
			rc = -1;
			goto out;
		}
		left -= (unsigned long long)got;
	}
	c->bytes += (unsigned long long)st.st_size;
	c->files++;
out:
	if (close(fd) < 0 && rc == 0)
		rc = fail("close %s", path);
	return rc;
}

static int join(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Every entry of the open directory `dirfd` (at `path`) whose name matches
 * `glob` (NULL: every entry, recursively). `dirfd` is closed. */
static int walk(struct collector *c, int dirfd, const char *path, const char *glob, int depth)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *e;
	char child[4096];
	int rc = 0;

	if (!d) {
		close(dirfd);
		return fail("fdopendir %s", path);
	}
	for (;;) {
		int fd;

		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno != 0)
				rc = fail("readdir %s", path);
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (glob && fnmatch(glob, e->d_name, FNM_PERIOD) != 0)
			continue;
		if (join(child, sizeof(child), path, e->d_name) < 0) {
			if ((rc = refuse(path, "name_too_long", ENAMETOOLONG)) < 0)
				break;
			continue;
		}
		/* One component below a directory we hold: still confined, never followed. */
		fd = open_confined(dirfd, e->d_name, O_RDONLY | O_NONBLOCK);
		if (fd < 0) {
			if ((rc = refuse(child, errno_reason(errno), errno)) < 0)
				break;
			continue;
		}
		if (!glob && e->d_type == DT_DIR) {
			struct stat st;
			if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
				if (depth >= WALK_MAX_DEPTH) {
					close(fd);
					rc = refuse(child, "too_deep", 0);
				} else {
					rc = walk(c, fd, child, NULL, depth + 1);
				}
				if (rc < 0)
					break;
				continue;
			}
		}
		if ((rc = send_file(c, child, fd)) < 0)
			break;
	}
	if (closedir(d) < 0 && rc == 0)
		rc = fail("closedir %s", path);
	return rc;
}

static int has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* One pattern: an absolute path inside the sandbox, whose last component may be
 * a glob (matched in that one directory) or `**` (everything below, recursively). */
static int collect_one(struct collector *c, const char *pattern)
{
	char dir[4096];
	const char *slash = strrchr(pattern, '/'), *last;
	int fd;

	if (pattern[0] != '/' || !slash || (size_t)(slash - pattern) >= sizeof(dir))
		return refuse(pattern, "bad_pattern", EINVAL);
	last = slash + 1;
	memcpy(dir, pattern, (size_t)(slash - pattern));
	dir[slash - pattern] = '\0';
	if (has_glob(dir))
		return refuse(pattern, "bad_pattern", EINVAL);
	if (!has_glob(last)) {
		fd = open_confined(c->root, pattern + 1, O_RDONLY | O_NONBLOCK);
		if (fd < 0)
			return refuse(pattern, errno_reason(errno), errno);
		return send_file(c, pattern, fd);
	}
	fd = open_confined(c->root, dir[0] ? dir + 1 : "", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return refuse(pattern, errno_reason(errno), errno);
	return walk(c, fd, dir[0] ? dir : "/", strcmp(last, "**") == 0 ? NULL : last, 0);
}

int collect_files(const struct config *cfg, const char *merged)
{
	struct collector c = { .root = -1, .cfg = cfg };
	char end[96];
	int i, n, rc = 0;

	if (cfg->n_collect == 0)
		return 0;
	if (fcntl(COLLECT_FD, F_GETFD) < 0)
		return fail("collect: fd %d is not open", COLLECT_FD);
	c.root = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c.root < 0)
		return fail("open %s", merged);
	for (i = 0; i < cfg->n_collect && rc == 0; i++) {
		char mark[32];
		n = snprintf(mark, sizeof(mark), "pattern %d\n", i);
		rc = write_all(mark, (size_t)n);
		if (rc == 0)
			rc = collect_one(&c, cfg->collect[i]);
	}
	if (close(c.root) < 0 && rc == 0)
		rc = fail("close %s", merged);
	if (rc < 0)
		return -1;
	n = snprintf(end, sizeof(end), "end %llu %llu\n", c.files, c.bytes);
	if (n < 0 || (size_t)n >= sizeof(end))
		return fail("collect end");
	return write_all(end, (size_t)n);
}
