/* SPDX-License-Identifier: ISC */
/*
 * What varlink.c (the server, connections, framing) and varlink_call.c
 * (a call: dispatch, replies, org.varlink.service) share. Private to
 * hvkvpd's varlink server.
 */
#ifndef HVKVPD_VARLINK_PRIVATE_H
#define HVKVPD_VARLINK_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "varlink.h"

#define VL_SERVICE "org.varlink.service"
#define VL_EXTRA_MAX 4

enum vl_kind { VL_LISTEN, VL_CONN, VL_EXTRA };

struct vl_watch {
	enum vl_kind kind;
	int fd;
	vl_fd_fn *fn;
	void *ctx;
};

struct vl_conn;

struct vl_call {
	struct vl_conn *conn;
	bool active, more, oneway;
	vl_pump_fn *pump;
	vl_cancel_fn *cancel;
	void *state;
};

struct vl_conn {
	struct vl_watch w;          /* first: epoll hands back its address */
	struct vl_server *srv;
	struct vl_peer peer;
	char *in;                   /* grows to VL_MSG_MAX */
	size_t in_len, in_cap;
	char *out;
	size_t out_head, out_len, out_cap;
	uint32_t events;            /* registered with epoll */
	int busy;                   /* inside conn_update: no re-entry */
	bool dead;
	struct vl_call call;
	struct vl_conn *prev, *next;
};

struct vl_server {
	int epfd;
	struct vl_watch listen;
	struct vl_watch extra[VL_EXTRA_MAX];
	unsigned int nextra;
	struct vl_conn *conns;      /* open */
	struct vl_conn *dead;       /* closed, freed after the dispatch round */
	unsigned int nconns;
	int spare;                  /* a descriptor kept for refusing at the fd limit */
	bool paused;                /* listening socket out of epoll: no descriptor left */
	const struct vl_interface *iface;
	struct vl_server_info info;
	void *ctx;
	json_tokener *tok;
};

/* Queue obj (taken over) on c's output; cancel: end the call's hold first. */
int vl_conn_send(struct vl_conn *c, json_object *obj, bool cancel);
/* Flush, feed a stream, serve waiting messages, until nothing moves. */
void vl_conn_update(struct vl_conn *c);
/*
 * Run the call c->call was set up for, org.varlink.service's or the
 * interface's method; len is the method name's length in the message.
 */
void vl_call_dispatch(struct vl_conn *c, const char *method, size_t len, json_object *params);

#endif
