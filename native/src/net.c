/* The job's network namespace has only `lo`; bring it up so localhost works
 * inside (without the ip binary: one ioctl). */
#include "launcher.h"

#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int bring_up_loopback(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return fail("socket");
	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		fail("SIOCGIFFLAGS lo");
		close(fd);
		return -1;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		fail("SIOCSIFFLAGS lo");
		close(fd);
		return -1;
	}
	if (close(fd) < 0)
		return fail("close");
	return 0;
}
