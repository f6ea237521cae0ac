/* SPDX-License-Identifier: ISC */
/*
 * LD_PRELOAD shim for the differential test: makes an unmodified
 * hv_kvp_daemon open the test's SOCK_SEQPACKET socket where it opens
 * /dev/vmbus/hv_kvp. Nothing else is changed. A seqpacket socket keeps the
 * chardev's message boundaries: one read() is one struct hv_kvp_msg, one
 * write() one reply, as drivers/hv/hv_utils_transport.c gives them.
 * The socket path comes from HVKVPD_TEST_KDEV.
 */
/* open and open64 are defined here separately: no aliasing of one to the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define KDEV "/dev/vmbus/hv_kvp"

static int kdev_connect(int flags)
{
	const char *path = getenv("HVKVPD_TEST_KDEV");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENOENT;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | ((flags & O_CLOEXEC) ? SOCK_CLOEXEC : 0), 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

#define SHIM_EXPORT __attribute__((visibility("default")))

#define SHIM_OPEN(name, ...) \
	SHIM_EXPORT int name(const char *path, int flags, ...) \
	{ \
		static int (*real)(const char *, int, ...); \
		mode_t mode = 0; \
		if (flags & (O_CREAT | __O_TMPFILE)) { \
			va_list ap; \
			va_start(ap, flags); \
			mode = va_arg(ap, mode_t); \
			va_end(ap); \
		} \
		if (strcmp(path, KDEV) == 0) \
			return kdev_connect(flags); \
		if (!real) \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
		return real(path, flags, mode); \
	}

int open(const char *path, int flags, ...);
int open64(const char *path, int flags, ...);
SHIM_OPEN(open)
SHIM_OPEN(open64)

int __open_2(const char *path, int flags);
SHIM_EXPORT int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

int __open64_2(const char *path, int flags);
SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	return open(path, flags);
}
