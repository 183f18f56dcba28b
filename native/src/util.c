/* Small file-system helpers with the launcher's error convention. */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int write_file(const char *path, const char *data)
{
	size_t len = strlen(data);
	ssize_t n;
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return fail("open %s", path);
	n = write(fd, data, len);
	if (n < 0 || (size_t)n != len) {
		int saved = (n < 0) ? errno : EIO;
		close(fd);
		errno = saved;
		return fail("write %s", path);
	}
	if (close(fd) < 0)
		return fail("close %s", path);
	return 0;
}

int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return fail("mkdir %s", path);
	return 0;
}

int path_join(char *out, size_t size, const char *a, const char *b)
{
	int n = snprintf(out, size, "%s/%s", a, b);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return fail("path %s/%s", a, b);
	}
	return 0;
}
