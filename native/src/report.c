/* Reporting to the Node side: text lines on REPORT_FD (see PROTOCOL.md). Every
 * process of the launcher writes whole lines with one write(), so lines from
 * different processes never interleave (pipe writes under PIPE_BUF are atomic). */
#include "launcher.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char err_msg[512];
static int err_no;

int fail(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	err_no = saved;
	errno = saved;
	return -1;
}

const char *last_error(void) { return err_msg; }
int last_errno(void) { return err_no; }

unsigned long long mono_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

void report(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* A failed report cannot be reported; the Node side sees a missing line. */
	if (write(REPORT_FD, line, (size_t)n) < 0)
		return;
}

/* The message goes last: it is free text (may contain spaces). */
void report_failure(const char *stage)
{
	char msg[sizeof(err_msg)];
	size_t i;

	/* Keep the line one line. */
	for (i = 0; i + 1 < sizeof(msg) && err_msg[i]; i++)
		msg[i] = (err_msg[i] == '\n') ? ' ' : err_msg[i];
	msg[i] = '\0';
	report("setup_failed stage=%s errno=%d msg=%s: %s", stage, err_no, msg, strerror(err_no));
}
