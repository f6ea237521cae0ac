/* SPDX-License-Identifier: ISC */
/*
 * The client socket: the one systemd passed (sd_listen_fds(3)'s protocol,
 * sdnotify.c), else one made here, never through a symbolic link.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clients_private.h"
#include "sdnotify.h"

static int socket_systemd(void)
{
	int n = hvkvpd_listen_fds();

	for (int i = 0; i < n; i++) {
		int fd = HVKVPD_LISTEN_FDS_START + i;

		if (hvkvpd_is_unix_listener(fd))
			return fd;
	}
	return -ENOENT;
}

/*
 * The socket's directory: made 0755 whatever the umask, since every user
 * connects; an existing one is used as it is, but never through a
 * symbolic link, which would let whoever planted it choose where the
 * socket goes.
 */
static int socket_dir_make(const char *dir)
{
	int fd, err = 0;
	bool made = mkdir(dir, 0755) == 0;

	if (!made && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOTDIR ? -ELOOP : -errno;
	if (made && fchmod(fd, 0755) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int socket_make(const char *path, const char **msg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	mode_t old;
	int fd, err, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		err = socket_dir_make(dir);
		if (err < 0) {
			*msg = "socket directory";
			return err;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Anyone may connect: each call is checked against the caller's
	 * credentials. The mode comes from the umask at bind(), not from a
	 * chmod() by name afterwards, which would follow a symbolic link
	 * swapped in for the socket. One thread runs here: the umask is ours.
	 */
	old = umask(0111);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		int probe, serving;
		struct stat sb;

		if (errno != EADDRINUSE)
			goto fail;
		/* A socket left by a daemon that died is replaced; one that answers is not. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		serving = probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (probe >= 0)
			close(probe);
		if (serving || lstat(path, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
			close(fd);
			*msg = serving ? "socket (another daemon serves it)" : "socket";
			return -EADDRINUSE;
		}
		unlink(path);
		old = umask(0111);
		r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		umask(old);
		if (r < 0)
			goto fail;
	}
	if (listen(fd, SOMAXCONN) < 0)
		goto fail;
	return fd;
fail:
	err = -errno;
	close(fd);
	*msg = "socket";
	return err;
}

int clients_socket_open(const char *path, bool *made, const char **msg)
{
	int fd = socket_systemd();

	*made = fd < 0;
	return fd >= 0 ? fd : socket_make(path, msg);
}
