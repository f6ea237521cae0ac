/* SPDX-License-Identifier: ISC */
/*
 * The client side's thread: its start, its loop and its stop, and what
 * the main thread tells it (what serves the host). The methods are in
 * methods.c, change notices in notices.c, the socket in socket.c.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "clients_private.h"

/* Generated from io.hvuio.Kvp.varlink at build time. */
extern const char hvkvpd_varlink_description[];

int hvkvpd_pools_parse(const char *list, unsigned int *mask)
{
	char buf[256], *save = NULL, *tok;
	unsigned int m = 0;

	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int p = hv_kvp_pool_from_name(tok);

		if (p < 0)
			return -EINVAL;
		m |= 1u << p;
	}
	if (!m)
		return -EINVAL;
	*mask = m;
	return 0;
}

static void *clients_main(void *arg)
{
	struct hvkvpd_clients *cl = arg;

	int err = cl->thread_init ? cl->thread_init() : 0;

	/* Not one client message is read before the thread is confined. */
	pthread_mutex_lock(&cl->lock);
	cl->init_err = err;
	cl->init_done = true;
	pthread_cond_signal(&cl->init_cond);
	pthread_mutex_unlock(&cl->lock);
	if (err < 0)
		return NULL;

	/*
	 * The store's readers use liburcu's bulletproof flavour, which
	 * registers a reading thread by itself on its first read.
	 */
	for (;;) {
		bool stop;

		pthread_mutex_lock(&cl->lock);
		stop = cl->stop;
		pthread_mutex_unlock(&cl->lock);
		if (stop)
			break;
		if (vl_server_dispatch(cl->srv, -1) < 0)
			break;
	}
	return NULL;
}

void hvkvpd_clients_backend(struct hvkvpd_clients *cl, const char *backend, const char *device)
{
	if (!cl)
		return;
	pthread_mutex_lock(&cl->lock);
	snprintf(cl->backend, sizeof(cl->backend), "%s", backend);
	snprintf(cl->device, sizeof(cl->device), "%s", device ? device : "");
	cl->negotiated = false;
	pthread_mutex_unlock(&cl->lock);
}

/* Everything but the thread; `listen`: open the socket too. */
static int clients_open(const struct hvkvpd_clients_config *cfg, bool listen,
			struct hvkvpd_clients **ret, const char **msg)
{
	static const struct vl_server_info info = {
		.vendor = "hvuio",
		.product = "hvkvpd",
		.version = HVUIO_VERSION,
		.url = "https://github.com/hvuio/hvuio",
	};
	static struct vl_interface iface;
	struct hvkvpd_clients *cl;
	struct rlimit rl;
	int fd, err;

	*msg = "client socket";
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	pthread_mutex_init(&cl->lock, NULL);
	pthread_cond_init(&cl->init_cond, NULL);
	cl->evfd = -1;
	cl->store = cfg->store;
	cl->restrict_read = cfg->restrict_read;
	cl->thread_init = cfg->thread_init;
	snprintf(cl->backend, sizeof(cl->backend), "none");
	clock_gettime(CLOCK_MONOTONIC, &cl->started);
	if (cfg->writer_group) {
		struct group *g = getgrnam(cfg->writer_group);

		if (!g) {
			*msg = "writer group";
			err = -ENOENT;
			goto fail;
		}
		cl->writer_gid = g->gr_gid;
		cl->have_writer_group = true;
	}
	/* Hundreds of clients need more descriptors than the usual soft limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	cl->queue = calloc(QUEUE_LEN, sizeof(*cl->queue));
	if (!cl->queue) {
		err = -ENOMEM;
		goto fail;
	}
	/* The handler's when given: the host name it keeps resolved is the same. */
	cl->info = cfg->info;
	if (!cl->info) {
		err = hv_kvp_info_new(cfg->info_root, &cl->info);
		if (err) {
			*msg = "Auto pool values";
			goto fail;
		}
		cl->info_own = true;
	}
	cl->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (cl->evfd < 0) {
		err = -errno;
		goto fail;
	}
	fd = -1;
	if (listen) {
		bool made;

		fd = clients_socket_open(cfg->socket_path, &made, msg);
		if (fd < 0) {
			err = fd;
			goto fail;
		}
		if (made)
			cl->socket_path = strdup(cfg->socket_path);
	}
	iface = clients_kvp_interface;
	iface.description = hvkvpd_varlink_description;
	err = vl_server_new(fd, &iface, &info, cl, &cl->srv);
	if (err)
		goto fail;
	err = vl_server_watch_fd(cl->srv, cl->evfd, clients_queue_drain, cl);
	if (err)
		goto fail;
	err = hv_kvp_pool_watch_set(cl->store, clients_file_change, cl);
	if (err)
		goto fail;
	*ret = cl;
	return 0;
fail:
	hvkvpd_clients_stop(cl);
	return err;
}

int hvkvpd_clients_new(const struct hvkvpd_clients_config *cfg, struct hvkvpd_clients **ret,
		       const char **msg)
{
	return clients_open(cfg, false, ret, msg);
}

int hvkvpd_clients_adopt(struct hvkvpd_clients *cl, int fd, const struct vl_peer *peer)
{
	return vl_server_adopt(cl->srv, fd, peer);
}

int hvkvpd_clients_dispatch(struct hvkvpd_clients *cl, int timeout_ms)
{
	return vl_server_dispatch(cl->srv, timeout_ms);
}

int hvkvpd_clients_start(const struct hvkvpd_clients_config *cfg,
			 struct hvkvpd_clients **ret, const char **msg)
{
	struct hvkvpd_clients *cl;
	int err;

	err = clients_open(cfg, true, &cl, msg);
	if (err)
		return err;
	err = -pthread_create(&cl->thread, NULL, clients_main, cl);
	if (err) {
		*msg = "client thread";
		goto fail;
	}
	cl->running = true;
	pthread_mutex_lock(&cl->lock);
	while (!cl->init_done)
		pthread_cond_wait(&cl->init_cond, &cl->lock);
	err = cl->init_err;
	pthread_mutex_unlock(&cl->lock);
	if (err < 0) {
		*msg = "client thread sandbox";
		goto fail;
	}
	*ret = cl;
	return 0;
fail:
	hvkvpd_clients_stop(cl);
	return err;
}

void hvkvpd_clients_stop(struct hvkvpd_clients *cl)
{
	if (!cl)
		return;
	if (cl->running) {
		pthread_mutex_lock(&cl->lock);
		cl->stop = true;
		pthread_mutex_unlock(&cl->lock);
		clients_wake(cl);
		pthread_join(cl->thread, NULL);
	}
	if (cl->store)
		hv_kvp_pool_watch_set(cl->store, NULL, NULL);
	/* Connections go first: their calls' cancel functions free what they hold. */
	vl_server_free(cl->srv);
	clients_watches_sweep(cl);
	if (cl->socket_path) {
		unlink(cl->socket_path);
		free(cl->socket_path);
	}
	if (cl->evfd >= 0)
		close(cl->evfd);
	if (cl->info_own)
		hv_kvp_info_free(cl->info);
	free(cl->queue);
	pthread_cond_destroy(&cl->init_cond);
	pthread_mutex_destroy(&cl->lock);
	free(cl);
}
