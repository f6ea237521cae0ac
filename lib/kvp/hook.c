/* SPDX-License-Identifier: ISC */
/*
 * Running the SET_IP_INFO program. Linux's daemon runs hv_set_ifconfig with
 * system() and waits for ever; a hung script there stalls every later
 * request. We start the hook without a shell, in a process group of its
 * own, with default signal dispositions and standard input from
 * /dev/null, and kill the group when the timeout passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "info_private.h"

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for pid until `deadline`: 1 exited (*status set), 0 timed out, -errno. */
static int child_wait(pid_t pid, long deadline, int *status)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	int pidfd = -1, err;
	pid_t r;

#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	for (;;) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			goto done;
		if (r < 0 && errno != EINTR) {
			err = -errno;
			goto out;
		}
		if (now_ms() >= deadline) {
			err = 0;
			goto out;
		}
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };
			long left = deadline - now_ms();

			poll(&p, 1, left > 0 ? (int)(left > 1000 ? 1000 : left) : 0);
		} else {
			/* Kernels before 5.3: no pidfd, so poll the child. */
			nanosleep(&tick, NULL);
		}
	}
done:
	err = 1;
out:
	if (pidfd >= 0)
		close(pidfd);
	return err;
}

int kvp_hook_run(const char *path, char *const argv[], char *const envp[],
		 unsigned int timeout_ms)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	int err, status = 0;

	if (posix_spawn_file_actions_init(&fa))
		return -ENOMEM;
	if (posix_spawnattr_init(&attr)) {
		posix_spawn_file_actions_destroy(&fa);
		return -ENOMEM;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	err = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;

	err = child_wait(pid, now_ms() + (long)timeout_ms, &status);
	if (err == 0) {
		/* The whole group: a script's own children must not linger. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		return -ETIMEDOUT;
	}
	if (err < 0)
		return err;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		/* Leftover background jobs of the hook are not waited for. */
		return 0;
	}
	return -EIO;
}
