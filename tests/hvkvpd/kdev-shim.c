/* SPDX-License-Identifier: ISC */
/*
 * LD_PRELOAD shim for the differential tests: makes an unmodified
 * hv_kvp_daemon (or hv_fcopy_daemon) open the test's SOCK_SEQPACKET
 * socket where it opens /dev/vmbus/hv_kvp (or the node named by
 * HVKVPD_TEST_KDEV_NODE). Nothing else is changed. A seqpacket socket
 * keeps the chardev's message boundaries: one read() is one message, one
 * write() one reply, as drivers/hv/hv_utils_transport.c gives them.
 * hv_fcopy_daemon reads and writes the device with pread and pwrite at
 * offset 0, which the character device ignores and a socket refuses
 * (ESPIPE): on the shim's socket they become read and write.
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

/* The descriptor the shim connected, for pread and pwrite. */
static int shim_fd = -1;

static const char *kdev_node(void)
{
	const char *node = getenv("HVKVPD_TEST_KDEV_NODE");

	return node && *node ? node : KDEV;
}

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
	shim_fd = fd;
	return fd;
}

#define SHIM_EXPORT __attribute__((visibility("default")))

#define SHIM_OPEN(name, ...) \
	SHIM_EXPORT int name(const char *path, int flags, ...) \
	{ \
		static int (*real)(const char *, int, ...); \
		mode_t mode = 0; \
		int fd; \
		if (flags & (O_CREAT | __O_TMPFILE)) { \
			va_list ap; \
			va_start(ap, flags); \
			mode = va_arg(ap, mode_t); \
			va_end(ap); \
		} \
		if (strcmp(path, kdev_node()) == 0) \
			return kdev_connect(flags); \
		if (!real) \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \
		fd = real(path, flags, mode); \
		/* The socket was closed and its number reused: no longer ours. */ \
		if (fd >= 0 && fd == shim_fd) \
			shim_fd = -1; \
		return fd; \
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

#define SHIM_PREAD(name, off_type) \
	ssize_t name(int fd, void *buf, size_t n, off_type off); \
	SHIM_EXPORT ssize_t name(int fd, void *buf, size_t n, off_type off) \
	{ \
		static ssize_t (*real)(int, void *, size_t, off_type); \
		if (fd >= 0 && fd == shim_fd) \
			return read(fd, buf, n); \
		if (!real) \
			real = (ssize_t (*)(int, void *, size_t, off_type))dlsym(RTLD_NEXT, #name); \
		return real(fd, buf, n, off); \
	}

#define SHIM_PWRITE(name, off_type) \
	ssize_t name(int fd, const void *buf, size_t n, off_type off); \
	SHIM_EXPORT ssize_t name(int fd, const void *buf, size_t n, off_type off) \
	{ \
		static ssize_t (*real)(int, const void *, size_t, off_type); \
		if (fd >= 0 && fd == shim_fd) \
			return write(fd, buf, n); \
		if (!real) \
			real = (ssize_t (*)(int, const void *, size_t, off_type))dlsym(RTLD_NEXT, \
										#name); \
		return real(fd, buf, n, off); \
	}

SHIM_PREAD(pread, off_t)
SHIM_PREAD(pread64, off64_t)
SHIM_PWRITE(pwrite, off_t)
SHIM_PWRITE(pwrite64, off64_t)
