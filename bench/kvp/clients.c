/* SPDX-License-Identifier: ISC */
/*
 * Clients of io.hvuio.Kvp as a third party would write them: a UNIX
 * stream socket, one JSON object per call ended by a NUL (the varlink
 * framing), the reply read up to its NUL. One call outstanding per
 * connection, one thread per connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-kvp.h"

struct client {
	pthread_t thread;
	const char *socket;
	enum bk_client_op op;
	unsigned int id, n;
	atomic_bool *stop;
	uint64_t calls;
	char error[256];
};

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

/* Send one call and read its reply (up to the NUL) into buf. */
static int client_call(int fd, const char *call, size_t len, char *buf, size_t size)
{
	size_t got = 0;

	for (size_t off = 0; off < len; ) {
		ssize_t n = send(fd, call + off, len - off, MSG_NOSIGNAL);

		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n = recv(fd, buf + got, size - 1 - got, 0);

		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		/* One call outstanding: the reply ends the data. */
		if (memchr(buf + got, '\0', (size_t)n)) {
			got += (size_t)n;
			break;
		}
		got += (size_t)n;
		if (got >= size - 1)
			return -EMSGSIZE;
	}
	buf[got] = '\0';
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	char call[512], reply[4096], want[160], value[128], key[64];
	int fd = client_connect(c->socket);

	if (fd < 0) {
		snprintf(c->error, sizeof(c->error), "connect: %s", strerror(-fd));
		return NULL;
	}
	for (unsigned int i = 0; !atomic_load_explicit(c->stop, memory_order_relaxed); i++) {
		int len, err;

		if (c->op == BK_CLIENT_GET) {
			unsigned int j = (unsigned int)(((uint64_t)(i + c->id * 7u) * 104729) % c->n);

			bk_key(key, sizeof(key), j);
			bk_value(value, sizeof(value), j);
			len = snprintf(call, sizeof(call),
				       "{\"method\":\"io.hvuio.Kvp.Get\",\"parameters\":"
				       "{\"pool\":\"External\",\"key\":\"%s\"}}", key);
			snprintf(want, sizeof(want), "\"value\":\"%s\"", value);
		} else {
			snprintf(key, sizeof(key), "client-%u-%u", c->id, i % 64);
			len = snprintf(call, sizeof(call),
				       "{\"method\":\"io.hvuio.Kvp.Set\",\"parameters\":"
				       "{\"pool\":\"Guest\",\"key\":\"%s\",\"value\":\"%u\"}}", key, i);
			want[0] = '\0';
		}
		err = client_call(fd, call, (size_t)len + 1, reply, sizeof(reply));
		if (err < 0) {
			snprintf(c->error, sizeof(c->error), "call %u: %s", i, strerror(-err));
			break;
		}
		if (strstr(reply, "\"error\"") || (want[0] && !strstr(reply, want))) {
			snprintf(c->error, sizeof(c->error), "call %u: %.200s", i, reply);
			break;
		}
		c->calls++;
	}
	close(fd);
	return NULL;
}

double bk_clients_run(const char *socket, enum bk_client_op op, unsigned int nclients,
		      unsigned int n, double seconds)
{
	struct client *c = calloc(nclients, sizeof(*c));
	atomic_bool stop = false;
	uint64_t calls = 0;
	double t0, t;

	if (!c)
		bk_die("out of memory");
	t0 = bk_now();
	for (unsigned int i = 0; i < nclients; i++) {
		c[i] = (struct client){ .socket = socket, .op = op, .id = i, .n = n, .stop = &stop };
		if (pthread_create(&c[i].thread, NULL, client_main, &c[i]) != 0)
			bk_die("pthread_create failed");
	}
	usleep((useconds_t)(seconds * 1e6));
	atomic_store(&stop, true);
	for (unsigned int i = 0; i < nclients; i++)
		pthread_join(c[i].thread, NULL);
	t = bk_now() - t0;
	for (unsigned int i = 0; i < nclients; i++) {
		if (c[i].error[0])
			bk_die("client %u of %u (%s): %s", i, nclients,
			       op == BK_CLIENT_GET ? "Get" : "Set", c[i].error);
		calls += c[i].calls;
	}
	free(c);
	return (double)calls / t;
}
