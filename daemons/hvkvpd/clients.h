/* SPDX-License-Identifier: ISC */
/*
 * The client socket: io.hvuio.Kvp over varlink, served by a thread of its
 * own so that no number of clients delays the host's requests. The main
 * thread tells it what the host did (hvkvpd_clients_host_event) through a
 * bounded queue; the store is read lock-free and written under the
 * store's own lock, as the host side does.
 */
#ifndef HVKVPD_CLIENTS_H
#define HVKVPD_CLIENTS_H

#include <stdbool.h>

#include <hvuio/kvp_pool.h>
#include <hvuio/kvp_service.h>

struct hvkvpd_clients;
struct vl_peer;

struct hvkvpd_clients_config {
	const char *socket_path;     /* used unless systemd passed a socket */
	const char *writer_group;    /* NULL: only root writes */
	unsigned int restrict_read;  /* bit N: pool N is read by writers only */
	struct hv_kvp_store *store;
	const char *info_root;       /* for the Auto values, as the handler's */
	struct hv_kvp_info *info;    /* or the handler's own (shared, outlives us) */
	/* Run first in the client thread; a failure stops the thread. May be NULL. */
	int (*thread_init)(void);
};

/*
 * Parse "POOL[,POOL...]" (numbers or names, any case) into a bit mask.
 * Returns 0 or -EINVAL.
 */
int hvkvpd_pools_parse(const char *list, unsigned int *mask);

/*
 * Open the socket (or take the one systemd passed) and start the thread.
 * Call with the termination signals already blocked: the thread inherits
 * the mask. Returns 0, -ENOENT (no such group), or an errno of the
 * socket, the store or the thread; *msg says what failed.
 */
int hvkvpd_clients_start(const struct hvkvpd_clients_config *cfg,
			 struct hvkvpd_clients **ret, const char **msg);

/*
 * The same without the socket or the thread, for driving the methods one
 * step at a time from the caller's thread: connections are handed over
 * by hvkvpd_clients_adopt (as vl_server_adopt) and served by
 * hvkvpd_clients_dispatch (as vl_server_dispatch). Freed by
 * hvkvpd_clients_stop. Returns 0 or a negative errno; *msg as above.
 */
int hvkvpd_clients_new(const struct hvkvpd_clients_config *cfg, struct hvkvpd_clients **ret,
		       const char **msg);
int hvkvpd_clients_adopt(struct hvkvpd_clients *cl, int fd, const struct vl_peer *peer);
int hvkvpd_clients_dispatch(struct hvkvpd_clients *cl, int timeout_ms);

/* Stop the thread, close every connection, remove the socket we made. */
void hvkvpd_clients_stop(struct hvkvpd_clients *cl);

/* What serves the host now, for Status (device may be NULL). */
void hvkvpd_clients_backend(struct hvkvpd_clients *cl, const char *backend,
			    const char *device);

/*
 * From the transport's observer, in the main thread: counts the request,
 * records a negotiation, and hands a successful SET or DELETE to Watch.
 * Never blocks beyond a short mutex; NULL cl is a no-op.
 */
void hvkvpd_clients_host_event(struct hvkvpd_clients *cl, const struct hv_kvp_event *ev);

#endif
