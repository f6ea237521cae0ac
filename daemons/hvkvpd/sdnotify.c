/* SPDX-License-Identifier: ISC */
/*
 * Facts behind this file: sd_notify(3) (a datagram to the AF_UNIX socket
 * named by NOTIFY_SOCKET; '@' stands for the abstract namespace's leading
 * NUL) and sd_listen_fds(3) (LISTEN_PID names the process the descriptors
 * are for, LISTEN_FDS counts them from fd 3, LISTEN_FDNAMES names them),
 * as systemd documents them for implementations without libsystemd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sdnotify.h"

int hvkvpd_notify(const char *state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len;
	socklen_t salen;
	int fd, err = 0;

	if (!name || !*name)
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, name, len);
	salen = offsetof(struct sockaddr_un, sun_path) + len;
	if (name[0] == '@')
		sa.sun_path[0] = '\0';   /* abstract: the length ends the name */
	else
		salen++;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* A decimal number without sign, spaces or trailing text. */
static int parse_ulong(const char *s, unsigned long *ret)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

int hvkvpd_listen_fds(void)
{
	const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS");
	unsigned long pid, n;
	int ret = 0;

	if (!spid || !sfds)
		goto out;
	if (parse_ulong(spid, &pid) < 0 || parse_ulong(sfds, &n) < 0 ||
	    n > (unsigned long)(INT_MAX - HVKVPD_LISTEN_FDS_START)) {
		ret = -EINVAL;
		goto out;
	}
	if (pid != (unsigned long)getpid())
		goto out;
	for (unsigned long i = 0; i < n; i++) {
		int fd = HVKVPD_LISTEN_FDS_START + (int)i;
		int flags = fcntl(fd, F_GETFD);

		if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
			ret = -errno;
			goto out;
		}
	}
	ret = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return ret;
}

int hvkvpd_is_unix_listener(int fd)
{
	int v;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || v != AF_UNIX)
		return 0;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != SOCK_STREAM)
		return 0;
	l = sizeof(v);
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) == 0 && v;
}
