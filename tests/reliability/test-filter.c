/* SPDX-License-Identifier: ISC */
/*
 * hvkvpd's seccomp filter (daemons/hvkvpd/sandbox.c), loaded in a child
 * process and tried call by call: what the daemon's loops make is let
 * through to the kernel, anything else fails with EPERM, and the calls
 * checked by argument are checked by it. A call of another ABI under the
 * same filter (i386's int 0x80 on x86_64) kills the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "hvkvpd.h"

/* As sandbox.c: sanitizer builds let clone through for LeakSanitizer. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

static int failures;

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "test-filter: %s (errno %d, %s)\n", what, errno, strerror(errno));
		failures++;
	}
}

static void *thread_main(void *arg)
{
	return arg;
}

static void filter_enter(void)
{
	int err;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		perror("no_new_privs");
		_exit(2);
	}
	err = hvkvpd_sandbox_filter_load();
	if (err < 0) {
		fprintf(stderr, "test-filter: filter: %s\n", strerror(-err));
		_exit(err == -EOPNOTSUPP ? 77 : 2);
	}
}

static int calls(void)
{
	struct termios t;
	pthread_t th;
	void *ret = NULL;
	int fd, nl;

	filter_enter();
	/* Socket domains: UNIX and netlink only. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	check(fd >= 0, "socket(AF_UNIX) refused");
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	check(nl >= 0, "socket(AF_NETLINK) refused");
	errno = 0;
	check(socket(AF_INET, SOCK_DGRAM, 0) < 0 && errno == EPERM, "socket(AF_INET) not EPERM");
	errno = 0;
	check(socket(AF_INET6, SOCK_STREAM, 0) < 0 && errno == EPERM, "socket(AF_INET6) not EPERM");
	/* ioctl: the listed requests reach the kernel (a socket is no tty), others not. */
	errno = 0;
	check(ioctl(fd, TCGETS, &t) < 0 && errno == ENOTTY, "ioctl(TCGETS) did not reach the kernel");
	errno = 0;
	check(syscall(SYS_ioctl, fd, (unsigned long)TCGETS | (1ul << 32), &t) < 0 && errno == EPERM,
	      "ioctl(TCGETS with high bits) not EPERM");
	errno = 0;
	check(ioctl(fd, TIOCSTI, "x") < 0 && errno == EPERM, "ioctl(TIOCSTI) not EPERM");
	/* Calls outside the list. */
	errno = 0;
	check(chdir("/") < 0 && errno == EPERM, "chdir not EPERM");
	errno = 0;
	check(syscall(SYS_setuid, 0) < 0 && errno == EPERM, "setuid not EPERM");
	/* Threads, and clone3 turned into clone by glibc's fallback. */
#ifdef SYS_clone3
	errno = 0;
	check(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS, "clone3 not ENOSYS");
#endif
	check(pthread_create(&th, NULL, thread_main, &failures) == 0 &&
	      pthread_join(th, &ret) == 0 && ret == &failures, "no thread");
	/* Listed calls work. */
	close(fd);
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	check(fd >= 0 && read(fd, &t, 1) == 0, "open or read of /dev/null refused");
	close(nl);
	return failures ? 1 : 0;
}

#ifndef SANITIZED
/* A process, never: fork is clone without CLONE_THREAD. */
static int no_fork(void)
{
	pid_t pid;

	filter_enter();
	errno = 0;
	pid = fork();
	if (pid == 0)
		_exit(3);
	check(pid < 0 && errno == EPERM, "fork not EPERM");
	return failures ? 1 : 0;
}
#endif

#if defined(__x86_64__)
static int other_abi(void)
{
	long r = 20;  /* i386's getpid */

	filter_enter();
	__asm__ volatile("int $0x80" : "+a"(r) : : "memory");
	fprintf(stderr, "test-filter: an i386 call returned %ld\n", r);
	return 1;
}
#endif

/* Run fn in a child; its wait status. */
static int child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		fflush(stderr);
		_exit(fn());
	}
	if (waitpid(pid, &st, 0) != pid) {
		perror("waitpid");
		exit(2);
	}
	return st;
}

int main(void)
{
	int st, bad = 0;

	st = child(calls);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
		printf("test-filter: SKIP: no filter for this architecture\n");
		return 77;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "test-filter: the calls under the filter: status 0x%x\n", st);
		bad = 1;
	}
#ifndef SANITIZED
	st = child(no_fork);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "test-filter: fork under the filter: status 0x%x\n", st);
		bad = 1;
	}
#endif
#if defined(__x86_64__)
	st = child(other_abi);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGSYS) {
		fprintf(stderr, "test-filter: an i386 call: status 0x%x, not killed by SIGSYS\n", st);
		bad = 1;
	}
#endif
	if (!bad)
		printf("test-filter: UNIX and netlink sockets only, listed ioctls only, no other "
		       "call, threads%s, clone3 ENOSYS, another ABI killed\n",
#ifdef SANITIZED
		       " (processes too: a sanitizer build)"
#else
		       " but no processes"
#endif
		       );
	return bad;
}
