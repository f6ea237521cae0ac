/* SPDX-License-Identifier: ISC */
/*
 * What the files of the client side share (private to hvkvpd):
 *
 * clients.c  the thread, its start and stop, and the main thread's calls;
 * methods.c  io.hvuio.Kvp's methods, their arguments, who may call them;
 * notices.c  change notices: the queue from the main thread and the
 *            store, and Watch;
 * socket.c   the listening socket, made or passed by systemd.
 */
#ifndef HVKVPD_CLIENTS_PRIVATE_H
#define HVKVPD_CLIENTS_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <hvuio/ic.h>
#include <hvuio/kvp_info.h>

#include "clients.h"
#include "varlink.h"

#define KVP_IFACE "io.hvuio.Kvp"
#define KVP_ERR(name) KVP_IFACE "." name

/* Host changes waiting for the client thread; beyond this, Watches are ended. */
#define QUEUE_LEN 256

/* A change for Watch, and who made it. */
enum origin { ORIGIN_HOST, ORIGIN_LOCAL, ORIGIN_FILE };

struct change {
	uint8_t pool;
	uint8_t origin;
	bool deleted;
	char key[HV_KVP_KEY_MAX_SIZE + 1];
	char value[HV_KVP_VALUE_MAX_SIZE + 1];
};

struct watch {
	struct hvkvpd_clients *cl;
	struct vl_call *call;
	int pool;                 /* -1: every pool the peer may read */
	char *key;                /* NULL: every key */
	unsigned int readable;    /* pools the peer may read */
	bool dead;
	struct watch *next;
};

struct hvkvpd_clients {
	struct hv_kvp_store *store;
	struct hv_kvp_info *info;
	bool info_own;            /* made here, not the handler's */
	struct vl_server *srv;
	pthread_t thread;
	bool running;
	int evfd;
	char *socket_path;        /* set when we made the socket: removed at stop */
	gid_t writer_gid;
	bool have_writer_group;
	unsigned int restrict_read;
	int (*thread_init)(void);
	pthread_cond_t init_cond;
	bool init_done;
	int init_err;
	struct timespec started;
	struct watch *watches;
	bool publishing;          /* walking watches: sweep later */

	/* Shared with the main thread. */
	pthread_mutex_t lock;
	struct change *queue;
	unsigned int qhead, qlen;
	bool overflow, stop;
	/*
	 * A Watch is in place: only then are changes queued and the thread
	 * woken for them. A host request costs no wake-up of this thread.
	 */
	bool watching;
	char backend[16];
	char device[256];
	bool negotiated;
	struct hv_ic_version fw, msg;
	uint64_t host_requests;
};

/* methods.c: the interface, and JSON for text other programs may have written. */
extern const struct vl_interface clients_kvp_interface;
json_object *clients_json_text(const char *s, size_t len);
json_object *clients_obj_int(const char *name, int64_t v);

/* notices.c */
/* A change a client made: after the pool files' own, to every Watch that sees it. */
void clients_local_change(struct hvkvpd_clients *cl, int pool, const char *key,
			  const char *value);
/* A new Watch, held by its call until the client goes or the watch ends. */
int clients_watch_add(struct hvkvpd_clients *cl, struct vl_call *call, int pool,
		      const char *key, unsigned int readable);
/* Wake the client thread (its eventfd), from any thread. */
void clients_wake(struct hvkvpd_clients *cl);
/* Free the watches that ended. */
void clients_watches_sweep(struct hvkvpd_clients *cl);
/* The queue's eventfd is readable: publish what waits (ctx: cl). */
void clients_queue_drain(void *ctx);
/* hv_kvp_pool_watch_set's callback (ctx: cl). */
void clients_file_change(void *ctx, unsigned int pool, const char *key, const char *value);

/*
 * socket.c: the socket systemd passed, else one made at path (its
 * directory too). Returns the listening descriptor, with *made set when
 * it was made here (the caller removes it at stop), or a negative errno
 * with *msg saying what failed.
 */
int clients_socket_open(const char *path, bool *made, const char **msg);

#endif
