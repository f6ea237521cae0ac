/* SPDX-License-Identifier: ISC */
/* Temporary folders, pool files, daemons as processes. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hvuio/kvp_pool.h>

#include "bench-kvp.h"

int bk_verbose;

/* Daemons still running, so that a benchmark that gives up leaves none. */
#define MAX_LIVE 8
static pid_t live[MAX_LIVE];

static void live_set(pid_t old, pid_t pid)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] == old) {
			live[i] = pid;
			return;
		}
	}
}

double bk_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bk_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("hv-bench-kvp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
		}
	}
	exit(1);
}

void bk_note(const char *fmt, ...)
{
	va_list ap;

	if (!bk_verbose)
		return;
	fputs("hv-bench-kvp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void bk_mkdirs(const char *path)
{
	char p[4096];

	if (strlen(path) >= sizeof(p))
		bk_die("%s: path too long", path);
	strcpy(p, path);
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || !*s) {
			char c = *s;

			*s = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				bk_die("mkdir %s: %s", p, strerror(errno));
			*s = c;
			if (!c)
				break;
		}
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void bk_rmtree(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void bk_key(char *buf, size_t size, unsigned int i)
{
	snprintf(buf, size, "BenchKey-%07u", i);
}

/* 64 bytes, about what hosts push (VM names, GUIDs, addresses). */
void bk_value(char *buf, size_t size, unsigned int i)
{
	snprintf(buf, size, "value of bench key %07u, 64 bytes as a host would send them.", i);
}

uint64_t bk_pool_file_write(const char *dir, unsigned int pool, unsigned int n)
{
	enum { BATCH = 256 };
	char path[4096];
	uint8_t *buf;
	uint64_t total = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/.kvp_pool_%u", dir, pool);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		bk_die("%s: %s", path, strerror(errno));
	buf = malloc((size_t)BATCH * HV_KVP_POOL_RECORD_SIZE);
	if (!buf)
		bk_die("out of memory");
	for (unsigned int i = 0; i < n; ) {
		unsigned int m = n - i < BATCH ? n - i : BATCH;
		size_t len = (size_t)m * HV_KVP_POOL_RECORD_SIZE;

		/* Linux's format: NUL-padded 512-byte key, 2048-byte value. */
		memset(buf, 0, len);
		for (unsigned int j = 0; j < m; j++) {
			uint8_t *rec = buf + (size_t)j * HV_KVP_POOL_RECORD_SIZE;

			bk_key((char *)rec, HV_KVP_KEY_MAX_SIZE, i + j);
			bk_value((char *)rec + HV_KVP_KEY_MAX_SIZE,
				 HV_KVP_VALUE_MAX_SIZE, i + j);
		}
		if (write(fd, buf, len) != (ssize_t)len)
			bk_die("writing %s: %s", path, strerror(errno));
		total += len;
		i += m;
	}
	free(buf);
	close(fd);
	return total;
}

static void notify_open(struct bk_proc *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static unsigned int seq;
	int fd;

	/* Abstract address: nothing to clean up, no path length to worry about. */
	snprintf(p->notify_path, sizeof(p->notify_path), "@hv-bench-kvp-%ld-%u",
		 (long)getpid(), seq++);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		bk_die("notify socket: %s", strerror(errno));
	memcpy(sa.sun_path + 1, p->notify_path + 1, strlen(p->notify_path) - 1);
	if (bind(fd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p->notify_path))) < 0)
		bk_die("notify socket: %s", strerror(errno));
	p->notify_fd = fd;
}

void bk_proc_start(struct bk_proc *p, char *const argv[], const char *log, bool notify)
{
	memset(p, 0, sizeof(*p));
	p->notify_fd = -1;
	if (notify)
		notify_open(p);
	fflush(NULL);
	p->started = bk_now();
	p->pid = fork();
	if (p->pid < 0)
		bk_die("fork: %s", strerror(errno));
	if (p->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (notify)
			setenv("NOTIFY_SOCKET", p->notify_path, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		execvp(argv[0], argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	live_set(0, p->pid);
}

int bk_proc_wait_ready(struct bk_proc *p, double timeout)
{
	double end = p->started + timeout;

	while (!p->ready) {
		struct pollfd pfd = { .fd = p->notify_fd, .events = POLLIN };
		char buf[512];
		double left = end - bk_now();
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = recv(p->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		if (strstr(buf, "READY=1"))
			p->ready = bk_now();
	}
	return 0;
}

int bk_proc_stop(struct bk_proc *p, bool kill_it)
{
	int status = 0;
	double end;

	if (p->notify_fd >= 0)
		close(p->notify_fd);
	p->notify_fd = -1;
	if (p->pid <= 0)
		return -1;
	live_set(p->pid, 0);
	kill(p->pid, kill_it ? SIGKILL : SIGTERM);
	end = bk_now() + 20;
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid)
			break;
		if (r < 0)
			return -1;
		if (bk_now() > end) {
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = 0;
			return -1;
		}
		usleep(2000);
	}
	p->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int bk_proc_rss(pid_t pid, uint64_t *rss_kb, uint64_t *hwm_kb)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*rss_kb = *hwm_kb = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "VmRSS: %llu kB", &v) == 1)
			*rss_kb = v;
		else if (sscanf(line, "VmHWM: %llu kB", &v) == 1)
			*hwm_kb = v;
	}
	fclose(f);
	return 0;
}
